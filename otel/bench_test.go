package tkotel

import (
	"net/http"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tokenkeeper/tokenkeeper"
)

// canned is a base RoundTripper that sends nothing and answers 200, so
// that the benchmark measures the authenticating layer only.
type canned struct{ resp *http.Response }

func (c canned) RoundTrip(*http.Request) (*http.Response, error) { return c.resp, nil }

// benchSource returns a Source holding a fresh token, with or without an
// Observer on an SDK meter and tracer provider.
func benchSource(b *testing.B, observed bool) *tokenkeeper.Source {
	b.Helper()
	c, err := tokenkeeper.New(tokenkeeper.Config{TokenURL: "http://127.0.0.1:1/token", ClientID: "bench-client", ClientSecret: "bench-secret"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	cfg := tokenkeeper.SourceConfig{Token: &tokenkeeper.Token{AccessToken: "at_0123456789abcdefghijklmnopqrstuvwxyz", TokenType: "Bearer", RefreshToken: "rt_0123456789", IssuedAt: now, Expiry: now.Add(time.Hour)}}
	if observed {
		obs, err := New(Config{
			MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
			TracerProvider: sdktrace.NewTracerProvider(),
			Provider:       "auth0",
		})
		if err != nil {
			b.Fatal(err)
		}
		cfg.OnEvent = obs.OnEvent
	}
	src, err := tokenkeeper.NewSource(c, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { src.Close() })
	return src
}

// BenchmarkTransport is the fresh-token request path of the root
// module's bench (a request through Transport to a canned base), with and
// without metrics and traces, in one run.
func BenchmarkTransport(b *testing.B) {
	base := canned{resp: &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}}}
	for _, impl := range []struct {
		name     string
		observed bool
	}{{"tokenkeeper", false}, {"tokenkeeper+otel", true}} {
		b.Run("mode=serial/impl="+impl.name, func(b *testing.B) {
			client := benchSource(b, impl.observed).HTTPClient(base)
			req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/v1/items?limit=10", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
		b.Run("mode=parallel/impl="+impl.name, func(b *testing.B) {
			client := benchSource(b, impl.observed).HTTPClient(base)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest(http.MethodGet, "https://api.example.com/v1/items?limit=10", nil)
				for pb.Next() {
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
				}
			})
		})
	}
}
