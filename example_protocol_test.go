package tokenkeeper_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
	"golang.org/x/oauth2"
)

// A command-line tool logs in with the device flow: it prints the code,
// the user approves it (here the fake approves it at once), and the tool
// gets its tokens.
func ExampleClient_DeviceLogin() {
	srv, _ := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, PublicClient: true})
	defer srv.Close()
	cfg := tokenkeeper.Auth0("tenant.example.com", oauthtest.DefaultClientID, "")
	cfg.BaseURL = srv.URL()
	cfg.AuthStyle, cfg.HTTPClient = tokenkeeper.AuthNone, srv.Client()
	c, _ := tokenkeeper.New(cfg)

	tok, err := c.DeviceLogin(context.Background(), func(da oauth2.DeviceAuthResponse) {
		fmt.Printf("enter the code at %s (every %ds)\n", da.VerificationURI[len(srv.URL()):], da.Interval)
		srv.ApproveDevice(da.UserCode) // the user, elsewhere
	}, tokenkeeper.Param("scope", "openid offline_access"))
	var e *tokenkeeper.Error
	switch {
	case errors.As(err, &e) && e.Code == "access_denied":
		fmt.Println("the user said no")
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println("refresh token:", tok.RefreshToken != "")
	}
	// Output:
	// enter the code at /activate (every 5s)
	// refresh token: true
}

// Logout revokes the session's tokens at the provider and clears the
// Store; the Source is closed afterwards.
func ExampleSource_Logout() {
	srv, _ := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0})
	defer srv.Close()
	cfg := tokenkeeper.Auth0("tenant.example.com", oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = srv.URL()
	cfg.HTTPClient = srv.Client()
	c, _ := tokenkeeper.New(cfg)
	tr := srv.Issue("", "offline_access")
	s, _ := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{
		Token: &tokenkeeper.Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken},
	})
	ctx := context.Background()
	fmt.Println("logout:", s.Logout(ctx))
	_, err := c.Token(ctx, tokenkeeper.RefreshTokenGrant(tr.RefreshToken))
	fmt.Println("refresh token refused:", errors.Is(err, tokenkeeper.ErrInvalidGrant))
	_, err = s.TokenContext(ctx)
	fmt.Println("source closed:", errors.Is(err, tokenkeeper.ErrClosed))
	// Output:
	// logout: <nil>
	// refresh token refused: true
	// source closed: true
}
