package jwtbearer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/jwtbearer"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Helpers shared by the package's tests.

// t0 is the start of every fake clock.
var t0 = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)

// waitFor bounds every wait of a test: a test that needs longer is stuck.
const waitFor = 15 * time.Second

// Test keys, generated once: an RSA key is slow to make.
var (
	rsaKey = sync.OnceValue(func() crypto.Signer { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	ecKey  = sync.OnceValue(func() crypto.Signer { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	edKey  = sync.OnceValue(func() crypto.Signer {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return must(k, err)
	})
	otherECKey = sync.OnceValue(func() crypto.Signer { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// testCtx returns a context that ends after waitFor or with the test.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// provider starts an Auth0 fake on a fake clock, with pub as the client's
// registered key.
func provider(t *testing.T, pub crypto.PublicKey) (*oauthtest.Clock, *oauthtest.Server) {
	t.Helper()
	clock := oauthtest.NewClock(t0)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock, ClientKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return clock, srv
}

// client returns a Client of srv with no client authentication: the
// grant's assertion authenticates the client (RFC 7523, section 3.1).
func client(t *testing.T, srv *oauthtest.Server, clock *oauthtest.Clock) *tokenkeeper.Client {
	t.Helper()
	c, err := tokenkeeper.New(tokenkeeper.Config{TokenURL: srv.TokenURL(), ClientID: oauthtest.DefaultClientID,
		AuthStyle: tokenkeeper.AuthNone, Clock: clock, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signer returns a Signer of key for the fake's client, acting for the
// fake's default user, on clock.
func signer(t *testing.T, srv *oauthtest.Server, clock *oauthtest.Clock, key crypto.Signer, edit func(*jwtbearer.Config)) *jwtbearer.Signer {
	t.Helper()
	cfg := jwtbearer.Config{Issuer: oauthtest.DefaultClientID, Subject: oauthtest.DefaultUser,
		Audience: srv.TokenURL(), KeyID: "key-1", Clock: clock}
	if edit != nil {
		edit(&cfg)
	}
	s, err := jwtbearer.New(key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
