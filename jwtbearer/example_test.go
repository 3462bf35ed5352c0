package jwtbearer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/jwtbearer"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// A Source logs in with the JWT bearer grant, signing a new assertion for
// each login; here against the Auth0 fake, which knows the public key.
func Example() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // or a key from a KMS
	if err != nil {
		log.Fatal(err)
	}
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, ClientKey: key.Public()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	client, err := tokenkeeper.New(tokenkeeper.Config{
		TokenURL:   srv.TokenURL(),
		ClientID:   oauthtest.DefaultClientID,
		AuthStyle:  tokenkeeper.AuthNone, // the assertion authenticates the client
		HTTPClient: srv.Client(),
	})
	if err != nil {
		log.Fatal(err)
	}
	signer, err := jwtbearer.New(key, jwtbearer.Config{
		Issuer:   oauthtest.DefaultClientID,
		Subject:  oauthtest.DefaultUser,
		Audience: srv.TokenURL(),
		KeyID:    "key-1",
	})
	if err != nil {
		log.Fatal(err) // a missing claim or a key that does not fit Alg
	}
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		LoginFunc: signer.LoginFunc(client, tokenkeeper.Param("scope", "read")),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	tok, err := src.TokenContext(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("scope:", tok.Scope)
	fmt.Println("type:", tok.TokenType)
	// Output:
	// scope: read
	// type: Bearer
}
