package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// newDPoPSource returns a tokenkeeper Source holding a fresh DPoP-bound
// token, its Client holding the ES256 proof key: each request through its
// Transport signs a proof.
func newDPoPSource(b *testing.B) *tokenkeeper.Source {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	c, err := tokenkeeper.New(tokenkeeper.Config{
		TokenURL:     "http://127.0.0.1:1/token",
		ClientID:     "bench-client",
		ClientSecret: "bench-secret",
		DPoPKey:      key,
	})
	if err != nil {
		b.Fatal(err)
	}
	tok := benchToken()
	tok.TokenType = "DPoP"
	src, err := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{Token: tok})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	return src
}

// BenchmarkTransportDPoP is BenchmarkTransport's serial case with a
// DPoP-bound token: the cost of an ES256 proof per request.
func BenchmarkTransportDPoP(b *testing.B) {
	rt := &tokenkeeper.Transport{Source: newDPoPSource(b), Base: newCannedTransport()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		roundTrip(b, ctx, rt)
	}
}

// newSourceKeySource returns a Source whose DPoP key is its own
// (SourceConfig.DPoP): it logs in once, by client credentials, at an
// in-process Auth0 fake that binds the token to that key.
func newSourceKeySource(b *testing.B) *tokenkeeper.Source {
	b.Helper()
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, DPoP: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	cfg := tokenkeeper.Auth0("tenant.example.com", oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = srv.URL()
	cfg.HTTPClient = srv.Client()
	c, err := tokenkeeper.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	src, err := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{
		Login: tokenkeeper.ClientCredentialsGrant(tokenkeeper.Param("audience", oauthtest.DefaultAudience)),
		DPoP:  true,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	tok, err := src.TokenContext(context.Background())
	if err != nil || tok.TokenType != "DPoP" {
		b.Fatalf("login: %v, %v; want a DPoP-bound token", tok, err)
	}
	return src
}

// BenchmarkTransportDPoPSourceKey is BenchmarkTransportDPoP with the
// Source's own key, kept with its token, instead of the Client's.
func BenchmarkTransportDPoPSourceKey(b *testing.B) {
	rt := &tokenkeeper.Transport{Source: newSourceKeySource(b), Base: newCannedTransport()}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		roundTrip(b, ctx, rt)
	}
}
