// Command transiteo gets Transiteo credentials from the refresh token of
// the Transiteo console, as a public client (client_id, no secret), and
// calls the API with them: Transiteo's answers carry no new refresh token,
// so the console's one is kept, and its API takes the raw id_token
// ("Authorization: <id_token>", no "Bearer"), as the Transiteo preset says.
//
// Against Transiteo, with the credentials in the environment (never in
// code):
//
//	export TRANSITEO_CLIENT_ID=...
//	export TRANSITEO_REFRESH_TOKEN=...                  # from the Transiteo console
//	export TRANSITEO_API_URL=https://api.transiteo.io/...  # optional: an endpoint to GET
//	go run ./examples/transiteo
//
// TRANSITEO_CLIENT_ID and TRANSITEO_REFRESH_TOKEN go together.
// TRANSITEO_API_URL is optional: without it the program stops after getting
// the token.
//
// With neither set, the program says so and runs offline against a fake
// Transiteo in the same process (package oauthtest), which also shows a
// recovery from an expired id_token and a refused refresh token:
//
//	go run ./examples/transiteo
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// main calls run with a context that Ctrl-C cancels, standard output and
// the environment.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "transiteo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	clientID, refreshToken, apiURL := getenv("TRANSITEO_CLIENT_ID"), getenv("TRANSITEO_REFRESH_TOKEN"), getenv("TRANSITEO_API_URL")
	if (clientID == "") != (refreshToken == "") {
		return errors.New("set both TRANSITEO_CLIENT_ID and TRANSITEO_REFRESH_TOKEN, or neither to run offline")
	}
	offline := clientID == ""
	cfg := tokenkeeper.Transiteo(clientID)
	var provider *oauthtest.Server
	if offline {
		var err error
		// ExpiresInAsString: expires_in comes as the string "3600", as
		// Transiteo's documentation shows it once.
		provider, err = oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Transiteo, ExpiresInAsString: true})
		if err != nil {
			return err
		}
		defer provider.Close()
		fmt.Fprintf(w, "TRANSITEO_CLIENT_ID and TRANSITEO_REFRESH_TOKEN are not set:\n"+
			"running offline against a fake Transiteo at %s.\n\n", provider.URL())
		clientID, refreshToken, apiURL = oauthtest.DefaultClientID, provider.RefreshToken(), provider.APIURL()
		cfg = tokenkeeper.Transiteo(clientID)
		cfg.BaseURL = provider.URL()
	}

	// A public client: the preset sends client_id and no secret.
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		return err
	}
	// The console's refresh token is all there is: the first use of the
	// source trades it for an id_token and an access token.
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		Token: &tokenkeeper.Token{RefreshToken: refreshToken},
	})
	if err != nil {
		return err
	}
	defer src.Close()

	fmt.Fprintln(w, "1. Trade the console's refresh token for an id_token.")
	tok, err := src.TokenContext(ctx)
	if err != nil {
		explain(w, err)
		return fmt.Errorf("getting a token: %w", err)
	}
	fmt.Fprintf(w, "   %v\n", tok) // a Token prints no secret
	fmt.Fprintf(w, "   no refresh token in the answer; the console's one is kept: %t\n", tok.RefreshToken == refreshToken)

	fmt.Fprintln(w, "2. Call the API with the HTTP client of the source.")
	if apiURL == "" {
		fmt.Fprintln(w, "   TRANSITEO_API_URL is not set: no API call.")
		return nil
	}
	seen := &authorizationRecorder{base: http.DefaultTransport}
	api := src.HTTPClient(seen)
	// A refusal by the API comes back as the *tokenkeeper.Error that
	// tokenkeeper.DecodeError makes of it: Transiteo's API errors are
	// {"message": ...}, and Message holds it.
	if err := get(ctx, w, api, "TRANSITEO_API_URL", apiURL); err != nil {
		explain(w, err)
		return err
	}
	if tok, err = src.TokenContext(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "   the Authorization header was the raw id_token, with no \"Bearer\": %t\n", seen.last() == tok.IDToken)

	if !offline {
		return nil
	}

	fmt.Fprintln(w, "3. The provider drops the id_token before it expires; the API answers 401.")
	provider.Revoke(tok.IDToken)
	if err := get(ctx, w, api, "TRANSITEO_API_URL", apiURL); err != nil {
		return err
	}
	st := provider.Stats()
	fmt.Fprintf(w, "   the transport refreshed with the same refresh token and replayed the request\n"+
		"   (API answers 401: %d, refresh_token grants: %d)\n", st.API401s, st.TokenCalls["refresh_token"])

	fmt.Fprintln(w, "4. A refresh token the console no longer accepts.")
	stale, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		Token: &tokenkeeper.Token{RefreshToken: "rt_revoked-in-the-console"},
	})
	if err != nil {
		return err
	}
	defer stale.Close()
	err = get(ctx, w, stale.HTTPClient(nil), "TRANSITEO_API_URL", apiURL)
	if err == nil {
		return errors.New("a refused refresh token went unnoticed")
	}
	explain(w, err)
	return nil
}

// explain prints what err means for the user of the program, without any
// secret.
func explain(w io.Writer, err error) {
	var pe *tokenkeeper.Error
	switch {
	case errors.Is(err, tokenkeeper.ErrLoginRequired) && errors.Is(err, tokenkeeper.ErrInvalidGrant):
		// Transiteo answers 400 {"error":"invalid_grant"}, and there is
		// no other way to a token than the console's refresh token.
		fmt.Fprintln(w, "   the refresh token was refused (invalid_grant): get a new one from the Transiteo console")
	case errors.As(err, &pe):
		fmt.Fprintf(w, "   refused: HTTP %d, code %q, message %q\n", pe.StatusCode, pe.Code, pe.Message)
	case tokenkeeper.IsRetryable(err):
		fmt.Fprintln(w, "   a network problem or an outage: try again later")
	}
	fmt.Fprintf(w, "   error: %v\n", err)
}

// authorizationRecorder is an http.RoundTripper that remembers the
// Authorization header of the last request it sends, so that the program
// can check its shape without printing it.
type authorizationRecorder struct {
	base http.RoundTripper

	mu   sync.Mutex
	auth string
}

func (r *authorizationRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.auth = req.Header.Get("Authorization")
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func (r *authorizationRecorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.auth
}

// get fetches rawURL and prints "   GET /path -> 200 OK (123 bytes)": the
// path only, as a query could hold something private. setting names the
// environment variable rawURL comes from, for the error when it does not
// parse.
func get(ctx context.Context, w io.Writer, api *http.Client, setting, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%s: %w", setting, err)
	}
	status, n, err := fetch(ctx, api, u.String())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   GET %s -> %s (%d bytes)\n", u.Path, status, n)
	return nil
}

// fetch sends GET rawURL with api, the HTTP client of a Source, and reads
// at most 1 MiB of the answer. It returns the status and the number of
// bytes read. An answer outside 2xx comes back as the *tokenkeeper.Error
// that tokenkeeper.DecodeError makes of it: the decoder of the token
// endpoint's errors, so a provider's error body gives its code and message.
func fetch(ctx context.Context, api *http.Client, rawURL string) (status string, n int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := api.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", 0, tokenkeeper.DecodeError(resp)
	}
	n, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, err
	}
	return resp.Status, n, nil
}
