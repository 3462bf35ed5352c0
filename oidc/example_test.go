package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
	"github.com/tokenkeeper/tokenkeeper/oidc"
)

// A Verifier checks the id_tokens of one provider for one client; a
// refused token is an *oidc.Error whose Reason says why.
func Example() {
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	v, err := oidc.NewVerifier(oidc.Config{
		Issuer:     srv.Issuer(),
		ClientID:   oauthtest.DefaultClientID,
		JWKSURL:    srv.JWKSURL(),
		Algorithms: []string{"ES256"},
		HTTPClient: srv.Client(),
	})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	claims := map[string]any{
		"iss": srv.Issuer(), "sub": "alice", "aud": oauthtest.DefaultClientID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": "n-1",
	}
	id, err := v.Verify(context.Background(), srv.SignIDToken(claims), "n-1")
	if err != nil {
		panic(err)
	}
	fmt.Println("signed in:", id.Subject)

	claims["exp"] = now.Add(-time.Hour).Unix()
	_, err = v.Verify(context.Background(), srv.SignIDToken(claims), "n-1")
	var refused *oidc.Error
	if errors.As(err, &refused) {
		fmt.Println("refused:", refused.Reason, errors.Is(err, oidc.ErrExpired))
	}
	// Output:
	// signed in: alice
	// refused: expired true
}
