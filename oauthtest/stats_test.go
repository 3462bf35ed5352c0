package oauthtest

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

func TestStats(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Daxium})
	wantStatus(t, postForm(t, s, daxiumLogin()), 200)
	resp, err := http.Get(s.TokenURL())
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, read(t, resp), 405)

	st := s.Stats()
	if st.TokenCalls["password"] != 1 || st.TokenCalls[""] != 1 || st.TokenCallsTotal != 2 || st.MaxConcurrentTokenCalls != 1 {
		t.Errorf("Stats() = %+v; want one password call, one without grant_type, max concurrency 1", st)
	}
	st.TokenCalls["password"] = 99 // a copy
	if got := s.Stats().TokenCalls["password"]; got != 1 {
		t.Errorf("Stats() shares its map: password = %d after editing a copy", got)
	}

	s.ResetStats()
	if st := s.Stats(); st.TokenCallsTotal != 0 || len(st.TokenCalls) != 0 || st.Logins != 0 || st.MaxConcurrentTokenCalls != 0 {
		t.Errorf("after ResetStats, Stats() = %+v; want zeros", st)
	}
	wantStatus(t, postForm(t, s, daxiumLogin()), 200)
	if st := s.Stats(); st.TokenCallsTotal != 1 || st.Logins != 1 {
		t.Errorf("after one more login, Stats() = %+v; want 1 call, 1 login", st)
	}
}

// TestConcurrentTokenCalls hits the token endpoint from many goroutines
// while others set faults, revoke tokens and read stats.
func TestConcurrentTokenCalls(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Auth0, Rotation: true})
	const (
		workers = 16
		calls   = 8
		faults  = 10
	)
	statuses := make(chan int, workers*calls)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				resp, err := http.PostForm(s.TokenURL(), auth0ClientCredentials())
				if err != nil {
					t.Errorf("POST: %v", err)
					continue
				}
				r, err := readResponse(resp)
				if err != nil {
					t.Errorf("reading body: %v", err)
					continue
				}
				statuses <- r.status
				if r.status == 200 {
					s.Revoke(r.str("access_token"))
				}
			}
		})
	}
	wg.Go(func() {
		for i := range faults {
			if i%2 == 0 {
				s.FailNext(1, http.StatusServiceUnavailable)
			} else {
				s.RateLimitNext(1, 0)
			}
			_ = s.Stats()
			s.RevokeAll()
			_ = s.Issue("", fmt.Sprint("offline_access scope", i))
		}
	})
	wg.Wait()
	close(statuses)

	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	pending := pendingFaults(s)
	if got := count[503] + count[429] + pending; got != faults {
		t.Errorf("faulted calls %d + pending faults %d = %d; want %d", count[503]+count[429], pending, got, faults)
	}
	if count[200]+count[503]+count[429] != workers*calls {
		t.Errorf("statuses = %v; want only 200, 503 and 429, %d in all", count, workers*calls)
	}
	st := s.Stats()
	if st.TokenCallsTotal != workers*calls || st.Logins != count[200] {
		t.Errorf("Stats() = %+v; want %d calls and %d logins", st, workers*calls, count[200])
	}
	if st.MaxConcurrentTokenCalls < 1 || st.MaxConcurrentTokenCalls > workers {
		t.Errorf("MaxConcurrentTokenCalls = %d; want 1..%d", st.MaxConcurrentTokenCalls, workers)
	}
}

// pendingFaults returns how many queued faults s has not applied yet.
func pendingFaults(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	pending := 0
	for _, f := range s.faults {
		pending += f.left
	}
	return pending
}

// TestConcurrentRefreshRotation presents one Daxium refresh token from many
// goroutines at once: exactly one wins the rotation, the rest are reuse.
func TestConcurrentRefreshRotation(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Daxium})
	rt := s.Issue("", "").RefreshToken
	const callers = 20
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		ok int
	)
	for range callers {
		wg.Go(func() {
			resp, err := http.PostForm(s.TokenURL(), daxiumRefresh(rt))
			if err != nil {
				t.Errorf("POST: %v", err)
				return
			}
			r, err := readResponse(resp)
			switch {
			case err != nil:
				t.Errorf("reading body: %v", err)
			case r.status == 200:
				mu.Lock()
				ok++
				mu.Unlock()
			case r.status != 401 || r.str("code") != CodeInvalidRefreshToken:
				t.Errorf("status %d, body %s; want 200 or 401 %s", r.status, r.raw, CodeInvalidRefreshToken)
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); ok != 1 || st.RefreshReuse != callers-1 {
		t.Errorf("%d successes, RefreshReuse %d; want 1 and %d", ok, st.RefreshReuse, callers-1)
	}
}
