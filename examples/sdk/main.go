// Command sdk shows how an SDK builds on tokenkeeper: package daxium (in
// this directory) is a small Daxium Air SDK whose Client takes a
// *tokenkeeper.Source, sends its requests through the Source's HTTP
// client, and decodes API errors with tokenkeeper.DecodeError. The
// application builds the Source (grant, Store, hooks) and hands it over;
// the SDK only speaks the API.
//
// It runs offline, against a fake Daxium Air in the same process (package
// oauthtest), and reads no environment variable:
//
//	go run ./examples/sdk
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/examples/sdk/daxium"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sdk:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	provider, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium})
	if err != nil {
		return err
	}
	defer provider.Close()
	fmt.Fprintf(w, "A fake Daxium Air listens on %s.\n\n", provider.URL())

	// The application's side: the token endpoint, the client, the login.
	cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = provider.URL()
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		return err
	}
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		Login: tokenkeeper.PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword),
	})
	if err != nil {
		return err
	}
	defer src.Close()

	// The SDK's side: it gets the Source, and nothing about tokens.
	sdk, err := daxium.New(src, daxium.Options{BaseURL: provider.URL()})
	if err != nil {
		return err
	}

	if err := showRecovery(ctx, w, provider, src, sdk); err != nil {
		return err
	}
	return showUnrecoverable(ctx, w, provider, client)
}

// showRecovery makes a typed call, then one after the provider revoked
// the access token (steps 1 and 2).
func showRecovery(ctx context.Context, w io.Writer, provider *oauthtest.Server, src *tokenkeeper.Source, sdk *daxium.Client) error {
	fmt.Fprintln(w, "1. The SDK's typed call; the source logs in on first use.")
	me, err := sdk.Me(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   Me() = %s\n", me.Name)

	fmt.Fprintln(w, "2. The provider revokes the access token: the SDK's call still succeeds.")
	tok, err := src.TokenContext(ctx)
	if err != nil {
		return err
	}
	provider.Revoke(tok.AccessToken)
	if me, err = sdk.Me(ctx); err != nil {
		return err
	}
	st := provider.Stats()
	fmt.Fprintf(w, "   Me() = %s; API answers 401: %d, refresh_token grants: %d: the transport refreshed and replayed\n",
		me.Name, st.API401s, st.TokenCalls["refresh_token"])
	return nil
}

// showUnrecoverable shows what the SDK returns when a grant is revoked and
// the source cannot log in again (steps 3 and 4).
func showUnrecoverable(ctx context.Context, w io.Writer, provider *oauthtest.Server, client *tokenkeeper.Client) error {

	// A credential saved by an earlier run, say, and no password to log in
	// again with. OnEvent tells the application what the transport did.
	saved := provider.Issue("", "")
	unrecovered := make(chan error, 1)
	stuck, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		Token: &tokenkeeper.Token{AccessToken: saved.AccessToken, RefreshToken: saved.RefreshToken},
		OnEvent: func(ev tokenkeeper.Event) {
			if ev.Kind == tokenkeeper.EventUnauthorized && !ev.Recovered && ev.Err != nil {
				select {
				case unrecovered <- ev.Err:
				default:
				}
			}
		},
	})
	if err != nil {
		return err
	}
	defer stuck.Close()
	stuckSDK, err := daxium.New(stuck, daxium.Options{BaseURL: provider.URL()})
	if err != nil {
		return err
	}

	fmt.Fprintln(w, "3. The provider revokes a whole grant whose source cannot log in again.")
	provider.Revoke(saved.AccessToken)
	provider.RevokeRefreshToken(saved.RefreshToken)
	_, err = stuckSDK.Me(ctx)
	var apiErr *tokenkeeper.Error
	if !errors.As(err, &apiErr) {
		return fmt.Errorf("want a *tokenkeeper.Error from the SDK, got %v", err)
	}
	fmt.Fprintf(w, "   the API's error, decoded by the SDK: status %d, code %s, message %q\n", apiErr.StatusCode, apiErr.Code, apiErr.Message)
	fmt.Fprintf(w, "   api_version %s, documentation %s\n", apiErr.APIVersion, apiErr.URL)
	fmt.Fprintf(w, "   errors.Is(err, tokenkeeper.ErrUnauthorized) = %t\n", errors.Is(err, tokenkeeper.ErrUnauthorized))
	select {
	case why := <-unrecovered:
		fmt.Fprintf(w, "   OnEvent says why the 401 was not recovered: ErrLoginRequired = %t\n", errors.Is(why, tokenkeeper.ErrLoginRequired))
	default:
		fmt.Fprintln(w, "   OnEvent reported no failed recovery")
	}

	fmt.Fprintln(w, "4. A source holding only that refused refresh token: the call fails before reaching the API.")
	fresh, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		Token: &tokenkeeper.Token{RefreshToken: saved.RefreshToken}, // no valid access token
	})
	if err != nil {
		return err
	}
	defer fresh.Close()
	freshSDK, err := daxium.New(fresh, daxium.Options{BaseURL: provider.URL()})
	if err != nil {
		return err
	}
	_, err = freshSDK.Me(ctx)
	fmt.Fprintf(w, "   errors.Is(err, tokenkeeper.ErrLoginRequired) = %t, through the SDK's wrapping\n", errors.Is(err, tokenkeeper.ErrLoginRequired))
	fmt.Fprintf(w, "   error: %v\n", err)
	return nil
}
