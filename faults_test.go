package tokenkeeper

// The fault matrix: a managed Source and its Transport against a fake
// Daxium Air server, with one fault of the token endpoint per row (latency,
// 5xx, 429, malformed, oversized and cut bodies, hangs, a lost rotation,
// revocation, a reset connection), checked with and without a valid token
// and after the fault clears.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// faultEpoch is when the fake clock of the fault matrix starts.
var faultEpoch = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// Bounds of the fault matrix. They are generous on purpose: they tell "the
// caller returned at its deadline" from "the caller waited for the fault",
// and never measure an exact time.
const (
	faultSlack    = time.Second      // how late after its deadline a caller may return
	faultSignal   = 10 * time.Second // the longest wait for an event
	faultCallTime = 10 * time.Second // the deadline of calls that must not wait
)

// faultHarness is a managed Source and its Transport against a fake Daxium
// Air server, sharing one fake clock, with every event recorded.
type faultHarness struct {
	t      *testing.T
	clock  *oauthtest.Clock
	srv    *oauthtest.Server
	src    *Source
	api    *http.Client
	tokenT *http.Transport
	apiT   *http.Transport

	events    chan Event
	mu        sync.Mutex
	seen      []Event
	succeeded atomic.Int32 // EventRefreshSucceeded count
	last      atomic.Pointer[Token]
}

func newFaultHarness(t *testing.T, refreshTimeout time.Duration) *faultHarness {
	t.Helper()
	h := &faultHarness{t: t, clock: oauthtest.NewClock(faultEpoch), events: make(chan Event, 1024)}
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Clock: h.clock})
	if err != nil {
		t.Fatalf("oauthtest.NewServer: %v", err)
	}
	h.srv = srv
	h.tokenT = http.DefaultTransport.(*http.Transport).Clone()
	h.apiT = http.DefaultTransport.(*http.Transport).Clone()
	cfg := DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = srv.URL()
	cfg.HTTPClient = &http.Client{Transport: h.tokenT}
	cfg.Clock = h.clock
	c, err := New(cfg)
	if err != nil {
		srv.Close()
		t.Fatalf("New: %v", err)
	}
	h.src, err = NewSource(c, SourceConfig{
		Login:          PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword),
		RefreshTimeout: refreshTimeout,
		// The first wait after a failure (15 s on the fake clock) is
		// longer than any call's deadline (real time): a caller that
		// finds no valid token gets the failure at once, instead of
		// waiting for a clock that only the test moves.
		MinBackoff: 15 * time.Second,
		MaxBackoff: 30 * time.Second,
		OnEvent: func(ev Event) {
			if ev.Kind == EventRefreshSucceeded {
				h.succeeded.Add(1)
			}
			h.mu.Lock()
			h.seen = append(h.seen, ev)
			h.mu.Unlock()
			select {
			case h.events <- ev:
			default:
				t.Errorf("event channel full; dropped %v", ev.Kind)
			}
		},
		OnToken: func(_ context.Context, tok *Token) { h.last.Store(tok) },
	})
	if err != nil {
		srv.Close()
		t.Fatalf("NewSource: %v", err)
	}
	h.api = h.src.HTTPClient(h.apiT)
	return h
}

// close stops everything the harness started, in order: the Source (and
// its refresh), the connections, the server.
func (h *faultHarness) close() {
	h.src.Close()
	h.apiT.CloseIdleConnections()
	h.tokenT.CloseIdleConnections()
	h.srv.Close()
}

// faultResult is the outcome of one API call.
type faultResult struct {
	status  int
	body    string
	resp    *http.Response // body already read and closed
	err     error
	elapsed time.Duration
	timeout time.Duration
}

// call makes one API request through the Transport with a context that
// ends after timeout.
func (h *faultHarness) call(timeout time.Duration) faultResult {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.srv.APIURL(), nil)
	if err != nil {
		h.t.Fatalf("NewRequest: %v", err)
	}
	start := time.Now()
	resp, err := h.api.Do(req)
	r := faultResult{err: err, timeout: timeout}
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		r.status, r.body, r.resp = resp.StatusCode, string(b), resp
		if rerr != nil {
			r.err = rerr
		}
	}
	r.elapsed = time.Since(start)
	return r
}

// checkBounded fails the test when a call returned later than shortly
// after its deadline.
func (h *faultHarness) checkBounded(r faultResult, what string) {
	h.t.Helper()
	if r.elapsed > r.timeout+faultSlack {
		h.t.Errorf("%s: the call returned after %v; its context ended after %v", what, r.elapsed.Round(time.Millisecond), r.timeout)
	}
}

// mustSucceed fails the test unless r is a 200 from the API.
func (h *faultHarness) mustSucceed(r faultResult, what string) {
	h.t.Helper()
	h.checkBounded(r, what)
	if r.err != nil || r.status != http.StatusOK {
		h.t.Fatalf("%s: status %d, err %v, body %q; want 200", what, r.status, r.err, r.body)
	}
}

// callMany makes n concurrent API calls and returns their results.
func (h *faultHarness) callMany(n int, timeout time.Duration) []faultResult {
	out := make([]faultResult, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { out[i] = h.call(timeout) })
	}
	wg.Wait()
	return out
}

// drain forgets the events received so far.
func (h *faultHarness) drain() {
	for {
		select {
		case <-h.events:
		default:
			return
		}
	}
}

// waitFor waits, at most faultSignal, for an event of kind and returns it.
func (h *faultHarness) waitFor(kind EventKind) Event {
	h.t.Helper()
	return h.waitWhere(string(kind), func(ev Event) bool { return ev.Kind == kind })
}

// waitWhere returns the next event keep accepts (what names it in a
// failure).
func (h *faultHarness) waitWhere(what string, keep func(Event) bool) Event {
	h.t.Helper()
	timer := time.NewTimer(faultSignal)
	defer timer.Stop()
	for {
		select {
		case ev := <-h.events:
			if keep(ev) {
				return ev
			}
		case <-timer.C:
			h.t.Fatalf("no %q event within %v", what, faultSignal)
			return Event{}
		}
	}
}

// stats returns the server's counters.
func (h *faultHarness) stats() oauthtest.Stats { return h.srv.Stats() }

// toExpiry moves the clock past the expiry of the current token (and so
// past any backoff set before it).
func (h *faultHarness) toExpiry() {
	h.t.Helper()
	tok := h.last.Load()
	if tok == nil || tok.Expiry.IsZero() {
		h.t.Fatal("no current token with an expiry")
	}
	h.clock.Set(tok.Expiry.Add(time.Second))
}

// pastBackoff moves the clock forward by at least backoff and past the
// expiry of the current token, so that the next request refreshes.
func (h *faultHarness) pastBackoff(backoff time.Duration) {
	h.t.Helper()
	target := h.clock.Now().Add(backoff)
	if tok := h.last.Load(); tok != nil && !tok.Expiry.IsZero() && target.Before(tok.Expiry.Add(time.Second)) {
		target = tok.Expiry.Add(time.Second)
	}
	h.clock.Set(target)
}

// toStale moves the clock inside the early-refresh window of the current
// token: three minutes before it expires, outside the safety skew.
func (h *faultHarness) toStale() {
	h.t.Helper()
	tok := h.last.Load()
	if tok == nil || tok.Expiry.IsZero() {
		h.t.Fatal("no current token with an expiry")
	}
	h.clock.Set(tok.Expiry.Add(-3 * time.Minute))
}

// faultRow is one fault of the matrix.
type faultRow struct {
	name string
	// refreshTimeout is the Source's RefreshTimeout; 2s when zero.
	refreshTimeout time.Duration
	// inject sets the fault up for the next token call.
	inject func(h *faultHarness)
	// clear removes a fault that is not one-shot.
	clear func(h *faultHarness)
	// valid runs while a valid token exists and checks that every request
	// succeeds; nil means the common check (faultValidWindow).
	valid func(t *testing.T, h *faultHarness, row faultRow)
	// invalid runs with no valid token left and checks how callers fail.
	invalid func(t *testing.T, h *faultHarness, row faultRow)
	// backoff is how far to move the clock, after the fault, for the next
	// attempt to be allowed.
	backoff time.Duration
	// relogins is the number of logins the fault costs.
	relogins int
}

// faultValidWindow is the common "valid token" phase: the token is inside
// its early-refresh window, the fault hits the one background refresh, and
// every request meanwhile succeeds with the current token.
func faultValidWindow(t *testing.T, h *faultHarness, row faultRow) {
	h.toStale()
	before := h.stats()
	h.drain()
	row.inject(h)
	for i, r := range h.callMany(8, faultCallTime) {
		h.mustSucceed(r, fmt.Sprintf("request %d in the early-refresh window", i))
	}
	ev := h.waitFor(EventRefreshFailed)
	if ev.Err == nil {
		t.Errorf("EventRefreshFailed without Err")
	}
	for i := range 4 {
		h.mustSucceed(h.call(faultCallTime), fmt.Sprintf("request %d after the failed background refresh", i))
	}
	after := h.stats()
	if got := after.TokenCalls["refresh_token"] - before.TokenCalls["refresh_token"]; got != 1 {
		t.Errorf("%d refresh calls in the window; want 1 (one background refresh, then backoff)", got)
	}
	if got := after.APICalls - before.APICalls; got != 12 {
		t.Errorf("%d API calls; want 12", got)
	}
	if row.clear != nil {
		row.clear(h)
	}
}

// faultInvalidFails is the common "no valid token" phase: the token has
// expired, the fault hits the refresh the caller waits for, and the caller
// gets an error soon, which want checks.
func faultInvalidFails(want func(t *testing.T, err error)) func(t *testing.T, h *faultHarness, row faultRow) {
	return func(t *testing.T, h *faultHarness, row faultRow) {
		h.toExpiry()
		h.drain()
		row.inject(h)
		r := h.call(faultCallTime)
		h.checkBounded(r, "request with an expired token")
		if r.err == nil {
			t.Fatalf("request with an expired token and a failing refresh: status %d; want an error", r.status)
		}
		if !strings.Contains(r.err.Error(), "tokenkeeper:") {
			t.Errorf("error %q does not say it comes from tokenkeeper", r.err)
		}
		want(t, r.err)
		h.waitFor(EventRefreshFailed)

		// During the backoff, callers get the failure at once, without
		// another token call.
		before := h.stats().TokenCallsTotal
		again := h.call(faultCallTime)
		if again.err == nil {
			t.Errorf("second request during the backoff succeeded; want the failure again")
		}
		if got := h.stats().TokenCallsTotal - before; got != 0 {
			t.Errorf("%d token calls during the backoff; want 0", got)
		}
		if row.clear != nil {
			row.clear(h)
		}
	}
}

// wantProviderError returns a check that err holds an *Error with status
// and whose message says what was received.
func wantProviderError(status int, is error, msgParts ...string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T %q holds no *Error", err, err)
		}
		if e.StatusCode != status {
			t.Errorf("StatusCode = %d; want %d (%q)", e.StatusCode, status, err)
		}
		if is != nil && !errors.Is(err, is) {
			t.Errorf("errors.Is(%q, %v) = false", err, is)
		}
		if !IsRetryable(err) {
			t.Errorf("IsRetryable(%q) = false; want true", err)
		}
		for _, p := range msgParts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not contain %q", err, p)
			}
		}
	}
}

// wantNetworkError returns a check that err is a network failure of the
// token request, not an *Error, and temporary if temporary is set.
func wantNetworkError(temporary bool, msgParts ...string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *Error
		if errors.As(err, &e) {
			t.Errorf("error %q holds an *Error (%d); want a network error", err, e.StatusCode)
		}
		if temporary && !IsRetryable(err) {
			t.Errorf("IsRetryable(%q) = false; want true", err)
		}
		for _, p := range msgParts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error %q does not contain %q", err, p)
			}
		}
	}
}

// TestFaultMatrix runs a Source and its Transport against every fault of
// the fake provider and checks, for each: no request fails while a valid
// token exists; callers never wait past their context; when no valid token
// remains, the error says what happened; once the fault clears the Source
// refreshes with the refresh token it kept (one new login for a lost
// rotation, none otherwise); and no goroutine is left behind.
//
// Subtests run one after another: each checks for leaked goroutines.
func TestFaultMatrix(t *testing.T) {
	for _, row := range faultRows() {
		t.Run(row.name, func(t *testing.T) { faultRunRow(t, row) })
	}
}

// faultRetryAfter is the Retry-After of the matrix's 429.
const faultRetryAfter = 30 * time.Second

// faultRows are the rows of the fault matrix: one fault each.
func faultRows() []faultRow {
	return []faultRow{
		{
			name:           "latency",
			refreshTimeout: 10 * time.Second,
			inject:         func(h *faultHarness) { h.srv.SetLatency(1500 * time.Millisecond) },
			clear:          func(h *faultHarness) { h.srv.SetLatency(0) },
			valid:          faultLatencyValid,
			invalid:        faultLatencyInvalid,
		},
		{
			name:    "5xx HTML",
			inject:  func(h *faultHarness) { h.srv.FailNext(1, http.StatusBadGateway) },
			invalid: faultInvalidFails(wantProviderError(http.StatusBadGateway, nil, "502 Bad Gateway", "text/html")),
			backoff: 31 * time.Second,
		},
		{
			name:    "429 Retry-After",
			inject:  func(h *faultHarness) { h.srv.RateLimitNext(1, faultRetryAfter) },
			valid:   faultRateLimitValid,
			invalid: faultInvalidFails(wantRateLimitError),
			backoff: faultRetryAfter + time.Second,
		},
		{
			name:    "malformed JSON",
			inject:  func(h *faultHarness) { h.srv.MalformedNext(1) },
			invalid: faultInvalidFails(wantProviderError(http.StatusOK, ErrMalformedResponse, "token response", "not a JSON object")),
			backoff: 31 * time.Second,
		},
		{
			name:    "2 MiB body",
			inject:  func(h *faultHarness) { h.srv.OversizedNext(1) },
			invalid: faultInvalidFails(wantProviderError(http.StatusOK, ErrMalformedResponse, "exceeds 1048576 bytes")),
			backoff: 31 * time.Second,
		},
		{
			name:           "hang",
			refreshTimeout: 500 * time.Millisecond,
			inject:         func(h *faultHarness) { h.srv.HangNext(1) },
			invalid:        faultHangInvalid,
			backoff:        31 * time.Second,
		},
		{
			name: "lost rotation response",
			inject: func(h *faultHarness) {
				h.srv.LoseNextRotation()
			},
			invalid:  faultLostRotationInvalid,
			relogins: 1,
		},
		{
			name:    "revocation",
			inject:  func(h *faultHarness) { h.srv.RevokeAll() },
			valid:   faultRevocationValid,
			invalid: faultRevocationInvalid,
			backoff: 31 * time.Second,
		},
		{
			name:    "truncated response",
			inject:  func(h *faultHarness) { h.srv.TruncateNext(1) },
			invalid: faultInvalidFails(wantProviderError(http.StatusOK, ErrMalformedResponse, "unexpected EOF")),
			backoff: 31 * time.Second,
		},
		{
			name:    "connection reset",
			inject:  func(h *faultHarness) { h.srv.ResetNext(1) },
			invalid: faultInvalidFails(wantNetworkError(true, "refresh_token grant", "EOF")),
			backoff: 31 * time.Second,
		},
	}
}

// faultRunRow runs one row: a first login, the row's checks with and
// without a valid token, then the recovery once the fault has cleared.
func faultRunRow(t *testing.T, row faultRow) {
	ignore := goleak.IgnoreCurrent()
	if row.refreshTimeout == 0 {
		row.refreshTimeout = 2 * time.Second
	}
	if row.valid == nil {
		row.valid = faultValidWindow
	}
	h := newFaultHarness(t, row.refreshTimeout)
	closed := false
	defer func() {
		if !closed {
			h.close()
		}
	}()

	h.mustSucceed(h.call(faultCallTime), "first request (login)")
	logins := h.stats().Logins
	if logins != 1 {
		t.Fatalf("%d logins for the first token; want 1", logins)
	}

	t.Run("valid token", func(t *testing.T) { row.valid(t, h, row) })
	t.Run("no valid token", func(t *testing.T) { row.invalid(t, h, row) })

	faultCheckRecovered(t, h, row)

	h.close()
	closed = true
	goleak.VerifyNone(t, ignore)
}

// faultCheckRecovered checks that, the fault cleared, the next refresh
// uses the refresh token the Source kept.
func faultCheckRecovered(t *testing.T, h *faultHarness, row faultRow) {
	t.Helper()
	h.pastBackoff(row.backoff)
	h.drain()
	before := h.stats()
	h.mustSucceed(h.call(faultCallTime), "request after the fault cleared")
	ev := h.waitFor(EventRefreshSucceeded)
	if ev.Grant != "refresh_token" {
		t.Errorf("recovered with grant %q; want refresh_token", ev.Grant)
	}
	after := h.stats()
	if after.Logins-before.Logins != 0 {
		t.Errorf("%d logins to recover; want 0: the refresh token was lost", after.Logins-before.Logins)
	}
	if got, want := after.Logins, 1+row.relogins; got != want {
		t.Errorf("%d logins in all; want %d", got, want)
	}
	if got, want := after.RefreshReuse, row.relogins; got != want {
		t.Errorf("retired refresh tokens were presented %d times; want %d", got, want)
	}
}

// faultLatencyValid: the background refresh is slow, not failing: the
// requests are served meanwhile, without waiting for it.
func faultLatencyValid(t *testing.T, h *faultHarness, row faultRow) {
	h.toStale()
	h.drain()
	row.inject(h)
	for i, r := range h.callMany(8, faultCallTime) {
		h.mustSucceed(r, fmt.Sprintf("request %d in the early-refresh window", i))
	}
	if h.succeeded.Load() != 1 {
		t.Errorf("the slow refresh ended before the requests: they waited for it")
	}
	h.waitFor(EventRefreshSucceeded)
	row.clear(h)
}

// faultLatencyInvalid: a caller whose context ends first gives up; the
// refresh goes on for the others.
func faultLatencyInvalid(t *testing.T, h *faultHarness, row faultRow) {
	h.toExpiry()
	h.drain()
	row.inject(h)
	before := h.stats()
	r := h.call(200 * time.Millisecond)
	h.checkBounded(r, "impatient request")
	if !errors.Is(r.err, context.DeadlineExceeded) {
		t.Errorf("impatient request: err %v, status %d; want context.DeadlineExceeded", r.err, r.status)
	}
	h.waitFor(EventRefreshSucceeded)
	h.mustSucceed(h.call(faultCallTime), "request after the slow refresh")
	if got := h.stats().TokenCalls["refresh_token"] - before.TokenCalls["refresh_token"]; got != 1 {
		t.Errorf("%d refresh calls; want 1: the refresh was abandoned with its first caller", got)
	}
	row.clear(h)
}

// faultRateLimitValid: requests are served, and no next attempt comes
// before the Retry-After.
func faultRateLimitValid(t *testing.T, h *faultHarness, row faultRow) {
	faultValidWindow(t, h, row)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.seen {
		if ev.Kind == EventRefreshFailed && ev.Delay < faultRetryAfter {
			t.Errorf("next attempt in %v after a 429 with Retry-After %v", ev.Delay, faultRetryAfter)
		}
	}
}

// wantRateLimitError checks the error of a 429 with Retry-After.
func wantRateLimitError(t *testing.T, err error) {
	wantProviderError(http.StatusTooManyRequests, ErrRateLimited, "429", oauthtest.CodeTooManyLogins)(t, err)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter != faultRetryAfter {
		t.Errorf("RetryAfter = %v; want %v", e.RetryAfter, faultRetryAfter)
	}
}

// faultHangInvalid: one caller gives up before the refresh does, one
// waits for it: both return by their own bound.
func faultHangInvalid(t *testing.T, h *faultHarness, row faultRow) {
	h.toExpiry()
	h.drain()
	row.inject(h)
	var impatient, patient faultResult
	var wg sync.WaitGroup
	wg.Go(func() { impatient = h.call(100 * time.Millisecond) })
	wg.Go(func() { patient = h.call(faultCallTime) })
	wg.Wait()
	h.checkBounded(impatient, "impatient request")
	if !errors.Is(impatient.err, context.DeadlineExceeded) {
		t.Errorf("impatient request: err %v; want context.DeadlineExceeded", impatient.err)
	}
	if patient.elapsed > row.refreshTimeout+faultSlack {
		t.Errorf("patient request returned after %v; RefreshTimeout is %v", patient.elapsed, row.refreshTimeout)
	}
	if patient.err == nil {
		t.Fatalf("patient request: status %d; want the refresh's timeout", patient.status)
	}
	wantNetworkError(true, "renewal timed out", "refresh_token grant")(t, patient.err)
	h.waitFor(EventRefreshFailed)
}

// faultLostRotationInvalid: the server retired the refresh token the
// Source still holds: the refresh is refused and the Source logs in again,
// once, and the caller is served.
func faultLostRotationInvalid(t *testing.T, h *faultHarness, row faultRow) {
	h.toExpiry()
	h.drain()
	h.mustSucceed(h.call(faultCallTime), "request after the lost rotation")
	login := h.waitWhere("login", mtIsLogin)
	if login.Login != "relogin" {
		t.Errorf("login event = %+v; want a re-login, after the refresh failure that caused it", login)
	}
}

// faultRevocationValid: the API rejects the current, unexpired token: the
// Transport refreshes once for all the requests that saw the 401 and
// replays each.
func faultRevocationValid(t *testing.T, h *faultHarness, row faultRow) {
	h.clock.Advance(10 * time.Minute)
	before := h.stats()
	h.drain()
	row.inject(h)
	for i, r := range h.callMany(8, faultCallTime) {
		h.mustSucceed(r, fmt.Sprintf("request %d with a revoked token", i))
	}
	after := h.stats()
	if got := after.TokenCalls["refresh_token"] - before.TokenCalls["refresh_token"]; got != 1 {
		t.Errorf("%d refresh calls for one revocation; want 1", got)
	}
	h.mu.Lock()
	recovered := 0
	for _, ev := range h.seen {
		if ev.Kind == EventUnauthorized && ev.Recovered {
			recovered++
		}
	}
	h.mu.Unlock()
	if recovered == 0 {
		t.Errorf("no EventUnauthorized with Recovered")
	}
}

// faultRevocationInvalid: revoked, and the refresh fails: the caller gets
// the API's own 401, which DecodeError reads. (Past the interval between
// two refreshes forced by a 401.)
func faultRevocationInvalid(t *testing.T, h *faultHarness, row faultRow) {
	h.drain()
	h.clock.Advance(forcedInterval)
	row.inject(h)
	h.srv.FailNext(1, http.StatusServiceUnavailable)
	r := h.call(faultCallTime)
	h.checkBounded(r, "request with a revoked token and a failing refresh")
	if r.err != nil || r.status != http.StatusUnauthorized {
		t.Fatalf("status %d, err %v; want the API's 401", r.status, r.err)
	}
	r.resp.Body = io.NopCloser(strings.NewReader(r.body))
	e := DecodeError(r.resp)
	if e.StatusCode != http.StatusUnauthorized || e.Code != oauthtest.CodeInvalidToken || !errors.Is(e, ErrUnauthorized) {
		t.Errorf("DecodeError = %q (code %q); want 401 %s", e, e.Code, oauthtest.CodeInvalidToken)
	}
	h.waitFor(EventRefreshFailed)
}

// TestFaultHungRefreshIsRetryable: a refresh that the Source's own
// RefreshTimeout ends is a transient failure (the server may answer next
// time): it is retried with the short exponential backoff, and the error
// that callers and OnEvent see says so (IsRetryable) and says that the
// refresh timed out, rather than looking like the caller's own deadline.
func TestFaultHungRefreshIsRetryable(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	h := newFaultHarness(t, 300*time.Millisecond)
	defer func() {
		h.close()
		goleak.VerifyNone(t, ignore)
	}()
	h.mustSucceed(h.call(faultCallTime), "first request (login)")
	h.toStale()
	h.drain()
	h.srv.HangNext(1)
	h.mustSucceed(h.call(faultCallTime), "request in the early-refresh window")
	ev := h.waitFor(EventRefreshFailed)
	if !IsRetryable(ev.Err) {
		t.Errorf("IsRetryable(%q) = false; want true for a refresh that timed out", ev.Err)
	}
	// The first transient failure waits MinBackoff (15s) with up to half
	// of it as jitter, less than MaxBackoff (30s).
	if ev.Delay < 15*time.Second || ev.Delay > 22500*time.Millisecond {
		t.Errorf("next attempt in %v after one timed-out refresh; want about MinBackoff", ev.Delay)
	}
	if !strings.Contains(fmt.Sprint(ev.Err), "RefreshTimeout") && !strings.Contains(fmt.Sprint(ev.Err), "timed out") {
		t.Errorf("error %q does not say the refresh timed out", ev.Err)
	}
}
