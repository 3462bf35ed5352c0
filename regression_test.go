package tokenkeeper

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Regression tests from a review of the Source: each failed before its fix.
// The comment above each says what must hold.

// rvFailFirstLoads is a Store whose first n Loads fail.
type rvFailFirstLoads struct {
	MemoryStore
	n atomic.Int32
}

func (s *rvFailFirstLoads) Load(ctx context.Context) (*Token, error) {
	if s.n.Add(-1) >= 0 {
		return nil, errStoreDown
	}
	return s.MemoryStore.Load(ctx)
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
	store := &rvFailFirstLoads{}
	store.MemoryStore.Save(ctx, rotated)
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
	store := &rvFailFirstLoads{}
	store.MemoryStore.Save(ctx, rotated)
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

// 200 requests refused at once with the same token are all replayed.
func TestTransportConcurrent401sAllReplayed(t *testing.T) {
	s, ts, _ := mtTransportSource(t)
	var gate = make(chan struct{})
	arrived := make(chan struct{}, 1000)
	base := mtRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Header.Get("Authorization") == "Bearer at-0" {
			arrived <- struct{}{}
			<-gate
			return &http.Response{StatusCode: 401, Body: io.NopCloser(strings.NewReader("")), Request: r, Header: http.Header{}}, nil
		}
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: r, Header: http.Header{}}, nil
	})
	tr := &Transport{Source: s, Base: base}
	const n = 200
	var wg sync.WaitGroup
	var bad atomic.Int32
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", "http://api.test/", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil || resp.StatusCode != 200 {
				bad.Add(1)
			}
		}()
	}
	for range n { // every request has been sent with at-0 and is held
		mtRecv(t, arrived, "the requests")
	}
	close(gate)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d of %d concurrent 401s were handed back without replay (token calls %d)", bad.Load(), n, ts.calls.Load())
	}
}

// A forced refresh that failed for a moment is tried again once the
// backoff has passed, not only after 10 s.
func TestTransportTransientForcedFailureRetriedAfterBackoff(t *testing.T) {
	s, ts, clock := mtTransportSource(t)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		mtWriteToken(w, "at-1", "rt-1", 3600)
	})
	api := mtNewAPI(t, "at-1")
	client := s.HTTPClient(api.ts.Client().Transport)
	ctx := mtCtx(t)
	// A caller whose deadline cannot reach the next attempt gets the 401.
	if st, _ := mtGet(mtImpatient(t), client, api.ts.URL); st != 401 {
		t.Fatalf("first: %d", st)
	}
	clock.Advance(3 * time.Second) // past MinBackoff=1s jitter
	st, _ := mtGet(ctx, client, api.ts.URL)
	if st != 200 {
		t.Errorf("3 s later (backoff over): status %d, token calls %d; revoked token kept being sent", st, ts.calls.Load())
	}
}

// A proxy's HTML 403 on the token endpoint does not mark a (static,
// Transiteo-style) refresh token dead.
func TestSourceProxy403DoesNotKillRefreshToken(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(403)
			io.WriteString(w, "<html>Request blocked</html>")
			return
		}
		mtWriteToken(w, fmt.Sprint("at-", n), "", 3600)
	})
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	s := mtSource(t, c, SourceConfig{Token: &Token{RefreshToken: "console-rt"}})
	if err := rvRetry(t, s, clock, 5); err != nil {
		t.Errorf("10 min after one 403: %v; token calls %d", err, ts.calls.Load())
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
	store.MemoryStore.Save(ctx, seed)
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
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		mtWriteToken(w, "at-ok", "", 3600)
	})
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	s := mtSource(t, c, SourceConfig{Token: &Token{RefreshToken: "console-rt"}, Store: &MemoryStore{}})
	if err := rvRetry(t, s, clock, 3); err != nil {
		t.Errorf("after one 503: %v (token calls %d)", err, ts.calls.Load())
	}
}

// So is an expired token read from the Store.
func TestSourceStoredTokenKeptAfterTransientFailure(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
		if n == 1 {
			w.WriteHeader(503)
			return
		}
		mtWriteToken(w, "at-ok", "", 3600)
	})
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	store := &MemoryStore{}
	store.Save(mtCtx(t), &Token{AccessToken: "old", RefreshToken: "rt-stored", Expiry: mtT0.Add(-time.Hour)})
	s := mtSource(t, c, SourceConfig{Store: store})
	if err := rvRetry(t, s, clock, 3); err != nil {
		t.Errorf("after one 503: %v (token calls %d)", err, ts.calls.Load())
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

// rvRetry asks s for a token, then again rounds times, two minutes apart
// (past every backoff), and returns the last error.
func rvRetry(t *testing.T, s *Source, clock *oauthtest.Clock, rounds int) error {
	t.Helper()
	_, err := s.TokenContext(mtImpatient(t))
	for range rounds {
		clock.Advance(2 * time.Minute)
		_, err = s.TokenContext(mtImpatient(t))
	}
	return err
}
