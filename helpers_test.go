package tokenkeeper

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Set-up shared by the test files of the package. The managed-token
// helpers start with "mt": a fake clock from mtT0, bounded contexts and
// waits (mtCtx, mtImpatient, mtRecv), sources on oauthtest providers
// (mtDaxium, mtProvider, mtSource), the scripted token endpoint
// mtTokenServer for tests that need exact control of a response, fake
// transports, APIs and stores. The client helpers (testEpoch, serveTokens,
// mockTokenEndpoint, reply) build one-shot token endpoints for
// request-shape tests.

// TestMain fails the run if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// --- Managed sources: clock, bounded waits, providers, events.

// mtT0 is the start of every fake clock.
var mtT0 = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)

// mtWait bounds every wait on a channel: a test that needs longer is
// stuck, not slow.
const mtWait = 15 * time.Second

// mtCtx returns a context that ends after mtWait or with the test.
func mtCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mtWait)
	t.Cleanup(cancel)
	return ctx
}

// mtImpatient returns a context whose deadline is always a nanosecond
// away, so that it cannot reach a next attempt after a failure: a caller
// with it gets the last failure at once instead of waiting for the test's
// clock to move. It still waits for a renewal in flight, and ends after
// mtWait.
func mtImpatient(t *testing.T) context.Context {
	t.Helper()
	return impatientContext{mtCtx(t)}
}

type impatientContext struct{ context.Context }

func (impatientContext) Deadline() (time.Time, bool) { return time.Now().Add(time.Nanosecond), true }

// mtSkipBackoff lets the next attempt of s start now, as if the backoff
// had passed.
func mtSkipBackoff(s *Source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retry.next = time.Time{}
	s.retryAt.Store(0)
}

// mtRecv waits for a value on ch.
func mtRecv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(mtWait):
		t.Fatalf("timed out after %v waiting for %s", mtWait, what)
		panic("unreachable")
	}
}

// mtWaitGroup waits for wg.
func mtWaitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	mtRecv(t, done, what)
}

// mtIdle waits until the Source has no refresh in flight, so that a test
// can look at what a background refresh did without sleeping.
func mtIdle(t *testing.T, s *Source) {
	t.Helper()
	for range 100 {
		s.mu.Lock()
		f := s.flight
		s.mu.Unlock()
		if f == nil {
			return
		}
		mtRecv(t, f.done, "the refresh in flight")
	}
	t.Fatal("refreshes keep starting")
}

// mtToken returns a token issued now by clock, valid for life.
func mtToken(clock *oauthtest.Clock, access, refresh string, life time.Duration) *Token {
	now := clock.Now()
	return &Token{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", Expiry: now.Add(life), IssuedAt: now}
}

// mtIssued converts a token minted by an oauthtest server at clock's time.
func mtIssued(clock *oauthtest.Clock, tr oauthtest.TokenResponse) *Token {
	now := clock.Now()
	return &Token{
		AccessToken:  tr.AccessToken,
		RefreshToken: tr.RefreshToken,
		IDToken:      tr.IDToken,
		TokenType:    "Bearer",
		Expiry:       now.Add(time.Duration(tr.ExpiresIn) * time.Second),
		IssuedAt:     now,
	}
}

// mtTokenServer is a token endpoint under the test's control. Call n
// (from 1) answers access token "at-n" and refresh token "rt-n" valid for
// lifetime seconds, unless respond is set; while held, calls wait for
// release (or for their client to give up).
type mtTokenServer struct {
	ts       *httptest.Server
	calls    atomic.Int64
	entered  chan int64
	lifetime int

	mu      sync.Mutex
	gate    chan struct{}
	respond func(w http.ResponseWriter, r *http.Request, n int64)
	forms   []url.Values
}

func mtNewTokenServer(t *testing.T, lifetime int) *mtTokenServer {
	t.Helper()
	s := &mtTokenServer{entered: make(chan int64, 4096), lifetime: lifetime}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.ts.Close)
	t.Cleanup(s.release) // runs first: no handler stays blocked
	return s
}

func (s *mtTokenServer) serve(w http.ResponseWriter, r *http.Request) {
	n := s.calls.Add(1)
	r.ParseForm()
	s.mu.Lock()
	gate, respond := s.gate, s.respond
	s.forms = append(s.forms, r.PostForm)
	s.mu.Unlock()
	select {
	case s.entered <- n:
	default:
	}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if respond != nil {
		respond(w, r, n)
		return
	}
	mtWriteToken(w, fmt.Sprintf("at-%d", n), fmt.Sprintf("rt-%d", n), s.lifetime)
}

// url returns the token endpoint.
func (s *mtTokenServer) url() string { return s.ts.URL + "/token" }

// hold makes the next calls wait for release.
func (s *mtTokenServer) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

// release lets the held calls answer.
func (s *mtTokenServer) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

func (s *mtTokenServer) setRespond(f func(w http.ResponseWriter, r *http.Request, n int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.respond = f
}

// form returns the form of call n (from 1).
func (s *mtTokenServer) form(n int) url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forms[n-1]
}

func mtWriteToken(w http.ResponseWriter, access, refresh string, lifetime int) {
	body := map[string]any{"access_token": access, "token_type": "bearer", "expires_in": lifetime}
	if refresh != "" {
		body["refresh_token"] = refresh
	}
	mtWriteJSON(w, http.StatusOK, body)
}

func mtWriteJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// mtClient returns a Client for tokenURL on clock.
func mtClient(t *testing.T, tokenURL string, clock *oauthtest.Clock, hc *http.Client) *Client {
	t.Helper()
	c, err := New(Config{TokenURL: tokenURL, ClientID: "client-1", ClientSecret: "client-secret-1", Clock: clock, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mtSource returns a Source closed when the test ends.
func mtSource(t *testing.T, c *Client, cfg SourceConfig) *Source {
	t.Helper()
	s, err := NewSource(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mtHourSource returns a fake clock, a token server issuing 1-hour tokens,
// and a Source holding the fresh 1-hour token at-0 / rt-0.
func mtHourSource(t *testing.T) (*oauthtest.Clock, *mtTokenServer, *Source) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	return clock, ts, mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour)})
}

// mtProvider starts an oauthtest server of preset on clock.
func mtProvider(t *testing.T, opts oauthtest.Options) *oauthtest.Server {
	t.Helper()
	srv, err := oauthtest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// mtDaxiumClient returns a Daxium Air client whose token endpoint is at
// base (an oauthtest server or a front of one).
func mtDaxiumClient(t *testing.T, base string, clock *oauthtest.Clock, hc *http.Client) *Client {
	t.Helper()
	cfg := DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = base
	cfg.Clock = clock
	cfg.HTTPClient = hc
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mtDaxium starts a Daxium fake provider on a fake clock and returns the
// clock, the provider and a Client for it.
func mtDaxium(t *testing.T) (*oauthtest.Clock, *oauthtest.Server, *Client) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	return clock, srv, mtDaxiumClient(t, srv.URL(), clock, srv.Client())
}

// mtTransiteo starts a Transiteo fake provider (a static refresh token,
// no rotation) on a fake clock, with opts applied to its Options, and
// returns the clock, the provider and a Client for it.
func mtTransiteo(t *testing.T, opts ...func(*oauthtest.Options)) (*oauthtest.Clock, *oauthtest.Server, *Client) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	o := oauthtest.Options{Preset: oauthtest.Transiteo, Clock: clock}
	for _, f := range opts {
		f(&o)
	}
	srv := mtProvider(t, o)
	cfg := Transiteo(oauthtest.DefaultClientID)
	cfg.BaseURL = srv.URL()
	cfg.Clock = clock
	cfg.HTTPClient = srv.Client()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return clock, srv, c
}

// mtDaxiumLogin is the password grant the Daxium fake accepts.
var mtDaxiumLogin = PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword)

// mtEvents records a Source's events.
type mtEvents struct {
	mu  sync.Mutex
	evs []Event
}

func (r *mtEvents) on(ev Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *mtEvents) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

func (r *mtEvents) count(k EventKind) int {
	n := 0
	for _, ev := range r.all() {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

// where returns the events keep accepts, oldest first.
func (r *mtEvents) where(keep func(Event) bool) []Event {
	var out []Event
	for _, ev := range r.all() {
		if keep(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// mtIsLogin tells the token request of a first login or a re-login.
func mtIsLogin(ev Event) bool { return ev.Kind == EventRefreshStarted && ev.Login != "" }

// mtIsShared tells a renewal that took the token another process renewed.
func mtIsShared(ev Event) bool { return ev.Kind == EventRefreshSucceeded && ev.Grant == "shared" }

// mtIsLockFallback tells a shared lock that could not be taken.
func mtIsLockFallback(ev Event) bool { return ev.Kind == EventStoreFailed && ev.Op == "lock" }

func (r *mtEvents) last(k EventKind) (Event, bool) {
	evs := r.all()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == k {
			return evs[i], true
		}
	}
	return Event{}, false
}

// mtFront is a front for an oauthtest server's token endpoint that can
// play an outage (503 with an HTML page, as a proxy would send) and counts
// the calls that reach it.
type mtFront struct {
	ts    *httptest.Server
	down  atomic.Bool
	calls atomic.Int64
}

func mtNewFront(t *testing.T, srv *oauthtest.Server) *mtFront {
	t.Helper()
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = srv.Client().Transport
	f := &mtFront{}
	f.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if f.down.Load() {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1></body></html>")
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.ts.Close)
	return f
}

// mtGet calls url with client and returns the status, or an error.
func mtGet(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// mtRetryRounds asks s for a token, then again rounds times, two minutes apart
// (past every backoff), and returns the last error.
func mtRetryRounds(t *testing.T, s *Source, clock *oauthtest.Clock, rounds int) error {
	t.Helper()
	_, err := s.TokenContext(mtImpatient(t))
	for range rounds {
		clock.Advance(2 * time.Minute)
		_, err = s.TokenContext(mtImpatient(t))
	}
	return err
}

// --- Stores that fail or lock on demand.

// errStoreDown is the error of a fake store that fails.
var errStoreDown = errors.New("store down")

// mtFlakyStore is a memoryStore whose Load and Save fail on demand.
type mtFlakyStore struct {
	memoryStore
	failLoad, failSave atomic.Bool
	saves              atomic.Int32
}

func (s *mtFlakyStore) Load(ctx context.Context) (*Token, error) {
	if s.failLoad.Load() {
		return nil, errStoreDown
	}
	return s.memoryStore.Load(ctx)
}

func (s *mtFlakyStore) Save(ctx context.Context, t *Token) error {
	s.saves.Add(1)
	if s.failSave.Load() {
		return errStoreDown
	}
	return s.memoryStore.Save(ctx, t)
}

// mtSharedStore is a memoryStore with a refresh lock, as processes sharing
// a credential would have.
type mtSharedStore struct {
	mtFlakyStore
	mu        sync.Mutex
	held      bool
	lockErr   atomic.Bool
	unlockErr atomic.Bool
	tries     atomic.Int32
	tried     chan struct{}
}

// Lease reports no lease: the lock lasts until unlocked.
func (s *mtSharedStore) Lease() time.Duration { return 0 }

func (s *mtSharedStore) TryLock(ctx context.Context) (func(context.Context) error, bool, error) {
	s.tries.Add(1)
	if s.tried != nil {
		select {
		case s.tried <- struct{}{}:
		default:
		}
	}
	if s.lockErr.Load() {
		return nil, false, errStoreDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held {
		return nil, false, nil
	}
	s.held = true
	return func(context.Context) error {
		s.setHeld(false)
		if s.unlockErr.Load() {
			return errStoreDown
		}
		return nil
	}, true, nil
}

func (s *mtSharedStore) setHeld(h bool) {
	s.mu.Lock()
	s.held = h
	s.mu.Unlock()
}

// mtLeaseStore is a shared store whose lock has a lease.
type mtLeaseStore struct {
	mtSharedStore
	lease time.Duration
}

func (s *mtLeaseStore) Lease() time.Duration { return s.lease }

// mtFailFirstLoads is a Store whose first n Loads fail.
type mtFailFirstLoads struct {
	memoryStore
	n atomic.Int32
}

func (s *mtFailFirstLoads) Load(ctx context.Context) (*Token, error) {
	if s.n.Add(-1) >= 0 {
		return nil, errStoreDown
	}
	return s.memoryStore.Load(ctx)
}

// --- Fake transports and APIs.

// mtRoundTripFunc is a RoundTripper made of a func.
type mtRoundTripFunc func(*http.Request) (*http.Response, error)

func (f mtRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// mtBody is a request or response body that counts its reads and closes.
type mtBody struct {
	r      io.Reader
	read   atomic.Int64
	closes atomic.Int32
}

func (b *mtBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *mtBody) Close() error {
	b.closes.Add(1)
	return nil
}

// mtBase is a well-behaved fake transport: it reads and closes the
// request body, as net/http does, records what it was sent, and answers
// with answer(n, req) for its n-th call (from 1).
type mtBase struct {
	mu     sync.Mutex
	reqs   []*http.Request
	auths  []string
	bodies []string
	answer func(n int, r *http.Request) (*http.Response, error)
}

func (b *mtBase) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
		r.Body.Close()
	}
	b.mu.Lock()
	b.reqs = append(b.reqs, r)
	b.auths = append(b.auths, r.Header.Get("Authorization"))
	b.bodies = append(b.bodies, string(body))
	n := len(b.reqs)
	b.mu.Unlock()
	return b.answer(n, r)
}

func (b *mtBase) calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

func mtResponse(r *http.Request, status int, body io.ReadCloser) *http.Response {
	if body == nil {
		body = io.NopCloser(strings.NewReader(""))
	}
	return &http.Response{StatusCode: status, Header: http.Header{}, Body: body, Request: r}
}

// mtTransportSource returns a Source on a token server answering at-n,
// holding at-0 for an hour, with the Daxium extra header.
func mtTransportSource(t *testing.T) (*Source, *mtTokenServer, *oauthtest.Clock) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	c, err := New(Config{
		TokenURL: ts.url(), ClientID: "id", Clock: clock, HTTPClient: ts.ts.Client(),
		Header: http.Header{"X-Accept-Version": {"v1.3"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour)})
	return s, ts, clock
}

// mtAPI is an API server that accepts one bearer token, answers 401 to
// every other, and can hold requests with a given token.
type mtAPI struct {
	ts       *httptest.Server
	mu       sync.Mutex
	good     string
	calls    map[string]int
	arrived  chan string
	holdAuth string
	gate     chan struct{}
	release  func()
}

func mtNewAPI(t *testing.T, good string) *mtAPI {
	t.Helper()
	a := &mtAPI{good: good, calls: map[string]int{}, arrived: make(chan string, 1024), gate: make(chan struct{})}
	a.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		a.calls[auth]++
		good, hold := a.good, a.holdAuth
		a.mu.Unlock()
		a.arrived <- auth
		if hold != "" && auth == hold {
			select {
			case <-a.gate:
			case <-r.Context().Done():
				return
			}
		}
		if auth != "Bearer "+good {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"The incoming token has expired"}`)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(a.ts.Close)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(a.gate) }) })
	a.release = func() { once.Do(func() { close(a.gate) }) }
	return a
}

func (a *mtAPI) count(auth string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[auth]
}

// --- Files.

// mtWriteFile writes content to path with mode 0600.
func mtWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// --- Client tests: a stopped clock and one-shot token endpoints.

// stoppedClock is a Clock that reads the same instant until a test builds
// another one.
type stoppedClock struct{ at time.Time }

func (c stoppedClock) Now() time.Time { return c.at }

// testEpoch is the time of the stopped clock in these tests; whole seconds,
// so that HTTP-dates built from it are exact.
var testEpoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// recordedRequest is one token request as the mock transport saw it.
type recordedRequest struct {
	Method string
	URL    string
	Header http.Header
	Form   url.Values
}

// mockTokenEndpoint returns an *http.Client whose httpmock transport answers
// POST tokenURL with a small JSON token, and a function that returns the
// requests received so far.
func mockTokenEndpoint(t *testing.T, tokenURL string) (*http.Client, func() []recordedRequest) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	var mu sync.Mutex
	var got []recordedRequest
	mt.RegisterResponder(http.MethodPost, tokenURL, func(req *http.Request) (*http.Response, error) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		form, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, fmt.Errorf("request body %q is not a form: %w", b, err)
		}
		mu.Lock()
		got = append(got, recordedRequest{Method: req.Method, URL: req.URL.String(), Header: req.Header.Clone(), Form: form})
		mu.Unlock()
		resp := httpmock.NewStringResponse(http.StatusOK, `{"access_token":"mock-access","token_type":"bearer","expires_in":3600}`)
		resp.Header.Set("Content-Type", "application/json")
		return resp, nil
	})
	return &http.Client{Transport: mt}, func() []recordedRequest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// serveTokens starts an httptest server running h and returns a Client for
// it, built from cfg with its endpoints moved to the server (TokenURL
// defaults to /oauth/token), and HTTPClient, ClientID and Clock filled in
// where empty.
func serveTokens(t *testing.T, h http.HandlerFunc, cfg Config) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if cfg.TokenURL == "" {
		cfg.TokenURL = srv.URL + "/oauth/token"
	} else {
		cfg.TokenURL = rebase(cfg.TokenURL, srv.URL)
	}
	cfg.AuthURL = rebase(cfg.AuthURL, srv.URL)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = srv.Client()
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "test-client"
	}
	if cfg.Clock == nil {
		cfg.Clock = stoppedClock{testEpoch}
	}
	c, err := New(cfg)
	require.NoError(t, err, "New")
	return c, srv
}

// reply returns a handler that answers every request with status, the
// given content type (none if empty), extra headers and body.
func reply(status int, contentType, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// --- Errors.

// sentinels are the errors.Is targets an *Error may match.
var sentinels = []error{ErrInvalidGrant, ErrInvalidClient, ErrUnauthorized, ErrRateLimited, ErrMalformedResponse}

// assertSentinels checks that err matches exactly the sentinels in want.
func assertSentinels(t *testing.T, err error, want ...error) {
	t.Helper()
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != slices.Contains(want, s) {
			t.Errorf("errors.Is(%q, %v) = %v; want %v", err, s, got, !got)
		}
	}
}

// mtCert is a certificate of the mutual TLS tests with its ECDSA P-256 key.
type mtCert struct {
	tls  tls.Certificate
	leaf *x509.Certificate
}

// mtNewCert issues a certificate with subject CN=cn, O=Example, valid from
// an hour before mtT0 to a day after it: a client certificate signed by
// parent, or self-signed when parent is nil; a CA when isCA is set.
func mtNewCert(t *testing.T, cn string, parent *mtCert, isCA bool) *mtCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Example"}},
		NotBefore:    mtT0.Add(-time.Hour),
		NotAfter:     mtT0.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	issuer, signer := tmpl, any(key)
	if parent != nil {
		issuer, signer = parent.leaf, parent.tls.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &mtCert{tls: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf: leaf}
}

// mtDPoPKey returns a new DPoP key, as a Source generates it.
func mtDPoPKey(t *testing.T) *dpopProver {
	t.Helper()
	p, err := newSourceKey()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mtKeyOf returns the thumbprint of tok's own DPoP key, or "".
func mtKeyOf(tok *Token) string {
	if tok == nil || tok.dpop == nil {
		return ""
	}
	return tok.dpop.jkt
}
