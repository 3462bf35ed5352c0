// Command daxium logs in to Daxium Air with the password grant, keeps the
// token in a file between runs, calls an API endpoint with a client that
// carries the token, and shows how to tell tokenkeeper's errors apart with
// errors.Is and errors.As: too many logins (DAERR-LOG013), a new login
// needed, a refusal with its DAERR code.
//
// Against Daxium Air, with the credentials in the environment (never in
// code):
//
//	export DAXIUM_CLIENT_ID=... DAXIUM_CLIENT_SECRET=...
//	export DAXIUM_USERNAME=... DAXIUM_PASSWORD=...
//	export DAXIUM_API_URL=https://api.daxium-air.com/...   # optional: an endpoint to GET
//	export DAXIUM_TOKEN_FILE=$HOME/.daxium-token.json      # optional
//	go run ./examples/daxium
//
// The four credential variables go together. DAXIUM_API_URL is optional:
// without it the program stops after getting the token. DAXIUM_TOKEN_FILE
// is where the token is kept (written with 0600 permissions); without it,
// a temporary file removed on exit, so every run logs in. With it, the next
// run reuses the saved token, refreshing it if needed, and sends no
// password.
//
// With none of the credential variables set, the program says so and runs
// offline against a fake Daxium Air in the same process (package
// oauthtest), ignoring DAXIUM_API_URL, and then walks through the errors:
//
//	go run ./examples/daxium
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
	"path/filepath"
	"strings"
	"sync/atomic"
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
		fmt.Fprintln(os.Stderr, "daxium:", err)
		os.Exit(1)
	}
}

// settings is what the program reads from the environment.
type settings struct {
	clientID, clientSecret string
	username, password     string
	apiURL                 string
	tokenFile              string
}

// credentialVars are the variables that select the real provider; they go
// together.
var credentialVars = []string{"DAXIUM_CLIENT_ID", "DAXIUM_CLIENT_SECRET", "DAXIUM_USERNAME", "DAXIUM_PASSWORD"}

// readSettings reads the environment. offline is true when none of the
// credential variables is set.
func readSettings(getenv func(string) string) (s settings, offline bool, err error) {
	var set, unset []string
	for _, name := range credentialVars {
		if getenv(name) == "" {
			unset = append(unset, name)
		} else {
			set = append(set, name)
		}
	}
	if len(set) == 0 {
		return settings{tokenFile: getenv("DAXIUM_TOKEN_FILE")}, true, nil
	}
	if len(unset) > 0 {
		return s, false, fmt.Errorf("%s set but not %s: set all four, or none to run offline",
			strings.Join(set, ", "), strings.Join(unset, ", "))
	}
	return settings{
		clientID:     getenv("DAXIUM_CLIENT_ID"),
		clientSecret: getenv("DAXIUM_CLIENT_SECRET"),
		username:     getenv("DAXIUM_USERNAME"),
		password:     getenv("DAXIUM_PASSWORD"),
		apiURL:       getenv("DAXIUM_API_URL"),
		tokenFile:    getenv("DAXIUM_TOKEN_FILE"),
	}, false, nil
}

func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	s, offline, err := readSettings(getenv)
	if err != nil {
		return err
	}
	cfg := tokenkeeper.DaxiumAir(s.clientID, s.clientSecret)
	var provider *oauthtest.Server
	if offline {
		provider, err = oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium})
		if err != nil {
			return err
		}
		defer provider.Close()
		fmt.Fprintf(w, "DAXIUM_CLIENT_ID and the other credential variables are not set:\n"+
			"running offline against a fake Daxium Air at %s.\n\n", provider.URL())
		s.clientID, s.clientSecret = oauthtest.DefaultClientID, oauthtest.DefaultClientSecret
		cfg = tokenkeeper.DaxiumAir(s.clientID, s.clientSecret)
		cfg.BaseURL = provider.URL()
		s.username, s.password = oauthtest.DefaultUser, oauthtest.DefaultPassword
		s.apiURL = provider.APIURL()
	}

	// The preset knows the token endpoint, that the client credentials go
	// in the form body, and that API calls carry X-Accept-Version: v1.3.
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		return err
	}

	store, tokenFile, cleanup, err := openStore(w, s.tokenFile)
	if err != nil {
		return err
	}
	defer cleanup()

	login := tokenkeeper.PasswordGrant(s.username, s.password)
	var logins atomic.Int32
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		// The Store is read first: a token saved by an earlier run is used,
		// or refreshed, without sending the password again. Every new
		// token, with Daxium's rotated refresh token, is saved before use.
		Store: store,
		// The login, for the first token and when the refresh token is
		// rejected: once, never in a loop, as Daxium locks accounts out.
		Login: login,
		OnEvent: func(ev tokenkeeper.Event) {
			if ev.Kind == tokenkeeper.EventRefreshStarted && ev.Login != "" {
				logins.Add(1)
			}
		},
	})
	if err != nil {
		return err
	}
	defer src.Close()

	fmt.Fprintln(w, "1. Get a token.")
	tok, err := src.TokenContext(ctx)
	if err != nil {
		explain(w, err)
		return fmt.Errorf("getting a token: %w", err)
	}
	if logins.Load() > 0 {
		fmt.Fprintln(w, "   logged in with the password grant")
	} else {
		fmt.Fprintln(w, "   used the token saved in the token file: no password sent")
	}
	fmt.Fprintf(w, "   %v\n", tok) // a Token prints no secret
	if fi, err := os.Stat(tokenFile); err == nil {
		fmt.Fprintf(w, "   token file permissions: %v\n", fi.Mode().Perm())
	}

	fmt.Fprintln(w, "2. Call the API with the HTTP client of the source.")
	if s.apiURL == "" {
		fmt.Fprintln(w, "   DAXIUM_API_URL is not set: no API call.")
	} else if err := get(ctx, w, src.HTTPClient(nil), "DAXIUM_API_URL", s.apiURL); err != nil {
		// A refusal by the API came back through tokenkeeper.DecodeError,
		// the same decoder as for token errors: a DAERR body becomes a
		// *tokenkeeper.Error with its code, message and documentation URL.
		explain(w, err)
		return err
	}

	if offline {
		return showErrors(ctx, w, provider, client, login, s.username, tok)
	}
	return nil
}

// explain prints what err means for the user of the program. It never
// prints a secret: neither tokenkeeper's errors nor its tokens hold one in
// their text.
func explain(w io.Writer, err error) {
	var pe *tokenkeeper.Error
	isProvider := errors.As(err, &pe) // through *url.Error and %w wrapping
	code := "no code"
	if isProvider && pe.Code != "" {
		code = pe.Code
	}
	switch {
	case errors.Is(err, tokenkeeper.ErrRateLimited):
		// 429, or DAERR-LOG013: too many login attempts.
		wait := "later"
		if isProvider && pe.RetryAfter > 0 {
			wait = "in " + pe.RetryAfter.String()
		}
		fmt.Fprintf(w, "   rate limited (%s): try again %s, never in a loop\n", code, wait)
	case errors.Is(err, tokenkeeper.ErrLoginRequired):
		// The refresh token is dead and no login may be made now.
		fmt.Fprintf(w, "   a new login is needed: the refresh token was refused (%s)\n", code)
	case isProvider:
		fmt.Fprintf(w, "   the provider refused: HTTP %d, %s: %s\n", pe.StatusCode, code, pe.Message)
		if pe.URL != "" {
			fmt.Fprintf(w, "   documentation: %s\n", pe.URL)
		}
		if errors.Is(err, tokenkeeper.ErrUnauthorized) {
			fmt.Fprintln(w, "   check the client ID and secret, the username and the password")
		}
	case tokenkeeper.IsRetryable(err):
		fmt.Fprintln(w, "   a network problem or an outage: try again later")
	}
	fmt.Fprintf(w, "   error: %v\n", err)
}

// openStore opens the file store at path, or at a temporary path removed
// by cleanup when path is empty, and returns the path used.
func openStore(w io.Writer, path string) (store *tokenkeeper.FileStore, used string, cleanup func(), err error) {
	cleanup = func() {}
	if path == "" {
		dir, err := os.MkdirTemp("", "daxium-example-")
		if err != nil {
			return nil, "", nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		path = filepath.Join(dir, "token.json")
		fmt.Fprintln(w, "Token file: a temporary one, removed on exit (set DAXIUM_TOKEN_FILE to keep the token between runs).")
	} else {
		fmt.Fprintf(w, "Token file: %s\n", path)
	}
	store, err = tokenkeeper.NewFileStore(path)
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	return store, path, cleanup, nil
}

// showErrors makes the fake provider fail in the ways Daxium Air does,
// and explains each error.
func showErrors(ctx context.Context, w io.Writer, provider *oauthtest.Server, client *tokenkeeper.Client, login tokenkeeper.Grant, username string, tok *tokenkeeper.Token) error {
	try := func(cfg tokenkeeper.SourceConfig) error {
		src, err := tokenkeeper.NewSource(client, cfg)
		if err != nil {
			return err
		}
		defer src.Close()
		_, _, err = fetch(ctx, src.HTTPClient(nil), provider.APIURL())
		if err == nil {
			return errors.New("the call succeeded; want an error")
		}
		explain(w, err)
		return nil
	}

	fmt.Fprintln(w, "3. Too many logins: the provider answers the next one with 429 DAERR-LOG013.")
	provider.RateLimitNext(1, 30*time.Second)
	if err := try(tokenkeeper.SourceConfig{Login: login}); err != nil {
		return err
	}

	fmt.Fprintln(w, "4. The provider revoked the refresh token, and this source has no password.")
	provider.RevokeRefreshToken(tok.RefreshToken)
	if err := try(tokenkeeper.SourceConfig{Token: &tokenkeeper.Token{RefreshToken: tok.RefreshToken}}); err != nil {
		return err
	}

	fmt.Fprintln(w, "5. A wrong password.")
	return try(tokenkeeper.SourceConfig{Login: tokenkeeper.PasswordGrant(username, "not the password")})
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
