package bench

import (
	"context"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
)

// benchURL is where benchmark requests go; the base RoundTripper never
// sends them.
const benchURL = "https://api.example.com/v1/items?limit=10"

// cannedTransport is a base RoundTripper that sends nothing: it closes the
// request body, if any, and returns the same canned response every time,
// so that a benchmark measures only what the authenticating layer adds.
type cannedTransport struct{ resp *http.Response }

func newCannedTransport() cannedTransport {
	return cannedTransport{resp: &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       http.NoBody,
	}}
}

func (t cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return t.resp, nil
}

// benchToken is a fresh token: valid for an hour, just issued.
func benchToken() *tokenkeeper.Token {
	now := time.Now()
	return &tokenkeeper.Token{
		AccessToken:  "at_" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH",
		TokenType:    "Bearer",
		RefreshToken: "rt_" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH",
		Expiry:       now.Add(time.Hour),
		IssuedAt:     now,
	}
}

// newSource returns a tokenkeeper Source holding a fresh token. Its token
// endpoint is never called.
func newSource(b *testing.B) *tokenkeeper.Source {
	b.Helper()
	c, err := tokenkeeper.New(tokenkeeper.Config{
		TokenURL:     "http://127.0.0.1:1/token",
		ClientID:     "bench-client",
		ClientSecret: "bench-secret",
	})
	if err != nil {
		b.Fatal(err)
	}
	src, err := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{Token: benchToken()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	return src
}

// staticSource stands for the token endpoint behind x/oauth2's
// ReuseTokenSource; with a fresh token it is never called.
type staticSource struct{ tok *oauth2.Token }

func (s staticSource) Token() (*oauth2.Token, error) { return s.tok, nil }

// newReuseSource returns x/oauth2's caching token source holding a fresh
// token, as Config.TokenSource builds it.
func newReuseSource() oauth2.TokenSource {
	tok := benchToken().OAuth2()
	return oauth2.ReuseTokenSource(tok, staticSource{tok})
}

// transports returns the RoundTrippers compared, in the column order of
// the report: x/oauth2 first (the base of the comparison), then
// tokenkeeper, then the bare base as the floor.
func transports(b *testing.B) []struct {
	name string
	rt   http.RoundTripper
} {
	base := newCannedTransport()
	return []struct {
		name string
		rt   http.RoundTripper
	}{
		{"xoauth2", &oauth2.Transport{Source: newReuseSource(), Base: base}},
		{"tokenkeeper", &tokenkeeper.Transport{Source: newSource(b), Base: base}},
		{"floor", base},
	}
}

// roundTrip makes one request as a caller does, a new *http.Request each
// time, and sends it through rt.
func roundTrip(b *testing.B, ctx context.Context, rt http.RoundTripper) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, benchURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("RoundTrip: %v", err)
	}
}

// BenchmarkTransport measures one request through the authenticating
// transport with a fresh token, over a base that sends nothing.
func BenchmarkTransport(b *testing.B) {
	for _, tr := range transports(b) {
		b.Run("mode=serial/impl="+tr.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				roundTrip(b, ctx, tr.rt)
			}
		})
	}
	for _, tr := range transports(b) {
		b.Run("mode=parallel/impl="+tr.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					roundTrip(b, ctx, tr.rt)
				}
			})
		})
	}
}

// BenchmarkTransportOnly is BenchmarkTransport with one request made
// before the loop and sent again and again (RoundTrip must not modify it),
// so that the figures are what the authenticating layer adds, without the
// caller's own cost of building a request.
func BenchmarkTransportOnly(b *testing.B) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, benchURL, nil)
	if err != nil {
		b.Fatal(err)
	}
	send := func(b *testing.B, rt http.RoundTripper) {
		resp, err := rt.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("RoundTrip: %v", err)
		}
	}
	for _, tr := range transports(b) {
		b.Run("mode=serial/impl="+tr.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				send(b, tr.rt)
			}
		})
	}
	for _, tr := range transports(b) {
		b.Run("mode=parallel/impl="+tr.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					send(b, tr.rt)
				}
			})
		})
	}
}

// BenchmarkToken measures reading a fresh token from the source alone:
// tokenkeeper's Source.TokenContext and x/oauth2's ReuseTokenSource.Token.
func BenchmarkToken(b *testing.B) {
	ctx := context.Background()
	src := newSource(b)
	reuse := newReuseSource()
	sources := []struct {
		name string
		get  func() error
	}{
		{"xoauth2", func() error { _, err := reuse.Token(); return err }},
		{"tokenkeeper", func() error { _, err := src.TokenContext(ctx); return err }},
	}
	for _, s := range sources {
		b.Run("mode=serial/impl="+s.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := s.get(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, s := range sources {
		b.Run("mode=parallel/impl="+s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.get(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
