package tokenkeeper_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"log"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// A client authenticated by private_key_jwt: every token request carries
// a new assertion signed with the client's key, and the provider refuses
// a key it does not know.
func ExampleAuthJWT() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, ClientKey: key.Public()})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	newClient := func(k *ecdsa.PrivateKey) *tokenkeeper.Client {
		client, err := tokenkeeper.New(tokenkeeper.Config{
			TokenURL:   srv.TokenURL(),
			ClientID:   oauthtest.DefaultClientID,
			AuthStyle:  tokenkeeper.AuthJWT,
			ClientKey:  k,
			HTTPClient: srv.Client(),
		})
		if err != nil {
			log.Fatal(err)
		}
		return client
	}
	login := tokenkeeper.ClientCredentialsGrant(tokenkeeper.Param("audience", oauthtest.DefaultAudience))
	ctx := context.Background()
	for range 2 {
		if _, err := newClient(key).Token(ctx, login); err != nil {
			log.Fatal(err)
		}
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err = newClient(other).Token(ctx, login)
	fmt.Println("logins:", srv.Stats().Logins)
	fmt.Println("unknown key refused:", errors.Is(err, tokenkeeper.ErrInvalidClient))
	// Output:
	// logins: 2
	// unknown key refused: true
}
