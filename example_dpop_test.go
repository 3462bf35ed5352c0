package tokenkeeper_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// DPoP-bound tokens: the token endpoint demands a nonce (the client retries
// once with it), binds the token to the client's key, and the Transport
// signs a proof for each API request. A token presented without the key is
// refused with a typed error.
func ExampleConfig_dpop() {
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, DPoP: true, DPoPNonce: true})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cfg := tokenkeeper.Config{
		TokenURL:     srv.TokenURL(),
		ClientID:     oauthtest.DefaultClientID,
		ClientSecret: oauthtest.DefaultClientSecret,
		DPoPKey:      key,
		HTTPClient:   srv.Client(),
	}
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	login := tokenkeeper.ClientCredentialsGrant(tokenkeeper.Param("audience", oauthtest.DefaultAudience))
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{Login: login})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	resp, err := src.HTTPClient(srv.Client().Transport).Get(srv.APIURL())
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tok, _ := src.Token()
	fmt.Println("token type:", tok.TokenType, "API status:", resp.StatusCode)

	cfg.DPoPKey = nil // no proof: the provider refuses
	plain, _ := tokenkeeper.New(cfg)
	_, err = plain.Token(context.Background(), login)
	var e *tokenkeeper.Error
	if errors.As(err, &e) {
		fmt.Println("without a proof:", e.Code)
	}
	// Output:
	// token type: DPoP API status: 200
	// without a proof: invalid_dpop_proof
}
