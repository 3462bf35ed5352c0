package tokenkeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Compile-time proof that a Source is an oauth2.TokenSource.
var _ oauth2.TokenSource = (*Source)(nil)

// Acceptance 1: 1,000 concurrent callers at expiry cause exactly one token
// call, and all of them get the same new token.
func TestSourceThousandCallersAtExpiryOneRefresh(t *testing.T) {
	clock, ts, s := mtHourSource(t)
	clock.Advance(time.Hour)
	ts.hold()

	const n = 1000
	ctx := mtCtx(t)
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	got := make(chan string, n)
	for range n {
		go func() {
			defer done.Done()
			started.Done()
			tok, err := s.TokenContext(ctx)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- tok.AccessToken
		}()
	}
	mtWaitGroup(t, &started, "callers to start")
	mtRecv(t, ts.entered, "the token call")
	ts.release()
	mtWaitGroup(t, &done, "callers to return")
	close(got)
	counts := map[string]int{}
	for a := range got {
		counts[a]++
	}
	if counts["at-1"] != n {
		t.Errorf("tokens handed out = %v; want all %d to be at-1", counts, n)
	}
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls = %d; want 1", calls)
	}
	if rt := ts.form(1).Get("refresh_token"); rt != "rt-0" {
		t.Errorf("refresh_token sent = %q; want rt-0", rt)
	}
}

// Acceptance 2: in the early-refresh window every caller gets the old
// token at once while one background refresh runs.
func TestSourceStaleWindowNoCallerWaits(t *testing.T) {
	clock, ts, s := mtHourSource(t)
	ctx := mtCtx(t)

	// A 1h token is not refreshed before its last five minutes.
	clock.Set(mtT0.Add(55*time.Minute - time.Second))
	for range 100 {
		if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != "at-0" {
			t.Fatalf("TokenContext = %v, %v; want at-0", tok, err)
		}
	}
	if calls := ts.calls.Load(); calls != 0 {
		t.Fatalf("token calls before the window = %d; want 0", calls)
	}

	// Inside the window, with the refresh held at the server: nobody
	// waits.
	clock.Set(mtT0.Add(55 * time.Minute))
	ts.hold()
	const n = 500
	var returned atomic.Int64
	var wg sync.WaitGroup
	wg.Add(n)
	bad := make(chan string, n)
	for range n {
		go func() {
			defer wg.Done()
			tok, err := s.TokenContext(ctx)
			if err != nil || tok.AccessToken != "at-0" {
				bad <- fmt.Sprintf("%v, %v", tok, err)
			}
			returned.Add(1)
		}()
	}
	allBack := make(chan struct{})
	go func() { wg.Wait(); close(allBack) }()
	select {
	case <-allBack:
	case <-time.After(mtWait):
		t.Fatalf("%d of %d callers blocked while the refresh was held; want 0", n-returned.Load(), n)
	}
	close(bad)
	for b := range bad {
		t.Errorf("caller in the stale window got %s; want at-0", b)
	}
	mtRecv(t, ts.entered, "the background refresh")
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls while held = %d; want 1", calls)
	}
	ts.release()
	mtIdle(t, s)
	if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != "at-1" {
		t.Errorf("after the refresh TokenContext = %v, %v; want at-1", tok, err)
	}
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls = %d; want exactly 1 background refresh", calls)
	}
}

// Acceptance 2: the defaults behave for short lifetimes.
func TestSourceShortTokenNotRefreshedOnEveryCall(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 30)
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", 30*time.Second)})
	ctx := mtCtx(t)

	clock.Advance(time.Second)
	for range 100 {
		if _, err := s.TokenContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if calls := ts.calls.Load(); calls != 0 {
		t.Fatalf("token calls for 100 calls at t+1s = %d; want 0", calls)
	}
	// The window of a 30 s token is its last quarter: from t+22.5s.
	clock.Set(mtT0.Add(22 * time.Second))
	s.TokenContext(ctx)
	mtIdle(t, s)
	if calls := ts.calls.Load(); calls != 0 {
		t.Fatalf("token calls at t+22s = %d; want 0", calls)
	}
	clock.Set(mtT0.Add(23 * time.Second))
	if tok, _ := s.TokenContext(ctx); tok.AccessToken != "at-0" {
		t.Errorf("at t+23s got %v; want the old token while it refreshes", tok)
	}
	mtIdle(t, s)
	if tok, _ := s.TokenContext(ctx); tok.AccessToken != "at-1" {
		t.Errorf("after the background refresh got %v; want at-1", tok)
	}
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls = %d; want 1", calls)
	}
}

// The three ages of a token, by the default windows.
func TestSourceTokenWindows(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	c := mtClient(t, "http://127.0.0.1:1/token", clock, nil)
	tests := []struct {
		name              string
		cfg               SourceConfig
		tok               *Token
		wantStale, wantEx time.Time
	}{
		{"1h", SourceConfig{}, mtToken(clock, "a", "r", time.Hour), mtT0.Add(55 * time.Minute), mtT0.Add(time.Hour - 3*time.Second)},
		{"30s", SourceConfig{}, mtToken(clock, "a", "r", 30*time.Second), mtT0.Add(22500 * time.Millisecond), mtT0.Add(27 * time.Second)},
		// Without an issue time the margins apply whole: stale at once,
		// held back 3 s before expiry (not 0.5 s before, by a lifetime
		// counted from now).
		{"10s without IssuedAt", SourceConfig{}, &Token{AccessToken: "a", Expiry: mtT0.Add(10 * time.Second)}, mtT0.Add(10*time.Second - 5*time.Minute), mtT0.Add(7 * time.Second)},
		{"IssuedAt in the future", SourceConfig{}, &Token{AccessToken: "a", IssuedAt: mtT0.Add(time.Hour), Expiry: mtT0.Add(time.Hour)}, mtT0.Add(55 * time.Minute), mtT0.Add(time.Hour - 3*time.Second)},
		{"no expiry", SourceConfig{}, &Token{AccessToken: "a"}, farFuture, farFuture},
		{"refresh token only", SourceConfig{}, &Token{RefreshToken: "r"}, time.Time{}, time.Time{}},
		{"custom", SourceConfig{EarlyRefresh: 10 * time.Minute, Skew: 30 * time.Second}, mtToken(clock, "a", "r", time.Hour), mtT0.Add(50 * time.Minute), mtT0.Add(time.Hour - 30*time.Second)},
		{"no skew", SourceConfig{Skew: -1}, mtToken(clock, "a", "r", time.Hour), mtT0.Add(55 * time.Minute), mtT0.Add(time.Hour)},
		{"window smaller than skew", SourceConfig{EarlyRefresh: time.Second, Skew: time.Minute}, mtToken(clock, "a", "r", time.Hour), mtT0.Add(59 * time.Minute), mtT0.Add(59 * time.Minute)},
		{"early refresh off", SourceConfig{DisableEarlyRefresh: true}, mtToken(clock, "a", "r", time.Hour), mtT0.Add(time.Hour - 3*time.Second), mtT0.Add(time.Hour - 3*time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Token = tt.tok
			s := mtSource(t, c, cfg)
			a := s.cur.Load().ages
			if tt.wantStale.IsZero() {
				if a != nil {
					t.Errorf("ages %+v; want none: the token cannot be served", a)
				}
				return
			}
			if !a.stale.Equal(tt.wantStale) || !a.skew.Equal(tt.wantEx) {
				t.Errorf("stale at %v, held back from %v; want %v, %v", a.stale, a.skew, tt.wantStale, tt.wantEx)
			}
		})
	}
}

// Acceptance 3: an outage of the token endpoint while the token is valid
// fails no request, is retried with backoff, and ends when the endpoint
// is back.
func TestSourceOutageWhileTokenValid(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	front := mtNewFront(t, srv)
	c := mtDaxiumClient(t, front.ts.URL, clock, front.ts.Client())
	events := &mtEvents{}
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first, OnEvent: events.on})
	api := s.HTTPClient(srv.Client().Transport)
	ctx := mtCtx(t)

	front.down.Store(true)
	clock.Set(mtT0.Add(55 * time.Minute))
	const steps = 120 // two minutes, a second apart
	failed := outageCalls(t, clock, s, api, srv.APIURL(), first, steps)
	if failed != 0 {
		t.Errorf("failed caller requests during the outage = %d; want 0", failed)
	}
	attempts := front.calls.Load()
	// Exponential backoff from 1 s to 1 min over 2 min: 6 to 9 attempts
	// (one a second would be 120).
	if attempts < 3 || attempts > 12 {
		t.Errorf("token endpoint attempts during a %d s outage = %d; want between 3 and 12", steps, attempts)
	}
	outageCheckBackoff(t, events.all())

	// Recovery.
	front.down.Store(false)
	clock.Advance(time.Minute + time.Second)
	if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != first.AccessToken {
		t.Fatalf("TokenContext = %v, %v; want the old token while refreshing", tok, err)
	}
	mtIdle(t, s)
	tok, err := s.TokenContext(ctx)
	if err != nil || tok.AccessToken == first.AccessToken {
		t.Fatalf("after recovery TokenContext = %v, %v; want a new token", tok, err)
	}
	if status, err := mtGet(ctx, api, srv.APIURL()); err != nil || status != http.StatusOK {
		t.Errorf("API after recovery: %d, %v", status, err)
	}
	if st := srv.Stats(); st.TokenCalls["refresh_token"] != 1 || st.RefreshReuse != 0 {
		t.Errorf("server stats = %+v; want one refresh reaching it, no reuse", st)
	}
}

// outageCalls makes, every second for steps seconds, three token calls
// that must get the still valid token first and one API call, and returns
// how many failed.
func outageCalls(t *testing.T, clock *oauthtest.Clock, s *Source, api *http.Client, apiURL string, first *Token, steps int) int {
	t.Helper()
	ctx := mtCtx(t)
	failed := 0
	for range steps {
		clock.Advance(time.Second)
		for range 3 {
			if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != first.AccessToken {
				failed++
			}
		}
		if status, err := mtGet(ctx, api, apiURL); err != nil || status != http.StatusOK {
			t.Logf("API call: %d, %v", status, err)
			failed++
		}
		mtIdle(t, s)
	}
	return failed
}

// outageCheckBackoff checks the failed refreshes of a 503 outage: each a
// 503 *Error, with a next attempt within [0.5s, 1m] that grows.
func outageCheckBackoff(t *testing.T, events []Event) {
	t.Helper()
	var prev time.Duration
	for i, ev := range events {
		if ev.Kind != EventRefreshFailed {
			continue
		}
		var pe *Error
		if !errors.As(ev.Err, &pe) || pe.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("event %d: Err = %v; want a 503 *Error", i, ev.Err)
		}
		if ev.Delay < time.Second/2 || ev.Delay > time.Minute {
			t.Errorf("event %d: Delay = %v; want within [0.5s, 1m]", i, ev.Delay)
		}
		if ev.Failures >= 3 && ev.Delay < prev/4 {
			t.Errorf("event %d: Delay = %v after %v; want growing", i, ev.Delay, prev)
		}
		prev = ev.Delay
	}
}

// Acceptance 3: when the token expires during the outage, callers get the
// provider's typed error, and the endpoint still sees few attempts.
func TestSourceOutageAfterExpiryTypedError(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	front := mtNewFront(t, srv)
	c := mtDaxiumClient(t, front.ts.URL, clock, front.ts.Client())
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first})
	api := s.HTTPClient(srv.Client().Transport)
	ctx := mtCtx(t)

	front.down.Store(true)
	clock.Set(mtT0.Add(time.Hour)) // expired
	const n = 100
	errs := make(chan error, n)
	var wg sync.WaitGroup
	impatient := mtImpatient(t) // cannot wait for the next attempt
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.TokenContext(impatient)
			errs <- err
		}()
	}
	mtWaitGroup(t, &wg, "callers")
	close(errs)
	for err := range errs {
		var pe *Error
		if !errors.As(err, &pe) || pe.StatusCode != http.StatusServiceUnavailable || !IsRetryable(err) {
			t.Fatalf("caller error = %v (%T); want a temporary 503 *Error", err, err)
		}
	}
	// Backoff: more callers fail at once, without a new attempt.
	for range n {
		if _, err := s.TokenContext(impatient); err == nil {
			t.Fatal("TokenContext succeeded during the outage")
		}
	}
	_, err := mtGet(impatient, api, srv.APIURL())
	var pe *Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("API call error = %v; want the 503 *Error through the Transport", err)
	}
	if attempts := front.calls.Load(); attempts != 1 {
		t.Errorf("attempts = %d; want 1", attempts)
	}

	front.down.Store(false)
	clock.Advance(time.Minute)
	tok, err := s.TokenContext(ctx)
	if err != nil || tok.AccessToken == first.AccessToken {
		t.Fatalf("after recovery TokenContext = %v, %v; want a new token", tok, err)
	}
}

// Acceptance 3: a 429's Retry-After is honoured: no attempt before it.
func TestSourceRateLimitRetryAfter(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	events := &mtEvents{}
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first, OnEvent: events.on})
	ctx := mtCtx(t)

	srv.RateLimitNext(1, 2*time.Minute)
	clock.Set(mtT0.Add(55 * time.Minute))
	s.TokenContext(ctx)
	mtIdle(t, s)
	ev, ok := events.last(EventRefreshFailed)
	if !ok || ev.Delay < 2*time.Minute {
		t.Fatalf("failure event = %+v; want a delay of at least the 2 min Retry-After", ev)
	}
	if !errors.Is(ev.Err, ErrRateLimited) {
		t.Errorf("failure = %v; want ErrRateLimited", ev.Err)
	}
	for range 119 {
		clock.Advance(time.Second)
		if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != first.AccessToken {
			t.Fatalf("TokenContext = %v, %v; want the old token", tok, err)
		}
		mtIdle(t, s)
	}
	if calls := srv.Stats().TokenCallsTotal; calls != 1 {
		t.Fatalf("token calls before Retry-After passed = %d; want 1", calls)
	}
	clock.Advance(time.Second)
	s.TokenContext(ctx)
	mtIdle(t, s)
	if calls := srv.Stats().TokenCallsTotal; calls != 2 {
		t.Errorf("token calls once Retry-After passed = %d; want 2", calls)
	}
	if tok, _ := s.TokenContext(ctx); tok.AccessToken == first.AccessToken {
		t.Error("the token was not refreshed after Retry-After")
	}
}

// Acceptance 3: invalid_grant and invalid_client are not retried in a
// loop, and reach callers as typed errors once the token has expired.
func TestSourcePermanentFailureNotRetried(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   string
		is     []error
	}{
		{"invalid_grant", http.StatusBadRequest, "invalid_grant", []error{ErrInvalidGrant, ErrLoginRequired}},
		{"invalid_client", http.StatusUnauthorized, "invalid_client", []error{ErrInvalidClient}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := oauthtest.NewClock(mtT0)
			ts := mtNewTokenServer(t, 3600)
			ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
				mtWriteJSON(w, tt.status, map[string]string{"error": tt.code})
			})
			c := mtClient(t, ts.url(), clock, ts.ts.Client())
			s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour)})
			ctx := mtCtx(t)

			clock.Set(mtT0.Add(55 * time.Minute))
			for range 4*60 + 50 {
				if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != "at-0" {
					t.Fatalf("TokenContext = %v, %v; want at-0 while valid", tok, err)
				}
				mtIdle(t, s)
				clock.Advance(time.Second)
			}
			// At most one attempt a minute (MaxBackoff), not one a second.
			if calls := ts.calls.Load(); calls < 1 || calls > 5 {
				t.Errorf("attempts in the 5 min window = %d; want 1 to 5", calls)
			}
			before := ts.calls.Load()
			clock.Set(mtT0.Add(time.Hour))
			for range 100 {
				_, err := s.TokenContext(ctx)
				var pe *Error
				if !errors.As(err, &pe) || pe.Code != tt.code {
					t.Fatalf("error = %v; want an *Error with code %s", err, tt.code)
				}
				for _, target := range tt.is {
					if !errors.Is(err, target) {
						t.Errorf("error %v is not %v", err, target)
					}
				}
				if IsRetryable(err) {
					t.Errorf("IsRetryable(%v) = true", err)
				}
			}
			if calls := ts.calls.Load() - before; calls > 1 {
				t.Errorf("attempts for 100 callers after expiry = %d; want at most 1", calls)
			}
		})
	}
}

// Acceptance 4: 20 chained Daxium rotations: every new refresh token is
// stored, none is reused, and OnToken sees each token before any caller.
func TestSourceDaxiumRotationChain(t *testing.T) {
	stores := []struct {
		name  string
		store func(t *testing.T) Store
	}{
		{"memoryStore", func(*testing.T) Store { return &memoryStore{} }},
		{"FileStore", func(t *testing.T) Store {
			fs, err := NewFileStore(t.TempDir() + "/token.json")
			if err != nil {
				t.Fatal(err)
			}
			return fs
		}},
	}
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) { rotationChain(t, tc.store(t)) })
	}
}

// rotationLog records, in order, the tokens OnToken saw ("hook at-…") and
// the tokens callers got ("caller at-…"), and what OnToken found wrong.
type rotationLog struct {
	mu       sync.Mutex
	order    []string
	problems []string
}

func (l *rotationLog) add(kind, access string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order = append(l.order, kind+" "+access)
}

func (l *rotationLog) problem(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, p)
}

// check reports OnToken's problems, and checks that OnToken saw every
// token callers got (once it is current, before the next renewal), hooks
// times in all.
func (l *rotationLog) check(t *testing.T, hooks int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.problems {
		t.Error(p)
	}
	hooked := map[string]bool{}
	n := 0
	for _, o := range l.order {
		if kind, access, _ := strings.Cut(o, " "); kind == "hook" {
			hooked[access] = true
			n++
		}
	}
	for _, o := range l.order {
		if kind, access, _ := strings.Cut(o, " "); kind == "caller" && !hooked[access] {
			t.Errorf("a caller got %s, which OnToken never saw", access)
		}
	}
	if n != hooks {
		t.Errorf("OnToken calls = %d; want %d", n, hooks)
	}
}

// rotationChain runs 20 rotations of a Daxium credential kept in store.
func rotationChain(t *testing.T, store Store) {
	clock, srv, c := mtDaxium(t)
	log := &rotationLog{}
	var src *Source
	onToken := func(ctx context.Context, tok *Token) {
		if cur := src.cur.Load(); cur == nil || cur.tok != tok {
			log.problem("OnToken ran before the token was current")
		}
		saved, err := store.Load(ctx)
		if err != nil || saved == nil || saved.RefreshToken != tok.RefreshToken {
			log.problem(fmt.Sprintf("OnToken ran before the Store had the token (%v, %v)", saved, err))
		}
		log.add("hook", tok.AccessToken)
	}
	first := mtIssued(clock, srv.Issue("", ""))
	src = mtSource(t, c, SourceConfig{Token: first, Store: store, OnToken: onToken})
	api := src.HTTPClient(srv.Client().Transport)
	ctx := mtCtx(t)

	seen := map[string]bool{first.RefreshToken: true}
	prev := first
	for i := range 20 {
		clock.Advance(time.Hour)
		tok := rotationCallers(t, i, src, log)
		rotationCheckNew(t, i, tok, prev, seen, store)
		if status, err := mtGet(ctx, api, srv.APIURL()); err != nil || status != http.StatusOK {
			t.Fatalf("rotation %d: API call: %d, %v", i, status, err)
		}
		prev = tok
	}
	st := srv.Stats()
	if st.RefreshReuse != 0 || st.TokenCalls["refresh_token"] != 20 || st.Logins != 0 {
		t.Errorf("server stats = %+v; want 20 refreshes, no reuse, no login", st)
	}
	log.check(t, 20)
}

// rotationCheckNew checks that rotation i gave a new access token and a
// refresh token never seen before, and saved both to store.
func rotationCheckNew(t *testing.T, i int, tok, prev *Token, seen map[string]bool, store Store) {
	t.Helper()
	if tok.RefreshToken == "" || seen[tok.RefreshToken] {
		t.Fatalf("rotation %d: refresh token %q is empty or not new", i, tok.RefreshToken)
	}
	seen[tok.RefreshToken] = true
	saved, err := store.Load(mtCtx(t))
	if err != nil || saved.RefreshToken != tok.RefreshToken || saved.AccessToken != tok.AccessToken {
		t.Fatalf("rotation %d: stored token %v, %v; want the new one", i, saved, err)
	}
	if tok.AccessToken == prev.AccessToken {
		t.Fatalf("rotation %d: access token not replaced", i)
	}
}

// rotationCallers has 10 callers ask src for a token at once and returns
// the one token they all got (rotation i).
func rotationCallers(t *testing.T, i int, src *Source, log *rotationLog) *Token {
	t.Helper()
	ctx := mtCtx(t)
	var wg sync.WaitGroup
	toks := make(chan *Token, 10)
	for range 10 {
		wg.Go(func() {
			tok, err := src.TokenContext(ctx)
			if err != nil {
				t.Errorf("rotation %d: %v", i, err)
				return
			}
			log.add("caller", tok.AccessToken)
			toks <- tok
		})
	}
	mtWaitGroup(t, &wg, "callers")
	close(toks)
	tok := <-toks
	if tok == nil {
		t.FailNow()
	}
	for other := range toks {
		if other != tok {
			t.Errorf("rotation %d: callers got different tokens", i)
		}
	}
	return tok
}

// Acceptance 5: Transiteo answers without refresh_token: the old one is
// kept; a Source starts from a refresh token alone; the Transport sends the
// raw id_token.
func TestSourceTransiteoKeepsRefreshToken(t *testing.T) {
	clock, srv, c := mtTransiteo(t, func(o *oauthtest.Options) { o.ExpiresInAsString = true })
	store := &memoryStore{}
	s := mtSource(t, c, SourceConfig{Token: &Token{RefreshToken: srv.RefreshToken()}, Store: store})
	var sent []string
	var mu sync.Mutex
	base := mtRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		sent = append(sent, r.Header.Get("Authorization"))
		mu.Unlock()
		return srv.Client().Transport.RoundTrip(r)
	})
	api := s.HTTPClient(base)
	ctx := mtCtx(t)

	for i := range 3 {
		if status, err := mtGet(ctx, api, srv.APIURL()); err != nil || status != http.StatusOK {
			t.Fatalf("round %d: API call: %d, %v", i, status, err)
		}
		tok, err := s.TokenContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken != srv.RefreshToken() {
			t.Errorf("round %d: refresh token = %q; want the console's, kept", i, tok.RefreshToken)
		}
		if tok.IDToken == "" || tok.Expiry.Sub(clock.Now()) != time.Hour {
			t.Errorf("round %d: token %v; want an id_token valid for 1h (expires_in as a string)", i, tok)
		}
		mu.Lock()
		if got := sent[len(sent)-1]; got != tok.IDToken {
			t.Errorf("round %d: Authorization = %q; want the raw id_token %q", i, got, tok.IDToken)
		}
		mu.Unlock()
		if saved, _ := store.Load(ctx); saved.RefreshToken != srv.RefreshToken() {
			t.Errorf("round %d: stored refresh token = %q; want the console's", i, saved.RefreshToken)
		}
		clock.Advance(time.Hour)
	}
	if got := srv.Stats().TokenCalls["refresh_token"]; got != 3 {
		t.Errorf("refreshes = %d; want 3", got)
	}
}

// Acceptance 6: a rotation whose response is lost leads to exactly one
// re-login, then to normal refreshes again; no caller sees it.
func TestSourceLostRotationRelogsInOnce(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	events := &mtEvents{}
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first, Login: mtDaxiumLogin, OnEvent: events.on})
	ctx := mtCtx(t)

	srv.LoseNextRotation()
	tok := lostRotationRelogin(t, clock, s, events, first)
	st := srv.Stats()
	if st.Logins != 1 || st.TokenCalls["password"] != 1 || st.TokenCalls["refresh_token"] != 2 {
		t.Errorf("stats = %+v; want 2 refreshes (lost, rejected) and exactly 1 login", st)
	}
	checkRelogin(t, events, "password", ErrUnauthorized)
	// Normal again.
	clock.Advance(time.Hour)
	tok2, err := s.TokenContext(ctx)
	if err != nil || tok2.AccessToken == tok.AccessToken {
		t.Fatalf("next refresh: %v, %v", tok2, err)
	}
	st = srv.Stats()
	if st.Logins != 1 || st.TokenCalls["refresh_token"] != 3 || st.RefreshReuse != 1 {
		t.Errorf("stats = %+v; want one more refresh, no more login, only the one reuse of the lost rotation", st)
	}
}

// lostRotationRelogin plays a lost rotation response in the early-refresh
// window of first: the first refresh fails as temporary, the next one is
// refused and s logs in again. Callers get first meanwhile; it returns the
// new token.
func lostRotationRelogin(t *testing.T, clock *oauthtest.Clock, s *Source, events *mtEvents, first *Token) *Token {
	t.Helper()
	ctx := mtCtx(t)
	clock.Set(mtT0.Add(55 * time.Minute))
	if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != first.AccessToken {
		t.Fatalf("TokenContext = %v, %v", tok, err)
	}
	mtIdle(t, s)
	if ev, ok := events.last(EventRefreshFailed); !ok || !IsRetryable(ev.Err) {
		t.Fatalf("lost response: event %+v; want a temporary failure", ev)
	}
	clock.Advance(2 * time.Second) // past the first backoff
	if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != first.AccessToken {
		t.Fatalf("TokenContext = %v, %v", tok, err)
	}
	mtIdle(t, s)
	tok, err := s.TokenContext(ctx)
	if err != nil || tok.AccessToken == first.AccessToken {
		t.Fatalf("after re-login TokenContext = %v, %v; want a new token", tok, err)
	}
	return tok
}

// Acceptance 6: without a login, the lost rotation is a typed error that
// says a new login is needed.
func TestSourceLostRotationWithoutLogin(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	s := mtSource(t, c, SourceConfig{Token: mtIssued(clock, srv.Issue("", ""))})
	ctx := mtImpatient(t) // the clock does not move while a caller waits

	srv.LoseNextRotation()
	clock.Advance(time.Hour)
	if _, err := s.TokenContext(ctx); err == nil || !IsRetryable(err) {
		t.Fatalf("lost response: %v; want a temporary error", err)
	}
	clock.Advance(2 * time.Second)
	for range 10 {
		_, err := s.TokenContext(ctx)
		var pe *Error
		if !errors.Is(err, ErrLoginRequired) || !errors.As(err, &pe) || pe.Code != oauthtest.CodeInvalidRefreshToken {
			t.Fatalf("error = %v; want ErrLoginRequired and the DAERR *Error", err)
		}
	}
	if st := srv.Stats(); st.TokenCallsTotal != 2 || st.Logins != 0 {
		t.Errorf("stats = %+v; want 2 token calls and no login", st)
	}
}

// Acceptance 6: logins are spaced by ReloginInterval.
func TestSourceReloginInterval(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first, Login: mtDaxiumLogin, ReloginInterval: 2 * time.Hour})
	ctx := mtCtx(t)

	srv.RevokeRefreshToken(first.RefreshToken)
	clock.Advance(time.Hour)
	tok, err := s.TokenContext(ctx)
	if err != nil {
		t.Fatalf("first rejection: %v; want a re-login", err)
	}
	srv.RevokeRefreshToken(tok.RefreshToken)
	clock.Advance(time.Hour) // a second rejection within the interval
	for range 5 {
		_, err = s.TokenContext(ctx)
		var pe *Error
		if !errors.Is(err, ErrLoginRequired) || !errors.As(err, &pe) || pe.StatusCode != http.StatusUnauthorized {
			t.Fatalf("second rejection: %v; want ErrLoginRequired wrapping the 401", err)
		}
	}
	if st := srv.Stats(); st.Logins != 1 || st.TokenCalls["password"] != 1 {
		t.Fatalf("stats = %+v; want one login only", st)
	}
	clock.Advance(time.Hour + time.Second)
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatalf("after the interval: %v; want a second login", err)
	}
	if st := srv.Stats(); st.Logins != 2 {
		t.Errorf("logins = %d; want 2", st.Logins)
	}
}

// Acceptance 6: a LoginFunc gets the first token and logs in again.
func TestSourceLoginFunc(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	events := &mtEvents{}
	var logins atomic.Int32
	s := mtSource(t, c, SourceConfig{
		LoginFunc: func(ctx context.Context) (*Token, error) {
			logins.Add(1)
			return c.Token(ctx, mtDaxiumLogin)
		},
		OnEvent: events.on,
	})
	ctx := mtCtx(t)
	tok, err := s.TokenContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if logins := events.where(mtIsLogin); len(logins) != 1 || logins[0].Grant != "func" || logins[0].Login != "initial" || logins[0].Err != nil {
		t.Errorf("login events = %+v; want one initial login with grant func", logins)
	}
	srv.RevokeRefreshToken(tok.RefreshToken)
	clock.Advance(time.Hour)
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatal(err)
	}
	if logins.Load() != 2 || srv.Stats().Logins != 2 {
		t.Errorf("LoginFunc calls = %d, server logins = %d; want 2", logins.Load(), srv.Stats().Logins)
	}

	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name string
		f    func(context.Context) (*Token, error)
		want error
	}{
		{"error", func(context.Context) (*Token, error) { return nil, errBoom }, errBoom},
		{"no token", func(context.Context) (*Token, error) { return nil, nil }, nil},
		{"no access token", func(context.Context) (*Token, error) { return &Token{RefreshToken: "r"}, nil }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mtSource(t, c, SourceConfig{LoginFunc: tc.f})
			_, err := s.TokenContext(ctx)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("error = %v; want %v", err, tc.want)
			}
			// The next attempt waits for ReloginInterval, and says
			// why the last login failed.
			clock.Advance(2 * time.Minute)
			s.mu.Lock()
			s.retryAt.Store(0)
			s.mu.Unlock()
			_, err2 := s.TokenContext(ctx)
			if err2 == nil {
				t.Error("second attempt succeeded")
			}
		})
	}
}

// A first login through the Login grant, and the re-login block when the
// first login failed.
func TestSourceFirstLoginGrant(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)

	s := mtSource(t, c, SourceConfig{Login: mtDaxiumLogin})
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Logins != 1 {
		t.Errorf("logins = %d; want 1", st.Logins)
	}

	bad := mtSource(t, c, SourceConfig{Login: PasswordGrant(oauthtest.DefaultUser, "wrong")})
	_, err := bad.TokenContext(ctx)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != oauthtest.CodeInvalidCredentials {
		t.Fatalf("wrong password: %v; want the DAERR invalid credentials error", err)
	}
	// Not retried before MaxBackoff, and then not before ReloginInterval.
	for range 10 {
		if _, err2 := bad.TokenContext(ctx); err2 != err {
			t.Fatalf("during backoff: %v; want the same error", err2)
		}
	}
	before := srv.Stats().TokenCalls["password"]
	clock.Advance(time.Minute - time.Second)
	mtSkipBackoff(bad) // as if backoff were shorter than ReloginInterval
	_, err = bad.TokenContext(mtImpatient(t))
	if !errors.Is(err, ErrLoginRequired) || !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "%!") {
		t.Errorf("login within the interval: %v; want ErrLoginRequired wrapping the last login's failure", err)
	}
	if after := srv.Stats().TokenCalls["password"]; after != before {
		t.Errorf("password grants = %d; want %d", after, before)
	}
}

// Acceptance 7: a Source with no Token loads it from its Store.
func TestSourceLoadsFromStore(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtImpatient(t) // the clock does not move while a caller waits

	t.Run("valid", func(t *testing.T) { loadsFromStoreValid(t, clock, srv, c) })
	t.Run("expired", func(t *testing.T) { loadsFromStoreExpired(t, clock, srv, c) })
	t.Run("refresh token only", func(t *testing.T) {
		store := &memoryStore{}
		stored := mtIssued(clock, srv.Issue("", ""))
		store.Save(ctx, &Token{RefreshToken: stored.RefreshToken})
		s := mtSource(t, c, SourceConfig{Store: store})
		if _, err := s.TokenContext(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("empty, no login", func(t *testing.T) {
		s := mtSource(t, c, SourceConfig{Store: &memoryStore{}})
		if _, err := s.TokenContext(ctx); !errors.Is(err, ErrLoginRequired) {
			t.Errorf("error = %v; want ErrLoginRequired", err)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		path := t.TempDir() + "/tok.json"
		mtWriteFile(t, path, "{not json")
		fs, _ := NewFileStore(path)
		events := &mtEvents{}
		s := mtSource(t, c, SourceConfig{Store: fs, OnEvent: events.on})
		_, err := s.TokenContext(ctx)
		if !errors.Is(err, ErrCorruptStore) || errors.Is(err, ErrLoginRequired) {
			t.Errorf("error = %v; want ErrCorruptStore (a store problem, not a login needed)", err)
		}
		// A FileStore is a Locker: read once first, then again under
		// its lock.
		if n := events.count(EventStoreFailed); n < 1 || n > 2 {
			t.Errorf("EventStoreFailed = %d; want 1 or 2", n)
		}
	})
	t.Run("load fails then works", func(t *testing.T) {
		store := &mtFlakyStore{}
		stored := mtIssued(clock, srv.Issue("", ""))
		store.Save(ctx, stored)
		store.failLoad.Store(true)
		s := mtSource(t, c, SourceConfig{Store: store})
		if _, err := s.TokenContext(ctx); !errors.Is(err, errStoreDown) {
			t.Fatalf("error = %v; want the Store's", err)
		}
		store.failLoad.Store(false)
		clock.Advance(2 * time.Second) // past the backoff
		tok, err := s.TokenContext(ctx)
		if err != nil || tok.AccessToken != stored.AccessToken {
			t.Errorf("TokenContext = %v, %v; want the stored token, read again", tok, err)
		}
	})
}

// loadsFromStoreValid: a valid stored token is served with no token call.
func loadsFromStoreValid(t *testing.T, clock *oauthtest.Clock, srv *oauthtest.Server, c *Client) {
	ctx := mtImpatient(t)
	fs, err := NewFileStore(t.TempDir() + "/tok.json")
	if err != nil {
		t.Fatal(err)
	}
	stored := mtIssued(clock, srv.Issue("", ""))
	if err := fs.Save(ctx, stored); err != nil {
		t.Fatal(err)
	}
	before := srv.Stats().TokenCallsTotal
	s := mtSource(t, c, SourceConfig{Store: fs})
	tok, err := s.TokenContext(ctx)
	if err != nil || tok.AccessToken != stored.AccessToken {
		t.Fatalf("TokenContext = %v, %v; want the stored token", tok, err)
	}
	if after := srv.Stats().TokenCallsTotal; after != before {
		t.Errorf("token calls = %d; want none", after-before)
	}
}

// loadsFromStoreExpired: an expired stored token is refreshed with its
// refresh token, and the rotated one is saved back.
func loadsFromStoreExpired(t *testing.T, clock *oauthtest.Clock, srv *oauthtest.Server, c *Client) {
	ctx := mtImpatient(t)
	fs, err := NewFileStore(t.TempDir() + "/tok.json")
	if err != nil {
		t.Fatal(err)
	}
	stored := mtIssued(clock, srv.Issue("", ""))
	fs.Save(ctx, stored)
	clock.Advance(time.Hour)
	s := mtSource(t, c, SourceConfig{Store: fs})
	tok, err := s.TokenContext(ctx)
	if err != nil || tok.AccessToken == stored.AccessToken {
		t.Fatalf("TokenContext = %v, %v; want a token refreshed with the stored refresh token", tok, err)
	}
	saved, _ := fs.Load(ctx)
	if saved.RefreshToken != tok.RefreshToken {
		t.Error("the rotated refresh token was not saved back")
	}
}

// Acceptance 7: a failing Store.Save is an EventStoreFailed, and the new
// refresh token is still used from memory.
func TestSourceStoreSaveFailure(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	events := &mtEvents{}
	store := &mtFlakyStore{}
	store.failSave.Store(true)
	s := mtSource(t, c, SourceConfig{Token: mtIssued(clock, srv.Issue("", "")), Store: store, OnEvent: events.on})
	ctx := mtCtx(t)

	clock.Advance(time.Hour)
	tok1, err := s.TokenContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := events.last(EventStoreFailed)
	if !ok || !errors.Is(ev.Err, errStoreDown) {
		t.Fatalf("store event = %+v; want EventStoreFailed with the Save error", ev)
	}
	clock.Advance(time.Hour)
	tok2, err := s.TokenContext(ctx)
	if err != nil || tok2.AccessToken == tok1.AccessToken {
		t.Fatalf("second refresh = %v, %v; want a new token from the in-memory refresh token", tok2, err)
	}
	if st := srv.Stats(); st.RefreshReuse != 0 || st.TokenCalls["refresh_token"] != 2 {
		t.Errorf("stats = %+v; want 2 refreshes, no reuse", st)
	}
	if n := events.count(EventStoreFailed); n != 2 {
		t.Errorf("EventStoreFailed = %d; want 2", n)
	}
}

// Acceptance 9: a caller whose context ends returns at once; the others
// get the token from the refresh, which goes on.
func TestSourceCancelledCallerReturnsPromptly(t *testing.T) {
	clock, ts, s := mtHourSource(t)
	clock.Advance(time.Hour)
	ts.hold()

	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled := make(chan error, 1)
	go func() {
		_, err := s.TokenContext(cctx)
		cancelled <- err
	}()
	mtRecv(t, ts.entered, "the refresh")
	const n = 20
	others := make(chan string, n)
	for range n {
		go func() {
			tok, err := s.TokenContext(mtCtx(t))
			if err != nil {
				others <- err.Error()
				return
			}
			others <- tok.AccessToken
		}()
	}
	cancel()
	if err := mtRecv(t, cancelled, "the cancelled caller"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v; want context.Canceled", err)
	}
	ts.release()
	for range n {
		if got := mtRecv(t, others, "the other callers"); got != "at-1" {
			t.Errorf("other caller got %s; want at-1", got)
		}
	}
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls = %d; want 1", calls)
	}
}

// Acceptance 9: the refresh runs on its own bounded context.
func TestSourceRefreshTimeout(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour), RefreshTimeout: 50 * time.Millisecond})
	clock.Advance(time.Hour)
	ts.hold() // the server never answers
	done := make(chan error, 1)
	go func() {
		_, err := s.TokenContext(context.Background())
		done <- err
	}()
	err := mtRecv(t, done, "the refresh timeout")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !IsRetryable(err) || !strings.Contains(err.Error(), "RefreshTimeout") {
		t.Errorf("error = %v; want a temporary deadline error that names RefreshTimeout", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("error %v is not a transient net.Error timeout", err)
	}
	// A slow endpoint is transient: the next attempt is not a minute
	// away.
	s.mu.Lock()
	wait := time.Duration(s.retryAt.Load() - clock.Now().UnixNano())
	s.mu.Unlock()
	if wait < time.Second || wait > 1500*time.Millisecond {
		t.Errorf("next attempt in %v; want the first backoff step, 1s to 1.5s", wait)
	}
}

// A waiter that joins a refresh whose token has expired by the time it
// wakes (the clock jumped) waits for one more refresh instead of using it.
func TestSourceTokenExpiredOnArrival(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	var jumps atomic.Int32
	s := mtSource(t, c, SourceConfig{
		Token: mtToken(clock, "at-0", "rt-0", time.Hour),
		OnToken: func(context.Context, *Token) {
			if jumps.Add(1) == 1 {
				clock.Advance(2 * time.Hour)
			}
		},
	})
	clock.Advance(time.Hour)
	tok, err := s.TokenContext(mtCtx(t))
	if err != nil || tok.AccessToken != "at-2" {
		t.Errorf("TokenContext = %v, %v; want at-2, from a second refresh", tok, err)
	}
	if calls := ts.calls.Load(); calls != 2 {
		t.Errorf("token calls = %d; want 2", calls)
	}
	// Bounded: a clock that jumps at every refresh gets an answer after
	// three.
	jumps.Store(-100)
	s2 := mtSource(t, c, SourceConfig{
		Token:   mtToken(clock, "at-x", "rt-x", time.Hour),
		OnToken: func(context.Context, *Token) { clock.Advance(2 * time.Hour) },
	})
	clock.Advance(time.Hour)
	before := ts.calls.Load()
	if _, err := s2.TokenContext(mtCtx(t)); err != nil {
		t.Fatal(err)
	}
	if calls := ts.calls.Load() - before; calls != 3 {
		t.Errorf("token calls with a jumping clock = %d; want 3", calls)
	}
}

// Acceptance 10: Close cancels the refresh in flight, wakes its waiters
// Acceptance 10: Close does not cut a refresh in flight (the provider may
// already have rotated the refresh token): it waits for the answer, which
// is saved and handed to the waiters; afterwards every call returns
// ErrClosed and no goroutine is left.
func TestSourceCloseWaitsForRefresh(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	store := &memoryStore{}
	s, err := NewSource(c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	s.cfg.Store = store
	clock.Advance(time.Hour)
	ts.hold()
	const n = 10
	type result struct {
		tok *Token
		err error
	}
	got := make(chan result, n)
	for range n {
		go func() {
			tok, err := s.TokenContext(context.Background())
			got <- result{tok, err}
		}()
	}
	mtRecv(t, ts.entered, "the refresh")
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while the refresh was in flight")
	default:
	}
	ts.release()
	if err := mtRecv(t, closed, "Close"); err != nil {
		t.Errorf("Close = %v", err)
	}
	for range n {
		// A waiter that joined the refresh gets its token; one that
		// arrived after Close began gets ErrClosed.
		r := mtRecv(t, got, "the waiters")
		if (r.tok == nil || r.tok.AccessToken != "at-1") && !errors.Is(r.err, ErrClosed) {
			t.Errorf("waiter got %v, %v; want the refreshed token at-1 or ErrClosed", r.tok, r.err)
		}
	}
	if saved, _ := store.Load(context.Background()); saved == nil || saved.RefreshToken != "rt-1" {
		t.Errorf("stored %v; want the rotated refresh token rt-1 saved", saved)
	}
	checkClosed(t, s, ts.ts.URL)
	ts.ts.Close()
	goleak.VerifyNone(t, ignore)
}

// checkClosed checks that every call on the closed s fails with ErrClosed
// (a Transport's request body closed once), and that Close again is nil.
func checkClosed(t *testing.T, s *Source, url string) {
	t.Helper()
	if _, err := s.TokenContext(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("TokenContext after Close: %v; want ErrClosed", err)
	}
	if _, err := s.Token(); !errors.Is(err, ErrClosed) {
		t.Errorf("Token after Close: %v; want ErrClosed", err)
	}
	if _, err := s.Renew(context.Background(), s.cur.Load().tok); !errors.Is(err, ErrClosed) {
		t.Errorf("Refresh after Close: %v; want ErrClosed", err)
	}
	body := &mtBody{r: strings.NewReader("x")}
	req, _ := http.NewRequest(http.MethodPost, url, body)
	if _, err := (&Transport{Source: s}).RoundTrip(req); !errors.Is(err, ErrClosed) || body.closes.Load() != 1 {
		t.Errorf("RoundTrip after Close: %v, body closed %d times; want ErrClosed, once", err, body.closes.Load())
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// Acceptance 10: a background refresh running at Close is finished and
// saved, then nothing more runs.
func TestSourceCloseFinishesBackgroundRefresh(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	var tokens atomic.Int32
	s, err := NewSource(c, SourceConfig{
		Token:   mtToken(clock, "at-0", "rt-0", time.Hour),
		OnToken: func(context.Context, *Token) { tokens.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(mtT0.Add(56 * time.Minute))
	ts.hold()
	if tok, err := s.TokenContext(context.Background()); err != nil || tok.AccessToken != "at-0" {
		t.Fatalf("TokenContext = %v, %v", tok, err)
	}
	mtRecv(t, ts.entered, "the background refresh")
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	ts.release()
	mtRecv(t, closed, "Close")
	if tokens.Load() != 1 {
		t.Errorf("OnToken calls = %d; want 1: the rotated token is handed over, not dropped", tokens.Load())
	}
	if _, err := s.TokenContext(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v; want ErrClosed", err)
	}
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls = %d; want 1", calls)
	}
}

// Acceptance 11: the Logger and OnEvent see refreshes, failures, logins
// and 401s, and no secret.
func TestSourceObservabilityNoSecrets(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	var buf syncBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = srv.URL()
	cfg.Clock = clock
	cfg.HTTPClient = srv.Client()
	cfg.Logger = logger
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	events := &mtEvents{}
	var (
		mu      sync.Mutex
		secrets = []string{oauthtest.DefaultPassword, oauthtest.DefaultClientSecret}
	)
	s := mtSource(t, c, SourceConfig{
		Login:   mtDaxiumLogin,
		OnEvent: events.on,
		OnToken: func(_ context.Context, tok *Token) {
			mu.Lock()
			secrets = append(secrets, tok.AccessToken, tok.RefreshToken)
			mu.Unlock()
		},
	})
	api := s.HTTPClient(srv.Client().Transport)
	ctx := mtCtx(t)

	// login, then a background refresh, a failed one, a 401 recovery.
	if status, err := mtGet(ctx, api, srv.APIURL()); err != nil || status != http.StatusOK {
		t.Fatalf("API: %d, %v", status, err)
	}
	clock.Advance(56 * time.Minute)
	s.TokenContext(ctx)
	mtIdle(t, s)
	clock.Advance(56 * time.Minute)
	srv.FailNext(1, http.StatusBadGateway)
	s.TokenContext(ctx)
	mtIdle(t, s)
	tok, _ := s.TokenContext(ctx)
	srv.Revoke(tok.AccessToken)
	clock.Advance(2 * time.Second)
	if status, err := mtGet(ctx, api, srv.APIURL()); err != nil || status != http.StatusOK {
		t.Fatalf("API after revocation: %d, %v", status, err)
	}
	mtIdle(t, s) // a renewal the clock started logs and reports before we count

	out := buf.String()
	mu.Lock()
	for _, secret := range secrets {
		if secret != "" && strings.Contains(out, secret) {
			t.Errorf("log output contains the secret %q", secret)
		}
	}
	mu.Unlock()
	for _, want := range []struct {
		kind EventKind
		msg  string
	}{
		{EventRefreshStarted, "tokenkeeper: refresh started"},
		{EventRefreshSucceeded, "tokenkeeper: refresh succeeded"},
		{EventRefreshFailed, "tokenkeeper: refresh failed"},
		{EventUnauthorized, "tokenkeeper: 401 from API"},
	} {
		logged := strings.Count(out, `"msg":"`+want.msg+`"`)
		if n := events.count(want.kind); n == 0 || n != logged {
			t.Errorf("%v: %d events, %d log lines; want the same, at least one", want.kind, n, logged)
		}
	}
	if ev, ok := events.last(EventUnauthorized); !ok || !ev.Recovered {
		t.Errorf("401 event = %+v; want Recovered", ev)
	}
	if !strings.Contains(out, `"level":"WARN","msg":"tokenkeeper: refresh failed"`) {
		t.Error("a failed refresh is not logged at WARN")
	}
}

// Every kind of event reaches the Logger at its level, without secrets.
func TestSourceEmitLevels(t *testing.T) {
	var buf syncBuffer
	c, err := New(Config{TokenURL: "http://127.0.0.1:1/token", ClientID: "client-1", Clock: oauthtest.NewClock(mtT0),
		Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	s := mtSource(t, c, SourceConfig{Token: &Token{AccessToken: "a"}})
	for _, k := range mtEventKinds {
		s.emit(nil, Event{Kind: k, Grant: "g", Err: errors.New("e")})
	}
	s.emit(nil, Event{Kind: EventRefreshStarted, Grant: "password", Login: loginRelogin})
	s.emit(nil, Event{Kind: EventStoreFailed, Op: opLock, Err: errors.New("down")})
	out := buf.String()
	for _, want := range []string{
		`"level":"DEBUG","msg":"tokenkeeper: refresh started","grant_type":"g","error":"e"`,
		`"level":"WARN","msg":"tokenkeeper: store failed"`,
		`"level":"WARN","msg":"tokenkeeper: store failed","op":"lock","error":"down"`,
		`"level":"INFO","msg":"tokenkeeper: refresh started","grant_type":"password","login":"relogin"`,
		`"level":"INFO","msg":"tokenkeeper: 401 from API","grant_type":"g","recovered":false`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s in\n%s", want, out)
		}
	}
}

// checkRelogin checks that the last token request was one re-login with
// grant, after a refresh refused with refused.
func checkRelogin(t *testing.T, events *mtEvents, grant string, refused error) {
	t.Helper()
	logins := events.where(mtIsLogin)
	if len(logins) != 1 || logins[0].Grant != grant || logins[0].Login != "relogin" {
		t.Errorf("login events = %+v; want one re-login with grant %s", logins, grant)
	}
	if ev, ok := events.last(EventRefreshStarted); !ok || ev.Grant != grant {
		t.Errorf("last token request = %+v; want the login", ev)
	}
	refreshes := events.where(func(ev Event) bool { return ev.Kind == EventRefreshStarted && ev.Grant == "refresh_token" })
	if n := len(refreshes); n == 0 || !errors.Is(refreshes[n-1].Err, refused) {
		t.Errorf("refresh events = %+v; want the last one refused with %v", refreshes, refused)
	}
}

// mtEventKinds are all the kinds of Event.
var mtEventKinds = []EventKind{EventRefreshStarted, EventRefreshSucceeded, EventRefreshFailed,
	EventStoreFailed, EventUnauthorized, EventWaited}

func TestEventKindNames(t *testing.T) {
	// Every kind has its own name.
	seen := map[EventKind]bool{}
	for _, k := range mtEventKinds {
		if k == "" || seen[k] {
			t.Errorf("EventKind %q is empty or not unique", k)
		}
		seen[k] = true
	}
}

// Acceptance 12: a Source is an oauth2.TokenSource and the base of an
// oauth2.ReuseTokenSource.
func TestSourceOAuth2TokenSource(t *testing.T) {
	clock := oauthtest.NewClock(time.Now())
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	c := mtDaxiumClient(t, srv.URL(), clock, srv.Client())
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first})

	var ts oauth2.TokenSource = oauth2.ReuseTokenSource(nil, s)
	ot, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if ot.AccessToken != first.AccessToken || ot.RefreshToken != first.RefreshToken || !ot.Expiry.Equal(first.Expiry) || ot.Type() != "Bearer" {
		t.Errorf("oauth2 token = %+v; want the Source's", ot)
	}
	ctx := context.WithValue(mtCtx(t), oauth2.HTTPClient, srv.Client())
	client := oauth2.NewClient(ctx, ts)
	if status, err := mtGet(ctx, client, srv.APIURL()); err != nil || status != http.StatusOK {
		t.Errorf("API through oauth2.NewClient: %d, %v", status, err)
	}
	clock.Advance(time.Hour)
	ot2, err := s.Token()
	if err != nil || ot2.AccessToken == first.AccessToken {
		t.Errorf("Token after expiry = %+v, %v; want a refreshed token", ot2, err)
	}
}

func TestNewSourceValidates(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	c := mtClient(t, "http://127.0.0.1:1/token", clock, nil)
	transiteo := Transiteo("id")
	transiteo.BaseURL = "http://127.0.0.1:1"
	cfgT, err := New(transiteo)
	if err != nil {
		t.Fatal(err)
	}
	tok := &Token{AccessToken: "a"}
	tests := []struct {
		name string
		c    *Client
		cfg  SourceConfig
		want string
	}{
		{"nil client", nil, SourceConfig{Token: tok}, "nil Client"},
		{"no way to a token", c, SourceConfig{}, "no way to a first token"},
		{"empty token", c, SourceConfig{Token: &Token{IDToken: "i"}}, "neither an access nor a refresh token"},
		{"negative early refresh", c, SourceConfig{Token: tok, EarlyRefresh: -1}, "EarlyRefresh is negative"},
		{"negative timeout", c, SourceConfig{Token: tok, RefreshTimeout: -1}, "RefreshTimeout is negative"},
		{"negative relogin", c, SourceConfig{Token: tok, ReloginInterval: -1}, "ReloginInterval is negative"},
		{"backoff order", c, SourceConfig{Token: tok, MinBackoff: time.Minute, MaxBackoff: time.Second}, "MaxBackoff is less than MinBackoff"},
		{"credential missing", cfgT, SourceConfig{Token: tok}, "no id_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSource(tt.c, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewSource error = %v; want one containing %q", err, tt.want)
			}
			if s != nil {
				t.Error("NewSource returned a Source with its error")
			}
		})
	}
	s := mtSource(t, c, SourceConfig{Token: &Token{AccessToken: "secret-access", RefreshToken: "secret-refresh"}})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, "secret") || !strings.Contains(out, "tokenkeeper.Source{") {
			t.Errorf("Sprintf(%s) = %s; want a description without secrets", verb, out)
		}
	}
	empty := mtSource(t, c, SourceConfig{Login: mtDaxiumLogin})
	if out := fmt.Sprint(empty); !strings.Contains(out, "tokenkeeper.Source{") {
		t.Errorf("Sprint of a Source without token = %s", out)
	}
}

// A token whose credential cannot be sent is kept for its refresh token
// but never served: callers get the error, and a refresh replaces the
// token once the (transient) backoff has passed.
func TestSourceTokenWithoutCredential(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
		body := map[string]any{"access_token": fmt.Sprintf("at-%d", n), "refresh_token": fmt.Sprintf("rt-%d", n), "expires_in": 3600}
		if n > 1 {
			body["id_token"] = fmt.Sprintf("id-%d", n)
		}
		mtWriteJSON(w, http.StatusOK, body)
	})
	cfg := Transiteo("id")
	cfg.BaseURL = ts.ts.URL
	cfg.TokenURL = ts.url()
	cfg.Clock = clock
	cfg.HTTPClient = ts.ts.Client()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store := &memoryStore{}
	events := &mtEvents{}
	s := mtSource(t, c, SourceConfig{Token: &Token{RefreshToken: "rt-0"}, Store: store, OnEvent: events.on})
	ctx := mtImpatient(t) // the clock does not move while a caller waits
	if tok, err := s.TokenContext(ctx); err == nil || !strings.Contains(err.Error(), "no id_token") {
		t.Fatalf("TokenContext = %v, %v; want the credential error", tok, err)
	}
	if saved, _ := store.Load(ctx); saved == nil || saved.RefreshToken != "rt-1" {
		t.Errorf("stored %v; want the token kept, with its refresh token rt-1", saved)
	}
	if ev, ok := events.last(EventRefreshFailed); !ok || ev.Delay > 1500*time.Millisecond {
		t.Errorf("failure event %+v; want a transient backoff of at most 1.5 × MinBackoff", ev)
	}
	checkNoCredentialRoundTrip(t, s, ts.ts.URL)
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls during the backoff = %d; want 1", calls)
	}
	clock.Advance(2 * time.Second)
	tok, err := s.TokenContext(ctx)
	if err != nil || tok.IDToken != "id-2" {
		t.Fatalf("after the backoff TokenContext = %v, %v; want the new token", tok, err)
	}
	if rt := ts.form(2).Get("refresh_token"); rt != "rt-1" {
		t.Errorf("second refresh sent %q; want the kept rt-1", rt)
	}
}

// checkNoCredentialRoundTrip checks that a request through s fails with
// the credential error and its body closed once.
func checkNoCredentialRoundTrip(t *testing.T, s *Source, url string) {
	t.Helper()
	body := &mtBody{r: strings.NewReader("x")}
	req, _ := http.NewRequestWithContext(mtImpatient(t), http.MethodPost, url, body)
	_, err := s.HTTPClient(nil).Transport.RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "no id_token") || body.closes.Load() != 1 {
		t.Errorf("RoundTrip = %v, body closed %d times; want the credential error, body closed once", err, body.closes.Load())
	}
}

// Two Sources sharing a store with a lock refresh a rotating credential
// once between them: the second takes the first's token.
func TestSourceSharedStoreRotation(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)
	store := &mtSharedStore{}
	first := mtIssued(clock, srv.Issue("", ""))
	store.Save(ctx, first)
	evA, evB := &mtEvents{}, &mtEvents{}
	a := mtSource(t, c, SourceConfig{Store: store, OnEvent: evA.on})
	b := mtSource(t, c, SourceConfig{Store: store, OnEvent: evB.on})
	for _, s := range []*Source{a, b} {
		if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != first.AccessToken {
			t.Fatalf("TokenContext = %v, %v; want the stored token", tok, err)
		}
	}
	for round := range 4 {
		clock.Advance(time.Hour)
		one, other := a, b
		if round%2 == 1 {
			one, other = b, a
		}
		t1, err := one.TokenContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t2, err := other.TokenContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if t1.AccessToken != t2.AccessToken || t1.RefreshToken != t2.RefreshToken {
			t.Fatalf("round %d: the Sources hold different tokens", round)
		}
	}
	if st := srv.Stats(); st.TokenCalls["refresh_token"] != 4 || st.RefreshReuse != 0 {
		t.Errorf("stats = %+v; want 4 refreshes for 8 expiries, no reuse", st)
	}
	if a, b := len(evA.where(mtIsShared)), len(evB.where(mtIsShared)); a+b != 4 {
		t.Errorf("renewals that took the shared token = %d + %d; want 4", a, b)
	}
	if store.held {
		t.Error("the lock is still held")
	}
}

// While another process holds the lock, a Source waits for the token it
// stores instead of refreshing.
func TestSourceSharedStoreWaitsForHolder(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)
	store := &mtSharedStore{tried: make(chan struct{}, 1)}
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first, Store: store})
	clock.Advance(time.Hour)

	store.setHeld(true) // another process is refreshing
	got := make(chan *Token, 1)
	go func() {
		tok, err := s.TokenContext(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- tok
	}()
	mtRecv(t, store.tried, "a lock attempt")
	// The other process finishes: it stores its token and unlocks.
	other, err := c.refresh(ctx, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	store.Save(ctx, other)
	store.setHeld(false)
	if tok := mtRecv(t, got, "the token"); tok == nil || tok.AccessToken != other.AccessToken {
		t.Errorf("got %v; want the other process's token", tok)
	}
	if st := srv.Stats(); st.TokenCallsTotal != 1 || st.RefreshReuse != 0 {
		t.Errorf("stats = %+v; want only the other process's refresh", st)
	}
}

// A stored refresh token newer than the Source's is used even when the
// stored access token cannot be: presenting the old one would be reuse.
func TestSourceSharedStoreNewerRefreshToken(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)
	store := &mtSharedStore{}
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first, Store: store})

	clock.Advance(30 * time.Minute)
	other, err := c.refresh(ctx, first.RefreshToken) // another process rotates
	if err != nil {
		t.Fatal(err)
	}
	store.Save(ctx, &Token{RefreshToken: other.RefreshToken, IssuedAt: other.IssuedAt})
	clock.Advance(time.Hour)
	tok, err := s.TokenContext(ctx)
	if err != nil {
		t.Fatalf("TokenContext: %v; want a refresh with the stored refresh token", err)
	}
	if st := srv.Stats(); st.RefreshReuse != 0 {
		t.Errorf("refresh token reuse = %d; want 0", st.RefreshReuse)
	}
	if saved, _ := store.Load(ctx); saved.AccessToken != tok.AccessToken {
		t.Error("the new token was not stored")
	}
}

// The lock's failures: unreachable (refresh locally), unlock failing,
// Load failing under the lock, and Close while waiting for a holder.
func TestSourceSharedStoreFailures(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	ctx := mtCtx(t)

	t.Run("lock unreachable", func(t *testing.T) {
		store := &mtSharedStore{}
		store.lockErr.Store(true)
		events := &mtEvents{}
		s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour), Store: store, OnEvent: events.on})
		clock.Advance(time.Hour)
		if _, err := s.TokenContext(ctx); err != nil {
			t.Fatal(err)
		}
		if evs := events.where(mtIsLockFallback); len(evs) != 1 || !errors.Is(evs[0].Err, errStoreDown) {
			t.Errorf("lock events = %+v; want one EventStoreFailed with Op lock", evs)
		}
	})
	t.Run("unlock and load fail", func(t *testing.T) {
		store := &mtSharedStore{}
		events := &mtEvents{}
		s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour), Store: store, OnEvent: events.on})
		if _, err := s.TokenContext(ctx); err != nil { // the seed goes to the empty store
			t.Fatal(err)
		}
		store.unlockErr.Store(true)
		store.failLoad.Store(true)
		clock.Advance(time.Hour)
		if _, err := s.TokenContext(ctx); err != nil {
			t.Fatal(err)
		}
		if n := events.count(EventStoreFailed); n != 2 {
			t.Errorf("EventStoreFailed = %d; want 2 (load, unlock)", n)
		}
	})
	t.Run("shared token found but unlock fails", func(t *testing.T) {
		store := &mtSharedStore{}
		events := &mtEvents{}
		s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour), Store: store, OnEvent: events.on})
		if _, err := s.TokenContext(ctx); err != nil { // the seed goes to the empty store
			t.Fatal(err)
		}
		store.unlockErr.Store(true)
		clock.Advance(time.Hour)
		store.Save(ctx, mtToken(clock, "at-shared", "rt-shared", time.Hour))
		tok, err := s.TokenContext(ctx)
		if err != nil || tok.AccessToken != "at-shared" {
			t.Fatalf("TokenContext = %v, %v; want the shared token", tok, err)
		}
		if events.count(EventStoreFailed) != 1 || len(events.where(mtIsShared)) != 1 {
			t.Errorf("events = %+v", events.all())
		}
	})
	t.Run("close while another holds the lock", func(t *testing.T) {
		store := &mtSharedStore{tried: make(chan struct{}, 1)}
		store.setHeld(true)
		s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour), Store: store})
		clock.Advance(time.Hour)
		errs := make(chan error, 1)
		go func() {
			_, err := s.TokenContext(context.Background())
			errs <- err
		}()
		mtRecv(t, store.tried, "a lock attempt")
		s.Close()
		if err := mtRecv(t, errs, "the waiter"); !errors.Is(err, ErrClosed) {
			t.Errorf("error = %v; want ErrClosed", err)
		}
	})
	t.Run("lock error after close", func(t *testing.T) {
		store := &mtSharedStore{}
		s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour), Store: store})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		store.lockErr.Store(true)
		if _, err := s.lockShared(&flight{}, ctx, store, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("lockShared with a cancelled context = %v; want context.Canceled", err)
		}
	})
}

// A first login that fails for a transient reason (here a 503) is spaced
// by the backoff, not by ReloginInterval: once the backoff has passed, the
// next caller logs in.
func TestSourceTransientLoginFailureKeepsLoginBudget(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtImpatient(t) // the clock does not move while a caller waits
	s := mtSource(t, c, SourceConfig{Login: mtDaxiumLogin, MinBackoff: time.Second, MaxBackoff: 2 * time.Second})

	srv.FailNext(1, http.StatusServiceUnavailable)
	_, err := s.TokenContext(ctx)
	var pe *Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("first login: %v; want the 503 *Error", err)
	}
	clock.Advance(3 * time.Second) // past the backoff, well within ReloginInterval
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatalf("second login after the backoff: %v", err)
	}
	if got := srv.Stats().TokenCalls["password"]; got != 2 {
		t.Errorf("password grants = %d; want 2", got)
	}
}

// Under a Locker with a lease, a refresh that would outlive the lock's lease is cut
// at nine tenths of it, as a transient failure that names the lease, so
// that normally no other process takes the lock while it runs.
func TestSourceRefreshEndsWithinLease(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtImpatient(t) // the clock does not move while a caller waits
	store := &mtLeaseStore{lease: 200 * time.Millisecond}
	store.Save(ctx, mtIssued(clock, srv.Issue("", "")))
	s := mtSource(t, c, SourceConfig{Store: store})
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Hour)
	srv.HangNext(1)
	_, err := s.TokenContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "lease") || !IsRetryable(err) {
		t.Fatalf("refresh past the lease: %v; want a temporary timeout naming the lease", err)
	}
	if store.held {
		t.Error("the lock is still held after the refresh ended")
	}
	// The refresh token was not spent: the next attempt succeeds.
	mtSkipBackoff(s)
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatalf("refresh after the cut one: %v", err)
	}
	if st := srv.Stats(); st.RefreshReuse != 0 {
		t.Errorf("refresh reuse = %d; want 0", st.RefreshReuse)
	}
}

// A login answered 429 (DAERR-LOG013) counts against ReloginInterval: the
// Source does not try again on the short transient backoff, which is how
// accounts get locked out.
func TestSourceRateLimitedLoginIsSpaced(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtImpatient(t) // the clock does not move while a caller waits
	s := mtSource(t, c, SourceConfig{Login: mtDaxiumLogin, MinBackoff: time.Second, MaxBackoff: 2 * time.Second})
	srv.RateLimitNext(1, 0)
	if _, err := s.TokenContext(ctx); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("first login: %v; want ErrRateLimited", err)
	}
	for range 20 { // 20 s: past every transient backoff, within ReloginInterval
		clock.Advance(time.Second)
		s.TokenContext(ctx)
	}
	if got := srv.Stats().TokenCalls["password"]; got != 1 {
		t.Errorf("password grants in 20 s = %d; want 1", got)
	}
	clock.Advance(time.Minute)
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatalf("login after ReloginInterval: %v", err)
	}
}

// A refresh token the provider rejected for good is not presented again
// before each later login attempt.
func TestSourceDeadRefreshTokenNotReused(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)
	first := mtIssued(clock, srv.Issue("", ""))
	srv.RevokeRefreshToken(first.RefreshToken)
	s := mtSource(t, c, SourceConfig{Token: first, Login: PasswordGrant(oauthtest.DefaultUser, "wrong")})
	clock.Advance(time.Hour)
	for range 5 {
		s.TokenContext(ctx)
		clock.Advance(2 * time.Minute) // past every backoff and ReloginInterval
	}
	st := srv.Stats()
	if st.TokenCalls["refresh_token"] != 1 {
		t.Errorf("refresh_token grants = %d; want 1: the dead token is not presented again", st.TokenCalls["refresh_token"])
	}
	if st.TokenCalls["password"] != 5 {
		t.Errorf("password grants = %d; want 5, one per attempt", st.TokenCalls["password"])
	}
}

// With both a Token and a Store, a token the Store already holds (rotated
// by an earlier run) wins over the configured one, which would be dead; an
// empty Store is seeded with the configured token.
func TestSourceSeedTokenAndStore(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)
	seed := mtIssued(clock, srv.Issue("", ""))

	t.Run("stored token wins", func(t *testing.T) {
		store := &memoryStore{}
		rotated, err := c.refresh(ctx, seed.RefreshToken) // an earlier run rotated it
		if err != nil {
			t.Fatal(err)
		}
		store.Save(ctx, rotated)
		s := mtSource(t, c, SourceConfig{Token: seed, Store: store})
		tok, err := s.TokenContext(ctx)
		if err != nil || tok.AccessToken != rotated.AccessToken {
			t.Fatalf("TokenContext = %v, %v; want the stored token", tok, err)
		}
		clock.Advance(time.Hour)
		if _, err := s.TokenContext(ctx); err != nil {
			t.Fatalf("refresh with the stored refresh token: %v", err)
		}
		if st := srv.Stats(); st.RefreshReuse != 0 {
			t.Errorf("refresh reuse = %d; want 0: the dead seed was presented", st.RefreshReuse)
		}
	})
	t.Run("empty store is seeded", func(t *testing.T) {
		store := &memoryStore{}
		fresh := mtIssued(clock, srv.Issue("", ""))
		s := mtSource(t, c, SourceConfig{Token: fresh, Store: store})
		tok, err := s.TokenContext(ctx)
		if err != nil || tok.AccessToken != fresh.AccessToken {
			t.Fatalf("TokenContext = %v, %v; want the configured token", tok, err)
		}
		if saved, _ := store.Load(ctx); saved == nil || saved.RefreshToken != fresh.RefreshToken {
			t.Errorf("stored %v; want the configured token saved", saved)
		}
	})
}

// A Store that cannot be read for a moment, with no login configured, is a
// transient failure: retried after the short backoff, and not reported as
// a login being needed.
func TestSourceStoreReadFailureIsTransient(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtImpatient(t) // the clock does not move while a caller waits
	store := &mtFlakyStore{}
	store.memoryStore.Save(ctx, mtIssued(clock, srv.Issue("", "")))
	store.failLoad.Store(true)
	s := mtSource(t, c, SourceConfig{Store: store, MinBackoff: time.Second, MaxBackoff: time.Minute})
	_, err := s.TokenContext(ctx)
	if !errors.Is(err, errStoreDown) || errors.Is(err, ErrLoginRequired) {
		t.Fatalf("error = %v; want the store failure, not ErrLoginRequired", err)
	}
	store.failLoad.Store(false)
	clock.Advance(2 * time.Second) // the transient backoff, not MaxBackoff
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatalf("after the store came back: %v", err)
	}
}

func TestNewSourceRejectsBadLogins(t *testing.T) {
	_, _, c := mtDaxium(t)
	for name, cfg := range map[string]SourceConfig{
		"both logins":    {Login: mtDaxiumLogin, LoginFunc: func(context.Context) (*Token, error) { return nil, nil }},
		"empty password": {Login: PasswordGrant("u", "")},
	} {
		if _, err := NewSource(c, cfg); err == nil {
			t.Errorf("%s: NewSource accepted it", name)
		}
	}
}

// A Store that cannot be read at first is not overwritten with the
// configured token, and its newer token is used once it answers.
func TestSourceSeedNotSavedOverUnreadableStore(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)
	seed := mtIssued(clock, srv.Issue("", ""))
	clock.Advance(10 * time.Minute)
	rotated, err := c.refresh(ctx, seed.RefreshToken) // earlier run rotated it
	if err != nil {
		t.Fatal(err)
	}
	store := &mtFailFirstLoads{}
	store.memoryStore.Save(ctx, rotated)
	store.n.Store(1)
	s := mtSource(t, c, SourceConfig{Token: seed, Store: store})
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Load(ctx); got.RefreshToken != rotated.RefreshToken {
		t.Errorf("store now holds the seed's refresh token: rotated one lost")
	}
	clock.Advance(time.Hour)
	s.TokenContext(ctx)
	if st := srv.Stats(); st.RefreshReuse != 0 {
		t.Errorf("RefreshReuse = %d: the dead seed refresh token was presented", st.RefreshReuse)
	}
}

// An expired configured token's refresh token is not presented while the
// Store, which may hold a newer one, cannot be read.
func TestSourceExpiredSeedNotPresentedOverUnreadableStore(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)
	seed := mtIssued(clock, srv.Issue("", ""))
	clock.Advance(10 * time.Minute)
	rotated, err := c.refresh(ctx, seed.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour) // seed's access token expired
	store := &mtFailFirstLoads{}
	store.memoryStore.Save(ctx, rotated)
	store.n.Store(1)
	s := mtSource(t, c, SourceConfig{Token: seed, Store: store})
	s.TokenContext(mtImpatient(t))
	if st := srv.Stats(); st.RefreshReuse != 0 {
		t.Errorf("RefreshReuse = %d: seed's dead refresh token presented while Store unreadable", st.RefreshReuse)
	}
}

// Two 401s to the same token may both force a refresh (they share it).
func TestSourceConcurrent401sMayAllForce(t *testing.T) {
	_, _, s := mtHourSource(t)
	st := s.cur.Load()
	if !s.mayForce(st) {
		t.Fatal("first")
	}
	// request 2 saw the same 401 a microsecond later, before request 1's await started the flight
	if !s.mayForce(st) {
		t.Errorf("second concurrent 401 on the same token refused: returned 401 without replay")
	}
}

// A proxy's HTML 403 on the token endpoint does not mark a static
// (Transiteo) refresh token dead.
func TestSourceProxy403DoesNotKillRefreshToken(t *testing.T) {
	clock, srv, c := mtTransiteo(t)
	srv.FailNext(1, http.StatusForbidden)
	s := mtSource(t, c, SourceConfig{Token: &Token{RefreshToken: srv.RefreshToken()}})
	if err := mtRetryRounds(t, s, clock, 5); err != nil {
		t.Errorf("10 min after one 403: %v; token calls %v", err, srv.Stats().TokenCalls)
	}
}

// Close during a refresh that is then rejected starts no login.
func TestSourceNoLoginAfterClose(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	refreshing := make(chan struct{}, 1)
	wire := mtRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.Contains(string(body), "grant_type=refresh_token") {
			refreshing <- struct{}{}
		}
		return srv.Client().Transport.RoundTrip(r)
	})
	c := mtDaxiumClient(t, srv.URL(), clock, &http.Client{Transport: wire})
	ctx := mtCtx(t)
	first := mtIssued(clock, srv.Issue("", ""))
	srv.RevokeRefreshToken(first.RefreshToken)
	srv.SetLatency(300 * time.Millisecond)
	s, _ := NewSource(c, SourceConfig{Token: first, Login: mtDaxiumLogin})
	clock.Advance(time.Hour)
	done := make(chan error, 1)
	go func() { _, err := s.TokenContext(ctx); done <- err }()
	mtRecv(t, refreshing, "the refresh")
	s.Close()
	mtRecv(t, done, "the caller")
	if n := srv.Stats().TokenCalls["password"]; n != 0 {
		t.Errorf("password grants started after Close: %d", n)
	}
}

// Close saves again a rotated token whose save failed.
func TestSourceCloseSavesUnsavedToken(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)
	store := &mtFlakyStore{}
	seed := mtIssued(clock, srv.Issue("", ""))
	store.memoryStore.Save(ctx, seed)
	s, _ := NewSource(c, SourceConfig{Store: store})
	clock.Advance(time.Hour)
	store.failSave.Store(true)
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatal(err)
	}
	store.failSave.Store(false)
	s.Close()
	got, _ := store.Load(ctx)
	if got.RefreshToken == seed.RefreshToken {
		t.Errorf("after Close the Store still holds the rotated-away refresh token")
	}
}

// A configured token holding only a refresh token, with an empty Store,
// is kept after a transient failure of its first refresh.
func TestSourceSeedKeptAfterTransientFailure(t *testing.T) {
	clock, srv, c := mtTransiteo(t)
	srv.FailNext(1, http.StatusServiceUnavailable)
	s := mtSource(t, c, SourceConfig{Token: &Token{RefreshToken: srv.RefreshToken()}, Store: &memoryStore{}})
	if err := mtRetryRounds(t, s, clock, 3); err != nil {
		t.Errorf("after one 503: %v (token calls %v)", err, srv.Stats().TokenCalls)
	}
}

// So is an expired token read from the Store.
func TestSourceStoredTokenKeptAfterTransientFailure(t *testing.T) {
	clock, srv, c := mtTransiteo(t)
	srv.FailNext(1, http.StatusServiceUnavailable)
	store := &memoryStore{}
	store.Save(mtCtx(t), &Token{AccessToken: "old", RefreshToken: srv.RefreshToken(), Expiry: mtT0.Add(-time.Hour)})
	s := mtSource(t, c, SourceConfig{Store: store})
	if err := mtRetryRounds(t, s, clock, 3); err != nil {
		t.Errorf("after one 503: %v (token calls %v)", err, srv.Stats().TokenCalls)
	}
}

// A login cut by RefreshTimeout (the provider hung) does not count against
// ReloginInterval.
func TestSourceTimedOutLoginKeepsLoginBudget(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	ctx := mtCtx(t)
	s := mtSource(t, c, SourceConfig{Login: mtDaxiumLogin, RefreshTimeout: 200 * time.Millisecond})
	srv.HangNext(1)
	_, err := s.TokenContext(mtImpatient(t))
	t.Logf("first: %v", err)
	clock.Advance(5 * time.Second)
	_, err = s.TokenContext(ctx)
	if err != nil {
		t.Errorf("5 s after a timed-out login: %v", err)
	}
}
