package tkotel

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// t0 is the start of every fake clock.
var t0 = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)

// waitBound bounds every wait on a channel.
const waitBound = 15 * time.Second

// rig is a Daxium fake provider, a Source on a fake clock observed by an
// Observer recording to an in-memory reader and span recorder.
type rig struct {
	clock  *oauthtest.Clock
	srv    *oauthtest.Server
	src    *tokenkeeper.Source
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tracer trace.Tracer
	ended  chan tokenkeeper.Event // renewal ends
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{clock: oauthtest.NewClock(t0), reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder(), ended: make(chan tokenkeeper.Event, 64)}
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Clock: r.clock})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	r.srv = srv
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	r.tracer = tp.Tracer("test")
	obs, err := New(Config{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader)),
		TracerProvider: tp,
		Provider:       "daxium-air",
		Next: func(ev tokenkeeper.Event) {
			if ev.Kind == tokenkeeper.EventRefreshSucceeded || ev.Kind == tokenkeeper.EventRefreshFailed {
				r.ended <- ev
			}
		},
	})
	require.NoError(t, err)
	cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret).WithBaseURL(srv.URL())
	cfg.Clock, cfg.HTTPClient = r.clock, srv.Client()
	c, err := tokenkeeper.New(cfg)
	require.NoError(t, err)
	tr := srv.Issue("", "")
	first := &tokenkeeper.Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, TokenType: "Bearer", IssuedAt: t0, Expiry: t0.Add(time.Duration(tr.ExpiresIn) * time.Second)}
	r.src, err = tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{
		Token:      first,
		Login:      tokenkeeper.PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword),
		MinBackoff: time.Second, MaxBackoff: time.Second,
		OnEvent: obs.OnEvent,
	})
	require.NoError(t, err)
	t.Cleanup(func() { r.src.Close() })
	return r
}

// ctx returns a context that ends after waitBound or with the test.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	t.Cleanup(cancel)
	return ctx
}

// ended waits for the end of a renewal.
func (r *rig) waitEnd(t *testing.T) tokenkeeper.Event {
	t.Helper()
	select {
	case ev := <-r.ended:
		return ev
	case <-time.After(waitBound):
		t.Fatal("no renewal ended")
		panic("unreachable")
	}
}

// impatient is a context whose deadline is always a nanosecond away: a
// caller with it cannot wait for a retry after a failure.
type impatient struct{ context.Context }

func (impatient) Deadline() (time.Time, bool) { return time.Now().Add(time.Nanosecond), true }

// get calls the fake API through the Source's Transport, on base.
func (r *rig) get(t *testing.T, ctx context.Context, base http.RoundTripper) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.srv.APIURL(), nil)
	require.NoError(t, err)
	resp, err := r.src.HTTPClient(base).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// metrics returns the collected metrics: for each series, "name{k=v,...}"
// mapped to the sum of a counter or "count=n" of a histogram.
func (r *rig) metrics(t *testing.T) map[string]string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, r.reader.Collect(context.Background(), &rm))
	out := map[string]string{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[m.Name+series(p.Attributes)] = fmt.Sprint(p.Value)
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+series(p.Attributes)] = fmt.Sprintf("count=%d sum=%g", p.Count, p.Sum)
				}
			}
		}
	}
	return out
}

// series writes an attribute set without the provider attribute, which
// every series has.
func series(set attribute.Set) string {
	var kv []string
	for _, a := range set.ToSlice() {
		if a.Key == attrProvider {
			if a.Value.AsString() != "daxium-air" {
				kv = append(kv, "provider?")
			}
			continue
		}
		kv = append(kv, string(a.Key)+"="+a.Value.String())
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

// tree returns the ended spans as lines "name <- parent name", sorted,
// with the spans each links to.
func (r *rig) tree() []string {
	ended := r.spans.Ended()
	names := map[trace.SpanID]string{}
	for _, s := range ended {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	var lines []string
	for _, s := range ended {
		line := s.Name() + " <- " + names[s.Parent().SpanID()]
		for _, l := range s.Links() {
			line += " ~ " + names[l.SpanContext.SpanID()]
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return lines
}

// span returns the first ended span named name.
func (r *rig) span(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range r.spans.Ended() {
		if s.Name() == name {
			return s
		}
	}
	t.Fatalf("no span %q", name)
	return nil
}

// attrsOf returns the attributes of s as a map.
func attrsOf(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, a := range s.Attributes() {
		out[string(a.Key)] = a.Value.String()
	}
	return out
}

// tracerProvider returns a provider recording to r's span recorder.
func tracerProvider(r *rig) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
}
