package tkotel_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
	tkotel "github.com/tokenkeeper/tokenkeeper/otel"
)

// Metrics of a renewal, a 401 recovery and an outage, on a fake Daxium Air
// provider and a fake clock.
func Example() {
	clock := oauthtest.NewClock(time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC))
	srv, _ := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	defer srv.Close()
	reader := sdkmetric.NewManualReader()
	ended := make(chan struct{}, 8)
	obs, _ := tkotel.New(tkotel.Config{
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		Provider:      "daxium-air",
		Next: func(ev tokenkeeper.Event) {
			if ev.Kind == tokenkeeper.EventRefreshSucceeded {
				ended <- struct{}{}
			}
		},
	})

	cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = srv.URL()
	cfg.Clock, cfg.HTTPClient = clock, srv.Client()
	c, _ := tokenkeeper.New(cfg)
	src, _ := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{
		Login:      tokenkeeper.PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword),
		MinBackoff: time.Second, MaxBackoff: time.Second,
		OnEvent: obs.OnEvent,
	})
	defer src.Close()
	ctx := context.Background()
	api := src.HTTPClient(srv.Client().Transport)

	tok, _ := src.TokenContext(ctx) // the first login
	<-ended

	// A renewal in the background: the token is stale 5 minutes before
	// its expiry.
	clock.Advance(56 * time.Minute)
	src.TokenContext(ctx)
	<-ended

	// A 401: the API revoked the token; the Transport renews and replays.
	tok, _ = src.TokenContext(ctx)
	srv.Revoke(tok.AccessToken)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.APIURL(), nil)
	resp, _ := api.Do(req)
	resp.Body.Close()

	// An outage: the token expires while the provider answers 503; a
	// caller that cannot wait for the retry gets the error.
	srv.FailNext(1, http.StatusServiceUnavailable)
	clock.Advance(2 * time.Hour)
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := src.TokenContext(short)
	cancel()
	fmt.Println("during the outage:", err != nil)

	var rm metricdata.ResourceMetrics
	reader.Collect(ctx, &rm)
	for _, line := range lines(rm) {
		fmt.Println(line)
	}
	// Output:
	// during the outage: true
	// tokenkeeper.logins{tokenkeeper.grant_type=password,tokenkeeper.login.reason=initial} 1
	// tokenkeeper.renewal.retries{error.type=server_error} 1
	// tokenkeeper.renewals{error.type=server_error,tokenkeeper.outcome=failure,tokenkeeper.trigger=expired} 1
	// tokenkeeper.renewals{tokenkeeper.outcome=success,tokenkeeper.trigger=initial} 1
	// tokenkeeper.renewals{tokenkeeper.outcome=success,tokenkeeper.trigger=scheduled} 1
	// tokenkeeper.renewals{tokenkeeper.outcome=success,tokenkeeper.trigger=unauthorized} 1
	// tokenkeeper.requests.stale{} 1
	// tokenkeeper.token.requests{error.type=server_error,tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=failure} 1
	// tokenkeeper.token.requests{tokenkeeper.grant_type=password,tokenkeeper.outcome=success} 1
	// tokenkeeper.token.requests{tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=success} 2
	// tokenkeeper.unauthorized{tokenkeeper.outcome=recovered} 1
	// tokenkeeper.waits{error.type=server_error,tokenkeeper.outcome=failure} 1
	// tokenkeeper.waits{tokenkeeper.outcome=success} 2
}

// lines prints the counters of rm, one series a line, sorted; the
// provider attribute, on every series, is left out.
func lines(rm metricdata.ResourceMetrics) []string {
	var out []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, p := range sum.DataPoints {
				var kv []string
				for _, a := range p.Attributes.ToSlice() {
					if a.Key != "tokenkeeper.provider" {
						kv = append(kv, string(a.Key)+"="+a.Value.String())
					}
				}
				out = append(out, fmt.Sprintf("%s{%s} %d", m.Name, strings.Join(kv, ","), p.Value))
			}
		}
	}
	slices.Sort(out)
	return out
}
