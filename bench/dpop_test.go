package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
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
