// Command quickstart shows tokenkeeper at work, offline: a fake Daxium Air
// provider runs in this process, and a managed token source logs in, serves
// API calls, refreshes before expiry with rotation, recovers from a revoked
// token and decodes Daxium's error bodies, step by step.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The provider's clock and ours are the same fake clock, so the story
	// can jump an hour ahead without waiting.
	clock := oauthtest.NewClock(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	provider, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	if err != nil {
		return err
	}
	defer provider.Close()
	fmt.Fprintf(w, "A fake Daxium Air provider listens on %s (tokens live 1h, every refresh rotates).\n\n", provider.URL())

	cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = provider.URL()
	cfg.Clock = clock
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		return err
	}

	var latest atomic.Pointer[tokenkeeper.Token]
	saved := make(chan *tokenkeeper.Token, 8)
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		Login: tokenkeeper.PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword),
		// OnToken sees every new token before any request can use it:
		// the place to persist a rotated refresh token.
		OnToken: func(_ context.Context, t *tokenkeeper.Token) { latest.Store(t) },
		// EventRefreshSucceeded comes once that token is in use: the
		// story below waits for it before going on.
		OnEvent: func(ev tokenkeeper.Event) {
			if ev.Kind == tokenkeeper.EventRefreshSucceeded {
				saved <- latest.Load()
			}
		},
	})
	if err != nil {
		return err
	}
	defer src.Close()
	api := src.HTTPClient(nil)

	step := func(n int, title string) { fmt.Fprintf(w, "%d. %s\n", n, title) }
	calls := func() {
		st := provider.Stats()
		fmt.Fprintf(w, "   token endpoint calls so far: password=%d refresh_token=%d\n\n",
			st.TokenCalls["password"], st.TokenCalls["refresh_token"])
	}
	get := func() error {
		// A refusal comes back as the *tokenkeeper.Error that
		// tokenkeeper.DecodeError makes of the API's answer.
		status, _, err := fetch(ctx, api, provider.APIURL())
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   GET %s -> %s\n", "/api/v1.3/me", status)
		return nil
	}

	step(1, "First API call: the source logs in with the password grant on first use.")
	if err := get(); err != nil {
		return err
	}
	first := <-saved
	fmt.Fprintf(w, "   token: %v\n", first) // secrets are never printed
	calls()

	step(2, "56 minutes later the token is in its early-refresh window (last 5 minutes).")
	clock.Advance(56 * time.Minute)
	if err := get(); err != nil {
		return err
	}
	fmt.Fprintln(w, "   the request was served at once with the current token; one refresh ran in the background")
	select {
	case next := <-saved:
		fmt.Fprintf(w, "   new token saved before use; refresh token rotated: %t\n", next.RefreshToken != first.RefreshToken)
	case <-ctx.Done():
		return errors.New("no background refresh")
	}
	calls()

	step(3, "The provider revokes the access token; the API answers 401.")
	current, err := src.TokenContext(ctx)
	if err != nil {
		return err
	}
	provider.Revoke(current.AccessToken)
	if err := get(); err != nil {
		return err
	}
	<-saved
	fmt.Fprintln(w, "   the transport refreshed once and replayed the request")
	calls()

	step(4, "Daxium's error bodies decode into *tokenkeeper.Error, for API calls too.")
	resp, err := provider.Client().Get(provider.APIURL()) // no token at all
	if err != nil {
		return err
	}
	apiErr := tokenkeeper.DecodeError(resp)
	fmt.Fprintf(w, "   GET without a token -> status %d, code %s, message %q\n", apiErr.StatusCode, apiErr.Code, apiErr.Message)
	fmt.Fprintf(w, "   errors.Is(err, tokenkeeper.ErrUnauthorized) = %t\n\n", errors.Is(apiErr, tokenkeeper.ErrUnauthorized))

	step(5, "A login with a wrong password fails with a typed error.")
	_, err = client.Token(ctx, tokenkeeper.PasswordGrant(oauthtest.DefaultUser, "wrong"))
	var pe *tokenkeeper.Error
	if !errors.As(err, &pe) {
		return fmt.Errorf("want a *tokenkeeper.Error, got %v", err)
	}
	fmt.Fprintf(w, "   errors.As -> status %d, code %s, retry could help: %t\n", pe.StatusCode, pe.Code, tokenkeeper.IsRetryable(pe))
	fmt.Fprintf(w, "   the error prints no secret: %v\n", err)
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
