package tkotel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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

// newRig returns a rig; each of opts may change the Client's and the
// Source's configurations before they are used.
func newRig(t *testing.T, opts ...func(*tokenkeeper.Config, *tokenkeeper.SourceConfig)) *rig {
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
	cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = srv.URL()
	cfg.Clock, cfg.HTTPClient = r.clock, srv.Client()
	tr := srv.Issue("", "")
	first := &tokenkeeper.Token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, TokenType: "Bearer", IssuedAt: t0, Expiry: t0.Add(time.Duration(tr.ExpiresIn) * time.Second)}
	scfg := tokenkeeper.SourceConfig{
		Token:      first,
		Login:      tokenkeeper.PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword),
		MinBackoff: time.Second, MaxBackoff: time.Second,
		OnEvent: obs.OnEvent,
	}
	for _, o := range opts {
		o(&cfg, &scfg)
	}
	c, err := tokenkeeper.New(cfg)
	require.NoError(t, err)
	r.src, err = tokenkeeper.NewSource(c, scfg)
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
	return collect(t, r.reader)
}

// collect returns the metrics of reader as rig.metrics does.
func collect(t *testing.T, reader sdkmetric.Reader) map[string]string {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
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

// errStoreDown is the failure of the fake stores.
var errStoreDown = errors.New("store down")

// memStore keeps a token in memory.
type memStore struct {
	mu  sync.Mutex
	tok *tokenkeeper.Token
}

func (s *memStore) Load(context.Context) (*tokenkeeper.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok, nil
}

func (s *memStore) Save(_ context.Context, t *tokenkeeper.Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tok = t
	return nil
}

// flakyStore is a memStore whose Save fails on demand.
type flakyStore struct {
	memStore
	failSave atomic.Bool
}

func (s *flakyStore) Save(ctx context.Context, t *tokenkeeper.Token) error {
	if s.failSave.Load() {
		return errStoreDown
	}
	return s.memStore.Save(ctx, t)
}

// sharedStore is a memStore with the renewal lock of processes sharing
// a credential: held by "another process" while held is set, failing
// while lockErr is set. Each try is reported on tries.
type sharedStore struct {
	memStore
	held, lockErr atomic.Bool
	tries         chan time.Time
}

func newSharedStore() *sharedStore { return &sharedStore{tries: make(chan time.Time, 64)} }

// Lease reports no lease: the lock lasts until unlocked.
func (s *sharedStore) Lease() time.Duration { return 0 }

func (s *sharedStore) TryLock(context.Context) (func(context.Context) error, bool, error) {
	select {
	case s.tries <- time.Now():
	default:
	}
	if s.lockErr.Load() {
		return nil, false, errStoreDown
	}
	if !s.held.CompareAndSwap(false, true) {
		return nil, false, nil
	}
	return func(context.Context) error { s.held.Store(false); return nil }, true, nil
}

// withStore gives the Source st as its Store.
func withStore(st tokenkeeper.Store) func(*tokenkeeper.Config, *tokenkeeper.SourceConfig) {
	return func(_ *tokenkeeper.Config, s *tokenkeeper.SourceConfig) { s.Store = st }
}

// lockWait takes the lock wait histogram out of m, whose sum is real
// time, and returns its count and sum.
func lockWait(t *testing.T, m map[string]string) (count int, sum float64) {
	t.Helper()
	const key = "tokenkeeper.lock.wait.duration{}"
	v, ok := m[key]
	if !ok {
		return 0, 0
	}
	delete(m, key)
	_, err := fmt.Sscanf(v, "count=%d sum=%g", &count, &sum)
	require.NoError(t, err)
	return count, sum
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitBound):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// drain empties ch.
func drain[T any](ch chan T) {
	for range len(ch) {
		<-ch
	}
}

// spanEvents returns the names of the events of s.
func spanEvents(s sdktrace.ReadOnlySpan) []string {
	var names []string
	for _, e := range s.Events() {
		names = append(names, e.Name)
	}
	return names
}
