package tokenkeeper

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// The behaviour of the renewal engine, one test per rule of
// SourceConfig's documentation.

// rnArmedClock is a fake clock that reports every timer a Source arms to
// wait for its next attempt, so that a test moves time exactly when a
// caller waits.
type rnArmedClock struct {
	*oauthtest.Clock
	armed chan time.Duration
}

func rnNewArmedClock() *rnArmedClock {
	return &rnArmedClock{Clock: oauthtest.NewClock(mtT0), armed: make(chan time.Duration, 16)}
}

// AfterFunc arms a timer on the fake clock and reports it.
func (c *rnArmedClock) AfterFunc(d time.Duration, f func()) func() bool {
	stop := c.Clock.AfterFunc(d, f)
	c.armed <- d
	return stop
}

// rnDriveUntil runs call, moving the clock by each wait the Source arms,
// until call returns. It fails after max waits.
func rnDriveUntil[T any](t *testing.T, clock *rnArmedClock, max int, call func() T) (T, int) {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- call() }()
	for waits := 0; ; waits++ {
		select {
		case v := <-done:
			return v, waits
		case d := <-clock.armed:
			if waits == max {
				t.Fatalf("more than %d waits", max)
			}
			clock.Advance(d)
		case <-time.After(mtWait):
			t.Fatalf("timed out after %v", mtWait)
		}
	}
}

// rnAuth0ClientCredentials returns an Auth0 fake issuing client
// credentials tokens of the given lifetime, and a Source renewing them.
func rnAuth0ClientCredentials(t *testing.T, lifetime time.Duration, cfg SourceConfig) (*oauthtest.Clock, *oauthtest.Server, *Source) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock, TokenLifetime: lifetime})
	auth0 := Auth0("tenant.example.com", oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	auth0.BaseURL = srv.URL()
	c := rnClient(t, auth0, clock, srv.Client())
	cfg.Login = ClientCredentialsGrant(Param("audience", oauthtest.DefaultAudience))
	return clock, srv, mtSource(t, c, cfg)
}

func rnClient(t *testing.T, cfg Config, clock clock, hc *http.Client) *Client {
	t.Helper()
	cfg.Clock, cfg.HTTPClient = clock, hc
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Point 1: a token without a refresh token is renewed by its login grant
// on schedule, however short its lifetime; ReloginInterval plays no part.
func TestRenewalWithoutRefreshTokenUsesLoginOnSchedule(t *testing.T) {
	for _, life := range []time.Duration{15 * time.Second, 30 * time.Second, 60 * time.Second} {
		t.Run(life.String(), func(t *testing.T) {
			clock, srv, s := rnAuth0ClientCredentials(t, life, SourceConfig{})
			calls := int(5 * life / time.Second) // five lifetimes, one call a second
			for i := range calls {
				if _, err := s.TokenContext(mtImpatient(t)); err != nil {
					t.Fatalf("call %d at %v: %v", i, clock.Now().Sub(mtT0), err)
				}
				clock.Advance(time.Second)
			}
			mtIdle(t, s)
			// One renewal every three quarters of a lifetime, not one
			// per call.
			if logins, most := srv.Stats().Logins, 5*4/3+2; logins < 5 || logins > most {
				t.Errorf("token calls over %d calls = %d; want 5 to %d", calls, logins, most)
			}
		})
	}
}

// Point 1: a 401 from the API to a client credentials token issued
// seconds ago gets one forced renewal and a replay.
func TestRenewalWithoutRefreshTokenRecoversFrom401(t *testing.T) {
	clock, srv, s := rnAuth0ClientCredentials(t, time.Hour, SourceConfig{})
	ctx := mtCtx(t)
	tok, err := s.TokenContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Second)
	srv.Revoke(tok.AccessToken)
	status, err := mtGet(ctx, s.HTTPClient(srv.Client().Transport), srv.APIURL())
	if err != nil || status != http.StatusOK {
		t.Fatalf("API call with a revoked token = %d, %v; want 200 after one renewal and a replay", status, err)
	}
	if logins := srv.Stats().Logins; logins != 2 {
		t.Errorf("token calls = %d; want 2 (the first token, one forced renewal)", logins)
	}
}

// Point 1: ReloginInterval throttles a login after a rejected refresh
// token, and its error states the real wait.
func TestReloginIntervalStatesTheWait(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first, Login: mtDaxiumLogin})
	srv.RevokeRefreshToken(first.RefreshToken)
	clock.Advance(time.Hour)
	tok, err := s.TokenContext(mtCtx(t))
	if err != nil {
		t.Fatalf("first rejection: %v; want a re-login", err)
	}
	// 20 s later an API refuses the new token, and its refresh token is
	// rejected too: the re-login waits 40 s more, and says so.
	srv.RevokeRefreshToken(tok.RefreshToken)
	clock.Advance(20 * time.Second)
	_, err = s.Renew(mtImpatient(t), tok)
	if !errors.Is(err, ErrLoginRequired) || !strings.Contains(err.Error(), "allowed again in 40s (ReloginInterval)") {
		t.Fatalf("second rejection within ReloginInterval: %v; want the 40 s wait stated", err)
	}
	if n := srv.Stats().TokenCalls["password"]; n != 1 {
		t.Errorf("password grants = %d; want 1", n)
	}
}

// Point 2: with two 502s and then a 200, a caller with a deadline long
// enough waits for the attempts and gets its token after three calls.
func TestCallerWaitsForNextAttemptsWithinDeadline(t *testing.T) {
	clock := rnNewArmedClock()
	ts := mtNewTokenServer(t, 3600)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
		if n <= 2 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		mtWriteToken(w, "at-3", "rt-3", 3600)
	})
	c := mtClient(t, ts.url(), clock.Clock, ts.ts.Client())
	c.clock = clock
	s := mtSource(t, c, SourceConfig{Token: &Token{RefreshToken: "rt-0"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		tok *Token
		err error
	}
	r, waits := rnDriveUntil(t, clock, 5, func() result { tok, err := s.TokenContext(ctx); return result{tok, err} })
	if r.err != nil || r.tok.AccessToken != "at-3" {
		t.Fatalf("TokenContext = %v, %v; want at-3", r.tok, r.err)
	}
	if calls := ts.calls.Load(); calls != 3 || waits != 2 {
		t.Errorf("token calls = %d after %d waits; want 3 after 2", calls, waits)
	}
}

// Point 2: a caller whose deadline cannot reach the next attempt gets the
// last typed error at once, and so does a caller without a deadline when
// the attempt is further than RefreshTimeout; a permanent failure fails
// every caller at once.
func TestCallerFailsAtOnceWhenItCannotWait(t *testing.T) {
	newSource := func(t *testing.T, status int, body string) (*rnArmedClock, *Source) {
		clock := rnNewArmedClock()
		ts := mtNewTokenServer(t, 3600)
		ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		})
		c := mtClient(t, ts.url(), clock.Clock, ts.ts.Client())
		c.clock = clock
		return clock, mtSource(t, c, SourceConfig{Token: &Token{RefreshToken: "rt-0"}, RefreshTimeout: 200 * time.Millisecond})
	}
	check := func(t *testing.T, clock *rnArmedClock, call func() error, want func(error) bool) {
		t.Helper()
		err, waits := rnDriveUntil(t, clock, 0, call)
		if !want(err) || waits != 0 {
			t.Errorf("err = %v after %d waits; want the typed error at once", err, waits)
		}
	}
	is502 := func(err error) bool {
		var pe *Error
		return errors.As(err, &pe) && pe.StatusCode == http.StatusBadGateway
	}
	t.Run("short deadline", func(t *testing.T) {
		clock, s := newSource(t, http.StatusBadGateway, "<html>bad gateway</html>")
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		check(t, clock, func() error { _, err := s.TokenContext(ctx); return err }, is502)
	})
	t.Run("no deadline", func(t *testing.T) {
		clock, s := newSource(t, http.StatusBadGateway, "<html>bad gateway</html>")
		check(t, clock, func() error { _, err := s.Token(); return err }, is502)
	})
	t.Run("permanent", func(t *testing.T) {
		clock, s := newSource(t, http.StatusBadRequest, `{"error":"invalid_grant"}`)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		check(t, clock, func() error { _, err := s.TokenContext(ctx); return err },
			func(err error) bool { return errors.Is(err, ErrLoginRequired) && errors.Is(err, ErrInvalidGrant) })
	})
}

// Point 2: a rotation whose response was lost (the refresh token rotated
// at the provider, the answer cut) is a transient failure; the caller
// waits, the next attempt finds the refresh token dead, and one re-login
// gets a token.
func TestCallerWaitsThroughLostRotation(t *testing.T) {
	clock := rnNewArmedClock()
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock.Clock})
	c := mtDaxiumClient(t, srv.URL(), clock.Clock, srv.Client())
	c.clock = clock
	s := mtSource(t, c, SourceConfig{Token: mtIssued(clock.Clock, srv.Issue("", "")), Login: mtDaxiumLogin})
	srv.LoseNextRotation()
	clock.Advance(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err, _ := rnDriveUntil(t, clock, 3, func() error { _, err := s.TokenContext(ctx); return err })
	if err != nil {
		t.Fatalf("after a lost rotation: %v; want a token after one re-login", err)
	}
	if st := srv.Stats(); st.Logins != 1 {
		t.Errorf("logins = %d; want exactly 1", st.Logins)
	}
}

// Point 3: once renewals have failed, a token inside its skew is served
// until its real expiry; after it, callers get the failure.
func TestTokenServedUntilRealExpiryWhenRenewalsFail(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first})
	srv.FailNext(1000, http.StatusServiceUnavailable)
	clock.Advance(time.Hour - 2*time.Second) // inside the 3 s skew
	for i := range 3 {
		tok, err := s.TokenContext(mtImpatient(t))
		if err != nil || tok.AccessToken != first.AccessToken {
			t.Fatalf("call %d inside the skew with renewals failing = %v, %v; want the old token", i, tok, err)
		}
	}
	clock.Advance(2 * time.Second) // real expiry
	if _, err := s.TokenContext(mtImpatient(t)); !IsRetryable(err) {
		t.Errorf("after the real expiry: %v; want the renewal's transient failure", err)
	}
}

// Point 3: a rejection whose body arrives cut off is transient: retried
// after the transient backoff, and the refresh token is presented again.
func TestCutRejectionIsTransient(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"code":"DAERR-`) // and the connection ends
			return
		}
		mtWriteToken(w, "at-2", "rt-2", 3600)
	})
	events := &mtEvents{}
	s := mtSource(t, mtClient(t, ts.url(), clock, ts.ts.Client()), SourceConfig{Token: &Token{RefreshToken: "rt-0"}, OnEvent: events.on})
	if _, err := s.TokenContext(mtImpatient(t)); err == nil {
		t.Fatal("a cut rejection gave a token")
	}
	if ev, ok := events.last(EventRefreshFailed); !ok || ev.Delay > 1500*time.Millisecond {
		t.Errorf("failure %+v; want a transient backoff (at most 1.5 s), not MaxBackoff", ev)
	}
	clock.Advance(2 * time.Second)
	if tok, err := s.TokenContext(mtImpatient(t)); err != nil || tok.AccessToken != "at-2" {
		t.Fatalf("after the backoff = %v, %v; want at-2", tok, err)
	}
	if rt := ts.form(2).Get("refresh_token"); rt != "rt-0" {
		t.Errorf("second attempt presented %q; want rt-0 again", rt)
	}
}

// Point 4: during an outage covering the whole early-refresh window of a
// 1-hour token, every request is served and the token endpoint sees at
// most 10 attempts.
func TestOutageOverEarlyRefreshWindowIsBounded(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	first := mtIssued(clock, srv.Issue("", ""))
	s := mtSource(t, c, SourceConfig{Token: first})
	srv.FailNext(10000, http.StatusServiceUnavailable)
	clock.Advance(55 * time.Minute)
	for clock.Now().Before(first.Expiry.Add(-3 * time.Second)) {
		if _, err := s.TokenContext(mtImpatient(t)); err != nil {
			t.Fatalf("at %v: %v; want the valid token", clock.Now().Sub(mtT0), err)
		}
		mtIdle(t, s)
		clock.Advance(time.Second)
	}
	if attempts := srv.Stats().TokenCallsTotal; attempts < 6 || attempts > 10 {
		t.Errorf("attempts over the 5-minute window = %d; want at most 10 (and backoff, not silence)", attempts)
	}
}

// Point 5: a rejected client is not a dead refresh token: the refresh
// token is kept, no password is sent with the refused secret, and the
// error matches ErrInvalidClient.
func TestRejectedClientKeepsRefreshToken(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	cfg := DaxiumAir(oauthtest.DefaultClientID, "a-wrong-secret")
	cfg.BaseURL = srv.URL()
	c := rnClient(t, cfg, clock, srv.Client())
	store := &memoryStore{}
	seed := mtIssued(clock, srv.Issue("", ""))
	store.Save(mtCtx(t), seed)
	s := mtSource(t, c, SourceConfig{Store: store, Login: mtDaxiumLogin})
	clock.Advance(time.Hour)
	_, err := s.TokenContext(mtImpatient(t))
	if !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("refresh with a wrong secret: %v; want ErrInvalidClient", err)
	}
	if n := srv.Stats().TokenCalls["password"]; n != 0 {
		t.Errorf("password grants = %d; want none with a refused secret", n)
	}
	if kept, _ := store.Load(mtCtx(t)); kept == nil || kept.RefreshToken != seed.RefreshToken {
		t.Errorf("stored %v; want the refresh token kept", kept)
	}
}

// Point 7: after ErrLoginRequired, SetToken hands the Source the token of
// a new login: saved, given to OnToken, and served to a caller waiting.
func TestSetTokenIsTheWayBack(t *testing.T) {
	clock := rnNewArmedClock()
	ts := mtNewTokenServer(t, 3600)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) { w.WriteHeader(http.StatusBadGateway) })
	c := mtClient(t, ts.url(), clock.Clock, ts.ts.Client())
	c.clock = clock
	store := &memoryStore{}
	var hooked atomic.Pointer[Token]
	s := mtSource(t, c, SourceConfig{Token: &Token{RefreshToken: "rt-0"}, Store: store,
		OnToken: func(_ context.Context, t *Token) { hooked.Store(t) }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan *Token, 1)
	go func() { tok, _ := s.TokenContext(ctx); got <- tok }()
	mtRecv(t, clock.armed, "the caller waiting for the next attempt")
	fresh := mtToken(clock.Clock, "at-new", "rt-new", time.Hour)
	if err := s.SetToken(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if tok := mtRecv(t, got, "the waiting caller"); tok == nil || tok.AccessToken != "at-new" {
		t.Errorf("waiting caller got %v; want at-new", tok)
	}
	if saved, _ := store.Load(ctx); saved == nil || saved.RefreshToken != "rt-new" {
		t.Errorf("stored %v; want the new token", saved)
	}
	if h := hooked.Load(); h == nil || h.AccessToken != "at-new" {
		t.Errorf("OnToken saw %v; want the new token", h)
	}
	if err := s.SetToken(ctx, &Token{}); err == nil {
		t.Error("SetToken of an empty token: nil error")
	}
}

// Point 8: with early refresh off, a stale token is not renewed in the
// background; the renewal comes in the skew.
func TestDisableEarlyRefresh(t *testing.T) {
	clock, ts, _ := mtHourSource(t)
	s := mtSource(t, mtClient(t, ts.url(), clock, ts.ts.Client()),
		SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour), DisableEarlyRefresh: true})
	clock.Advance(58 * time.Minute)
	if tok, err := s.TokenContext(mtCtx(t)); err != nil || tok.AccessToken != "at-0" {
		t.Fatalf("at 58 min = %v, %v; want at-0", tok, err)
	}
	mtIdle(t, s)
	if calls := ts.calls.Load(); calls != 0 {
		t.Errorf("token calls at 58 min = %d; want none", calls)
	}
	clock.Advance(time.Minute + 58*time.Second)
	if tok, err := s.TokenContext(mtCtx(t)); err != nil || tok.AccessToken != "at-1" {
		t.Errorf("inside the skew = %v, %v; want at-1", tok, err)
	}
}

// Point 9: Close reports a last token that could not be saved.
func TestCloseReportsUnsavedToken(t *testing.T) {
	clock, ts, _ := mtHourSource(t)
	store := &mtFlakyStore{}
	store.failSave.Store(true)
	s, err := NewSource(mtClient(t, ts.url(), clock, ts.ts.Client()),
		SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if _, err := s.TokenContext(mtCtx(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err == nil || !strings.Contains(err.Error(), "could not be saved") {
		t.Errorf("Close = %v; want the failure to save the last token", err)
	}
	if err := s.Close(); err == nil {
		t.Error("second Close forgot the failure")
	}
}

// Point 10: hooks that call back into the Source do not stall it.
func TestHooksMayCallTheSource(t *testing.T) {
	clock, ts, _ := mtHourSource(t)
	var s *Source
	inHook := make(chan error, 4)
	s = mtSource(t, mtClient(t, ts.url(), clock, ts.ts.Client()), SourceConfig{
		Login: ClientCredentialsGrant(),
		OnToken: func(ctx context.Context, _ *Token) {
			_, err := s.TokenContext(ctx)
			inHook <- err
			_, err = s.Token()
			inHook <- err
		},
		OnEvent: func(ev Event) {
			if ev.Kind == EventRefreshStarted {
				_, err := s.Token()
				inHook <- err
			}
		},
	})
	if _, err := s.TokenContext(mtCtx(t)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := mtRecv(t, inHook, "a hook's call"); err != nil {
			t.Errorf("a hook's call into the Source: %v", err)
		}
	}
}

// rnSoakFault is one fault the soak injects before a renewal.
type rnSoakFault struct {
	name   string
	inject func(srv *oauthtest.Server, r *rand.Rand)
}

var rnSoakFaults = []rnSoakFault{
	{"none", func(*oauthtest.Server, *rand.Rand) {}},
	{"503", func(srv *oauthtest.Server, r *rand.Rand) { srv.FailNext(1+r.IntN(3), http.StatusServiceUnavailable) }},
	{"429", func(srv *oauthtest.Server, r *rand.Rand) { srv.RateLimitNext(1, time.Duration(r.IntN(3))*time.Second) }},
	{"malformed", func(srv *oauthtest.Server, _ *rand.Rand) { srv.MalformedNext(1) }},
	{"truncated", func(srv *oauthtest.Server, _ *rand.Rand) { srv.TruncateNext(1) }},
	{"reset", func(srv *oauthtest.Server, _ *rand.Rand) { srv.ResetNext(1) }},
	{"lost rotation", func(srv *oauthtest.Server, _ *rand.Rand) { srv.LoseNextRotation() }},
	{"short hang", func(srv *oauthtest.Server, _ *rand.Rand) { srv.HangNext(1) }},
}

// rnSoakWeights: how often each fault is drawn, out of 100.
var rnSoakWeights = []int{70, 8, 4, 4, 4, 4, 3, 3}

func rnSoakDraw(r *rand.Rand) rnSoakFault {
	n := r.IntN(100)
	for i, w := range rnSoakWeights {
		if n < w {
			return rnSoakFaults[i]
		}
		n -= w
	}
	return rnSoakFaults[0]
}

// Point 3, as a figure: over many rotations with random faults (5xx, 429,
// malformed, cut and reset responses, lost rotation responses, short
// hangs), no request fails while the library holds a token the provider
// still accepts, and no refresh token is lost but to a lost rotation
// response, each of which ends in exactly one re-login.
func TestSoakRenewalsWithRandomFaults(t *testing.T) {
	rotations := 10000
	if testing.Short() {
		rotations = 500
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d rotations", seed, rotations)
	r := rand.New(rand.NewPCG(seed, 0))
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	// Refresh attempts cut by RefreshTimeout (the short hangs, and on a
	// busy machine a slow answer) whose verdict never arrived.
	var cut atomic.Int32
	s := mtSource(t, mtDaxiumClient(t, srv.URL(), clock, srv.Client()), SourceConfig{
		Login: mtDaxiumLogin, RefreshTimeout: 50 * time.Millisecond, MaxBackoff: 10 * time.Second,
		OnEvent: func(ev Event) {
			var te *refreshTimeoutError
			if ev.Kind == EventRefreshFailed && errors.As(ev.Err, &te) {
				cut.Add(1)
			}
		},
	})
	var held *Token // the last token served, which the provider accepts until its expiry
	failedWhileValid, served := 0, 0
	for i := range rotations {
		rnSoakAdvance(clock, r, held)
		rnSoakDraw(r).inject(srv, r)
		tok, err := s.TokenContext(mtImpatient(t))
		switch {
		case err == nil:
			served++
			held = tok
		case held != nil && clock.Now().Before(held.Expiry):
			failedWhileValid++
			if failedWhileValid <= 5 {
				t.Errorf("rotation %d: %v while %v was still valid", i, err, held)
			}
		}
		mtIdle(t, s)
	}
	// Settle: past the expiry of any token held, so that a re-login the
	// run ended before (a lost rotation whose old token was still served,
	// ReloginInterval, the provider's login window) happens.
	var err error
	for range 20 {
		clock.Advance(10 * time.Minute)
		_, err = s.TokenContext(mtImpatient(t))
		mtIdle(t, s)
	}
	if err != nil {
		t.Errorf("after the run: %v", err)
	}
	st := srv.Stats()
	t.Logf("served %d of %d, token calls %d, logins %d, refresh token reuse %d, renewals cut by RefreshTimeout %d",
		served, rotations, st.TokenCallsTotal, st.Logins, st.RefreshReuse, cut.Load())
	if failedWhileValid != 0 {
		t.Errorf("%d requests failed while a valid token existed; want 0", failedWhileValid)
	}
	// A refresh token is lost only to a lost rotation response: the next
	// refresh presents the rotated-away token (reuse), and one re-login
	// follows. A reuse whose own answer was cut by RefreshTimeout is
	// presented once more (its verdict never arrived), so reuses may
	// exceed re-logins by at most the cut attempts; never the other way.
	relogins := st.Logins - 1
	if relogins > st.RefreshReuse || st.RefreshReuse > relogins+int(cut.Load()) {
		t.Errorf("re-logins = %d, refresh token reuses = %d, cut attempts = %d; want one re-login per lost rotation", relogins, st.RefreshReuse, cut.Load())
	}
}

// rnSoakAdvance moves the clock to a random point of held's life where a
// renewal starts: its early-refresh window, its skew, or past its expiry;
// without a token, a few seconds on.
func rnSoakAdvance(clock *oauthtest.Clock, r *rand.Rand, held *Token) {
	if held == nil {
		clock.Advance(time.Duration(1+r.IntN(20)) * time.Second)
		return
	}
	var target time.Time
	switch r.IntN(3) {
	case 0:
		target = held.Expiry.Add(-time.Duration(4+r.IntN(60)) * time.Second * 4)
	case 1:
		target = held.Expiry.Add(-time.Duration(r.IntN(2900)) * time.Millisecond)
	default:
		target = held.Expiry.Add(time.Duration(r.IntN(300)) * time.Second)
	}
	if target.After(clock.Now()) {
		clock.Set(target)
	} else {
		clock.Advance(time.Duration(1+r.IntN(20)) * time.Second)
	}
}

func TestTokenRequestCarriesCallerValuesNotItsCancellation(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	seen, proceed := make(chan context.Context, 1), make(chan struct{})
	hc := &http.Client{Transport: mtRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen <- r.Context()
		select { // bounded: the test ends by mtWait
		case <-proceed:
		case <-time.After(mtWait):
		}
		return ts.ts.Client().Transport.RoundTrip(r)
	})}
	s := mtSource(t, mtClient(t, ts.url(), clock, hc), SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour)})
	var traced atomic.Int32
	caller, cancel := context.WithCancel(httptrace.WithClientTrace(mtCaller(t, "caller-1"),
		&httptrace.ClientTrace{GetConn: func(string) { traced.Add(1) }}))
	clock.Advance(56 * time.Minute) // stale: renewed in the background

	tok, err := s.TokenContext(caller)
	require.NoError(t, err)
	assert.Equal(t, "at-0", tok.AccessToken)
	cancel() // the caller is gone; the renewal goes on
	rctx := mtRecv(t, seen, "the token request")
	assert.Equal(t, "caller-1", rctx.Value(callerKey{}), "the caller's values reach the token request")
	assert.NoError(t, rctx.Err())
	assert.Nil(t, httptrace.ContextClientTrace(rctx), "the caller's httptrace hooks are its own request's")
	close(proceed)
	mtIdle(t, s)

	tok, err = s.TokenContext(mtCtx(t))
	require.NoError(t, err)
	assert.Equal(t, "at-1", tok.AccessToken)
	assert.Zero(t, traced.Load())
}
