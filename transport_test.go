package tokenkeeper

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// mtSnapshot captures what RoundTrip must not change in a request.
type mtSnapshot struct {
	method, url, host string
	header            http.Header
	body              io.ReadCloser
	contentLength     int64
	hasGetBody        bool
}

func mtSnap(r *http.Request) mtSnapshot {
	return mtSnapshot{r.Method, r.URL.String(), r.Host, r.Header.Clone(), r.Body, r.ContentLength, r.GetBody != nil}
}

func (s mtSnapshot) check(t *testing.T, r *http.Request) {
	t.Helper()
	if got := mtSnap(r); !reflect.DeepEqual(got, s) {
		t.Errorf("request changed by RoundTrip:\n got %+v\nwant %+v", got, s)
	}
}

// Acceptance 8: the credential and the Client's headers are set on a
// copy; the caller's request and header map are left alone.
func TestTransportSetsCredentialOnClone(t *testing.T) {
	s, _, _ := mtTransportSource(t)
	base := &mtBase{answer: func(n int, r *http.Request) (*http.Response, error) { return mtResponse(r, 200, nil), nil }}
	tr := &Transport{Source: s, Base: base}

	req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
	req.Header.Set("X-Custom", "c")
	req.Header.Set("Authorization", "Basic caller")
	snap := mtSnap(req)
	resp, err := tr.RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("RoundTrip = %v, %v", resp, err)
	}
	snap.check(t, req)
	if len(req.Header) != 2 {
		t.Errorf("caller's header map has %d entries; want 2", len(req.Header))
	}
	sent := base.reqs[0]
	if sent == req {
		t.Fatal("the base got the caller's request, not a copy")
	}
	for k, want := range map[string]string{"Authorization": "Bearer at-0", "X-Accept-Version": "v1.3", "X-Custom": "c"} {
		if got := sent.Header.Get(k); got != want {
			t.Errorf("sent %s = %q; want %q", k, got, want)
		}
	}

	// A request that sets the extra header keeps its own value.
	req2, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
	req2.Header.Set("X-Accept-Version", "v2")
	tr.RoundTrip(req2)
	if got := base.reqs[1].Header.Values("X-Accept-Version"); len(got) != 1 || got[0] != "v2" {
		t.Errorf("X-Accept-Version = %q; want the request's own [v2]", got)
	}
	// A request with no header map at all.
	req3 := &http.Request{Method: http.MethodGet, URL: req.URL}
	if _, err := tr.RoundTrip(req3); err != nil || req3.Header != nil {
		t.Errorf("RoundTrip of a request without header: %v; header now %v", err, req3.Header)
	}
	if got := base.reqs[2].Header.Get("Authorization"); got != "Bearer at-0" {
		t.Errorf("Authorization = %q", got)
	}
}

// Extra headers given with a non-canonical name in Config.Header are not
// duplicated next to the request's own.
func TestTransportExtraHeaderCanonical(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	c, err := New(Config{TokenURL: "http://127.0.0.1:1/token", ClientID: "id", Clock: clock, Header: http.Header{"x-accept-version": {"v1.3"}}})
	if err != nil {
		t.Fatal(err)
	}
	s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "", time.Hour)})
	base := &mtBase{answer: func(n int, r *http.Request) (*http.Response, error) { return mtResponse(r, 200, nil), nil }}
	req, _ := http.NewRequest(http.MethodGet, "http://api.test/x", nil)
	req.Header.Set("X-Accept-Version", "v2")
	(&Transport{Source: s, Base: base}).RoundTrip(req)
	if h := base.reqs[0].Header; len(h.Values("X-Accept-Version")) != 1 || h[strings.ToLower("X-Accept-Version")] != nil {
		t.Errorf("sent header %v; want X-Accept-Version once, the request's", h)
	}
}

// Acceptance 8: the request body is closed exactly once on every path,
// and the request is never modified.
func TestTransportClosesBodyOnce(t *testing.T) {
	errBase := errors.New("base failed")
	tests := []struct {
		name      string
		setup     func(s *Source, ts *mtTokenServer, clock *oauthtest.Clock)
		answer    func(n int, r *http.Request) (*http.Response, error)
		replay    bool // the request has GetBody
		wantErr   bool
		wantCode  int
		wantCalls int
	}{
		{
			name:      "success",
			answer:    func(n int, r *http.Request) (*http.Response, error) { return mtResponse(r, 200, nil), nil },
			wantCode:  200,
			wantCalls: 1,
		},
		{
			name:      "base error",
			answer:    func(n int, r *http.Request) (*http.Response, error) { return nil, errBase },
			wantErr:   true,
			wantCalls: 1,
		},
		{
			name: "token error",
			setup: func(s *Source, ts *mtTokenServer, clock *oauthtest.Clock) {
				ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
					mtWriteJSON(w, 400, map[string]string{"error": "invalid_grant"})
				})
				clock.Advance(time.Hour)
			},
			answer:  func(n int, r *http.Request) (*http.Response, error) { return mtResponse(r, 200, nil), nil },
			wantErr: true,
		},
		{
			name:  "closed source",
			setup: func(s *Source, _ *mtTokenServer, _ *oauthtest.Clock) { s.Close() },
			answer: func(n int, r *http.Request) (*http.Response, error) {
				return mtResponse(r, 200, nil), nil
			},
			wantErr: true,
		},
		{
			name: "401 replay",
			answer: func(n int, r *http.Request) (*http.Response, error) {
				if n == 1 {
					return mtResponse(r, 401, nil), nil
				}
				return mtResponse(r, 200, nil), nil
			},
			replay:    true,
			wantCode:  200,
			wantCalls: 2,
		},
		{
			name:      "401 not replayable",
			answer:    func(n int, r *http.Request) (*http.Response, error) { return mtResponse(r, 401, nil), nil },
			wantCode:  401,
			wantCalls: 1,
		},
		{
			name:      "401 twice",
			answer:    func(n int, r *http.Request) (*http.Response, error) { return mtResponse(r, 401, nil), nil },
			replay:    true,
			wantCode:  401,
			wantCalls: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ts, clock := mtTransportSource(t)
			if tt.setup != nil {
				tt.setup(s, ts, clock)
			}
			base := &mtBase{answer: tt.answer}
			body := &mtBody{r: strings.NewReader("payload")}
			var replays []*mtBody
			req, _ := http.NewRequest(http.MethodPost, "http://api.test/x", body)
			if tt.replay {
				req.GetBody = func() (io.ReadCloser, error) {
					b := &mtBody{r: strings.NewReader("payload")}
					replays = append(replays, b)
					return b, nil
				}
			}
			snap := mtSnap(req)
			resp, err := (&Transport{Source: s, Base: base}).RoundTrip(req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RoundTrip error = %v; want error %v", err, tt.wantErr)
			}
			if err == nil && resp.StatusCode != tt.wantCode {
				t.Errorf("status = %d; want %d", resp.StatusCode, tt.wantCode)
			}
			checkBodiesClosedOnce(t, body, replays)
			if got := base.calls(); got != tt.wantCalls {
				t.Errorf("base calls = %d; want %d", got, tt.wantCalls)
			}
			for i, b := range base.bodies {
				if b != "payload" {
					t.Errorf("call %d sent body %q; want payload", i, b)
				}
			}
			snap.check(t, req)
		})
	}

	t.Run("no source", func(t *testing.T) {
		body := &mtBody{r: strings.NewReader("x")}
		req, _ := http.NewRequest(http.MethodPost, "http://api.test/x", body)
		if _, err := (&Transport{}).RoundTrip(req); err == nil || body.closes.Load() != 1 {
			t.Errorf("RoundTrip without Source = %v, body closed %d times", err, body.closes.Load())
		}
	})
}

// checkBodiesClosedOnce checks that the request body and every replayed
// body were closed exactly once.
func checkBodiesClosedOnce(t *testing.T, body *mtBody, replays []*mtBody) {
	t.Helper()
	if got := body.closes.Load(); got != 1 {
		t.Errorf("request body closed %d times; want 1", got)
	}
	for i, b := range replays {
		if got := b.closes.Load(); got != 1 {
			t.Errorf("replayed body %d closed %d times; want 1", i, got)
		}
	}
}

// Acceptance 8: a revoked token is refreshed once and the request
// replayed once, against the Daxium fake.
func TestTransportRevokedTokenRefreshOnce(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	c := mtDaxiumClient(t, srv.URL(), clock, srv.Client())
	first := mtIssued(clock, srv.Issue("", ""))
	events := &mtEvents{}
	s := mtSource(t, c, SourceConfig{Token: first, OnEvent: events.on})
	api := s.HTTPClient(srv.Client().Transport)
	ctx := mtCtx(t)

	srv.Revoke(first.AccessToken)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, srv.APIURL(), strings.NewReader(`{"k":"v"}`))
	resp, err := api.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `{\"k\":\"v\"}`) {
		t.Errorf("replayed response %d %s; want 200 echoing the body", resp.StatusCode, body)
	}
	st := srv.Stats()
	if st.APICalls != 2 || st.API401s != 1 || st.TokenCalls["refresh_token"] != 1 {
		t.Errorf("stats = %+v; want 2 API calls (one 401), 1 refresh", st)
	}
	if ev, ok := events.last(EventUnauthorized); !ok || !ev.Recovered {
		t.Errorf("event = %+v; want a recovered 401", ev)
	}
}

// Acceptance 8: 50 concurrent requests that all see the same 401 cause
// one token call, and all succeed on replay.
func TestTransportConcurrent401OneRefresh(t *testing.T) {
	s, ts, _ := mtTransportSource(t)
	api := mtNewAPI(t, "at-1")
	const n = 50
	var arrivedOld atomic.Int32
	api.mu.Lock()
	api.holdAuth = "Bearer at-0"
	api.mu.Unlock()
	client := s.HTTPClient(api.ts.Client().Transport)
	ctx := mtCtx(t)
	results := make(chan int, n)
	for range n {
		go func() {
			status, err := mtGet(ctx, client, api.ts.URL)
			if err != nil {
				t.Error(err)
			}
			results <- status
		}()
	}
	for arrivedOld.Load() < n {
		if mtRecv(t, api.arrived, "requests") == "Bearer at-0" {
			arrivedOld.Add(1)
		}
	}
	api.release()
	for range n {
		if status := mtRecv(t, results, "responses"); status != 200 {
			t.Errorf("status = %d; want 200 after the replay", status)
		}
	}
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls = %d; want 1", calls)
	}
	if old, good := api.count("Bearer at-0"), api.count("Bearer at-1"); old != n || good != n {
		t.Errorf("API calls with at-0, at-1 = %d, %d; want %d each", old, good, n)
	}
}

// Acceptance 8: a 401 for a request whose body cannot be replayed goes
// back to the caller, and the refresh serves later requests.
func TestTransport401NotReplayable(t *testing.T) {
	s, ts, _ := mtTransportSource(t)
	api := mtNewAPI(t, "at-1")
	client := s.HTTPClient(api.ts.Client().Transport)
	ctx := mtCtx(t)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api.ts.URL, io.NopCloser(strings.NewReader("once")))
	if req.GetBody != nil {
		t.Fatal("test request is replayable")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "expired") {
		t.Errorf("response %d %q; want the API's 401, body intact", resp.StatusCode, body)
	}
	mtIdle(t, s)
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls = %d; want 1 refresh for later requests", calls)
	}
	if status, err := mtGet(ctx, client, api.ts.URL); err != nil || status != 200 {
		t.Errorf("next request: %d, %v; want 200 with the new token", status, err)
	}
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls = %d; want still 1", calls)
	}
}

// Acceptance 8: a 401 for a token another goroutine already replaced is
// replayed with the current token, without a new refresh.
func TestTransport401ForReplacedToken(t *testing.T) {
	s, ts, _ := mtTransportSource(t)
	api := mtNewAPI(t, "at-1")
	api.mu.Lock()
	api.holdAuth = "Bearer at-0"
	api.mu.Unlock()
	client := s.HTTPClient(api.ts.Client().Transport)
	ctx := mtCtx(t)
	old, _ := s.TokenContext(ctx)
	status := make(chan int, 1)
	go func() {
		st, err := mtGet(ctx, client, api.ts.URL)
		if err != nil {
			t.Error(err)
		}
		status <- st
	}()
	if auth := mtRecv(t, api.arrived, "the request"); auth != "Bearer at-0" {
		t.Fatalf("sent %q", auth)
	}
	// Meanwhile another caller reports the token and gets a new one.
	next, err := s.Renew(ctx, old)
	if err != nil || next.AccessToken != "at-1" {
		t.Fatalf("Refresh = %v, %v", next, err)
	}
	api.release()
	if st := mtRecv(t, status, "the response"); st != 200 {
		t.Errorf("status = %d; want 200 from the replay", st)
	}
	if calls := ts.calls.Load(); calls != 1 {
		t.Errorf("token calls = %d; want 1", calls)
	}
}

// Acceptance 8: an API that keeps answering 401 gets at most two calls per
// request.
func TestTransportNoLoopOnPersistent401(t *testing.T) {
	s, ts, clock := mtTransportSource(t)
	api := mtNewAPI(t, "never")
	client := s.HTTPClient(api.ts.Client().Transport)
	ctx := mtCtx(t)
	// Each request: at most one refresh and one replay. A second 401
	// within forcedInterval of a forced refresh forces none: an
	// API that refuses every token costs one token call per interval,
	// not one per request.
	for i, want := range []struct {
		advance          time.Duration
		apiCalls, tokens int64
	}{
		{0, 2, 1},              // refresh, replay, still 401
		{time.Second, 3, 1},    // too soon: the 401 as is
		{forcedInterval, 5, 2}, // the interval passed: once more
	} {
		clock.Advance(want.advance)
		status, err := mtGet(ctx, client, api.ts.URL)
		if err != nil || status != 401 {
			t.Fatalf("request %d: %d, %v; want the 401", i+1, status, err)
		}
		var total int64
		api.mu.Lock()
		for _, n := range api.calls {
			total += int64(n)
		}
		api.mu.Unlock()
		if total != want.apiCalls || ts.calls.Load() != want.tokens {
			t.Errorf("after %d requests: %d API calls, %d token calls; want %d, %d", i+1, total, ts.calls.Load(), want.apiCalls, want.tokens)
		}
	}
}

// Acceptance 8: the first response's body is drained (bounded) and closed
// before the replay.
func TestTransportDrainsFirstResponse(t *testing.T) {
	for name, size := range map[string]int{"small": 100, "large": 4 * maxDrain} {
		t.Run(name, func(t *testing.T) {
			s, _, _ := mtTransportSource(t)
			first := &mtBody{r: strings.NewReader(strings.Repeat("x", size))}
			base := &mtBase{answer: func(n int, r *http.Request) (*http.Response, error) {
				if n == 1 {
					return mtResponse(r, 401, first), nil
				}
				return mtResponse(r, 200, nil), nil
			}}
			req, _ := http.NewRequest(http.MethodGet, "http://api.test/", nil)
			resp, err := (&Transport{Source: s, Base: base}).RoundTrip(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("RoundTrip = %v, %v", resp, err)
			}
			if first.closes.Load() != 1 || first.read.Load() != int64(min(size, maxDrain)) {
				t.Errorf("first body: read %d bytes, closed %d times; want %d, once", first.read.Load(), first.closes.Load(), min(size, maxDrain))
			}
			if base.auths[0] != "Bearer at-0" || base.auths[1] != "Bearer at-1" {
				t.Errorf("credentials sent = %q", base.auths)
			}
		})
	}
}

// A 401 while the Source is in backoff, a failing GetBody, and a refresh
// that fails: the 401 goes back to the caller, once.
func TestTransport401Unrecoverable(t *testing.T) {
	unauthorized := func(n int, r *http.Request) (*http.Response, error) { return mtResponse(r, 401, nil), nil }
	t.Run("refresh fails for a while", transport401RefreshFailsForAWhile)
	t.Run("refresh fails for good", transport401RefreshFailsForGood)
	t.Run("GetBody fails", func(t *testing.T) {
		s, _, _ := mtTransportSource(t)
		base := &mtBase{answer: unauthorized}
		req, _ := http.NewRequest(http.MethodPost, "http://api.test/", strings.NewReader("x"))
		req.GetBody = func() (io.ReadCloser, error) { return nil, errors.New("no body") }
		resp, err := (&Transport{Source: s, Base: base}).RoundTrip(req)
		if err != nil || resp.StatusCode != 401 || base.calls() != 1 {
			t.Errorf("RoundTrip = %v, %v after %d calls; want the 401 after 1", resp, err, base.calls())
		}
	})
	t.Run("new token without credential", func(t *testing.T) {
		s, ts, _ := mtTransportSource(t)
		ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
			mtWriteToken(w, "bad token", "rt-1", 3600) // a space: not sendable
		})
		base := &mtBase{answer: unauthorized}
		req, _ := http.NewRequestWithContext(mtImpatient(t), http.MethodGet, "http://api.test/", nil)
		resp, err := (&Transport{Source: s, Base: base}).RoundTrip(req)
		if err != nil || resp.StatusCode != 401 || base.calls() != 1 {
			t.Errorf("RoundTrip = %v, %v after %d calls; want the 401 after 1", resp, err, base.calls())
		}
	})
}

// transport401RefreshFailsForAWhile: a 503 from the token endpoint: the
// refused request gets its 401, and the token is not condemned, since the
// API may have refused this one request only; no token call during the
// backoff.
func transport401RefreshFailsForAWhile(t *testing.T) {
	unauthorized := func(n int, r *http.Request) (*http.Response, error) { return mtResponse(r, 401, nil), nil }
	s, ts, _ := mtTransportSource(t)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) { w.WriteHeader(503) })
	events := &mtEvents{}
	s.cfg.OnEvent = events.on
	base := &mtBase{answer: unauthorized}
	req, _ := http.NewRequestWithContext(mtImpatient(t), http.MethodGet, "http://api.test/", nil)
	for range 3 {
		resp, err := (&Transport{Source: s, Base: base}).RoundTrip(req)
		if err != nil || resp.StatusCode != 401 {
			t.Fatalf("RoundTrip = %v, %v; want the 401", resp, err)
		}
	}
	if ev, ok := events.last(EventUnauthorized); !ok || ev.Recovered || ev.Err == nil {
		t.Errorf("event %+v; want an unrecovered 401 with its reason", ev)
	}
	if tok, err := s.TokenContext(mtImpatient(t)); err != nil || tok.AccessToken != "at-0" {
		t.Errorf("TokenContext = %v, %v; want the current token, still served", tok, err)
	}
	if ts.calls.Load() != 1 || base.calls() != 3 {
		t.Errorf("token calls %d, API calls %d; want 1, 3", ts.calls.Load(), base.calls())
	}
}

// transport401RefreshFailsForGood: the refresh token is rejected and
// there is no login: the refused token is no longer served; requests fail
// with ErrLoginRequired without reaching the API.
func transport401RefreshFailsForGood(t *testing.T) {
	unauthorized := func(n int, r *http.Request) (*http.Response, error) { return mtResponse(r, 401, nil), nil }
	s, ts, _ := mtTransportSource(t)
	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) {
		mtWriteJSON(w, 400, map[string]string{"error": "invalid_grant"})
	})
	base := &mtBase{answer: unauthorized}
	req, _ := http.NewRequestWithContext(mtImpatient(t), http.MethodGet, "http://api.test/", nil)
	resp, err := (&Transport{Source: s, Base: base}).RoundTrip(req)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("RoundTrip = %v, %v; want the 401", resp, err)
	}
	for range 2 {
		_, err := (&Transport{Source: s, Base: base}).RoundTrip(req)
		var pe *Error
		if !errors.Is(err, ErrLoginRequired) || !errors.As(err, &pe) || pe.Code != "invalid_grant" {
			t.Fatalf("RoundTrip error = %v; want ErrLoginRequired with the invalid_grant *Error", err)
		}
	}
	if ts.calls.Load() != 1 || base.calls() != 1 {
		t.Errorf("token calls %d, API calls %d; want 1, 1", ts.calls.Load(), base.calls())
	}
}

// Acceptance 8: the credential is not forwarded on a redirect to another
// host, and is kept on a redirect to the same host.
func TestTransportRedirects(t *testing.T) {
	s, _, _ := mtTransportSource(t)
	var mu sync.Mutex
	seen := map[string]string{}
	record := func(name string, r *http.Request) {
		mu.Lock()
		seen[name] = r.Header.Get("Authorization") + "|" + r.Header.Get("X-Accept-Version")
		mu.Unlock()
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("other", r)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(other.Close)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cross":
			http.Redirect(w, r, other.URL+"/landing", http.StatusFound)
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/final":
			record("final", r)
			io.WriteString(w, "ok")
		}
	}))
	t.Cleanup(api.Close)
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	client := s.HTTPClient(base)
	ctx := mtCtx(t)
	for _, path := range []string{"/cross", "/same"} {
		if status, err := mtGet(ctx, client, api.URL+path); err != nil || status != 200 {
			t.Fatalf("GET %s: %d, %v", path, status, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen["other"]; got != "|" {
		t.Errorf("other host got Authorization|X-Accept-Version = %q; want neither", got)
	}
	if got := seen["final"]; got != "Bearer at-0|v1.3" {
		t.Errorf("same host got %q; want the credential kept", got)
	}
}

func TestCrossOriginRedirect(t *testing.T) {
	u := func(s string) *url.URL {
		v, _ := url.Parse(s)
		return v
	}
	first := &http.Request{URL: u("https://api.test/a")}
	hop := func(prev *http.Request, to string) *http.Request {
		return &http.Request{URL: u(to), Response: &http.Response{Request: prev}}
	}
	tests := []struct {
		name string
		req  *http.Request
		want bool
	}{
		{"first request", first, false},
		{"same host", hop(first, "https://api.test/b"), false},
		{"same host, other case", hop(first, "https://API.test/b"), false},
		{"other host", hop(first, "https://evil.test/b"), true},
		{"other port", hop(first, "https://api.test:444/b"), true},
		{"default port written out", hop(first, "https://api.test:443/b"), false},
		{"downgrade to http", hop(first, "http://api.test/b"), true},
		{"http to https", hop(&http.Request{URL: u("http://api.test/a")}, "https://api.test/b"), true},
		{"no URL", hop(&http.Request{}, "https://api.test/b"), true},
		{"other scheme", hop(&http.Request{URL: u("ftp://api.test/a")}, "ftp://api.test/b"), false},
		{"back to the first host", hop(hop(first, "https://evil.test/b"), "https://api.test/c"), false},
		{"unknown chain", &http.Request{URL: u("https://api.test/b"), Response: &http.Response{}}, true},
	}
	for _, tt := range tests {
		if got := crossOriginRedirect(tt.req); got != tt.want {
			t.Errorf("%s: crossOriginRedirect = %v; want %v", tt.name, got, tt.want)
		}
	}
	long := first
	for range maxRedirectChain + 1 {
		long = hop(long, "https://api.test/x")
	}
	if !crossOriginRedirect(long) {
		t.Error("a chain longer than maxRedirectChain is not treated as cross-host")
	}
}

// Acceptance 8: Source.Refresh refreshes the current token once, and
// returns the current one for a token already replaced.
func TestSourceRefreshSemantics(t *testing.T) {
	s, ts, _ := mtTransportSource(t)
	ctx := mtImpatient(t) // the clock does not move while a caller waits
	t0, _ := s.TokenContext(ctx)

	t1, err := s.Renew(ctx, t0)
	if err != nil || t1.AccessToken != "at-1" {
		t.Fatalf("Refresh(current) = %v, %v; want at-1", t1, err)
	}
	for _, rejected := range []*Token{t0, nil, {AccessToken: "unknown"}} {
		got, err := s.Renew(ctx, rejected)
		if err != nil || got != t1 {
			t.Errorf("Refresh(%v) = %v, %v; want the current token without a refresh", rejected, got, err)
		}
	}
	if calls := ts.calls.Load(); calls != 1 {
		t.Fatalf("token calls = %d; want 1", calls)
	}
	cp := *t1
	t2, err := s.Renew(ctx, &cp)
	if err != nil || t2.AccessToken != "at-2" {
		t.Errorf("Refresh(copy of current) = %v, %v; want at-2", t2, err)
	}

	// Many callers reporting the same token: one refresh.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := s.Renew(ctx, t2); err != nil || got.AccessToken != "at-3" {
				t.Errorf("Refresh = %v, %v; want at-3", got, err)
			}
		}()
	}
	mtWaitGroup(t, &wg, "Refresh callers")
	if calls := ts.calls.Load(); calls != 3 {
		t.Errorf("token calls = %d; want 3", calls)
	}

	ts.setRespond(func(w http.ResponseWriter, r *http.Request, n int64) { w.WriteHeader(502) })
	cur, _ := s.TokenContext(ctx)
	if _, err := s.Renew(ctx, cur); !IsRetryable(err) {
		t.Errorf("Refresh with the endpoint down = %v; want a temporary error", err)
	}
}

// The Transport with no Base uses http.DefaultTransport.
func TestTransportDefaultBase(t *testing.T) {
	s, _, _ := mtTransportSource(t)
	api := mtNewAPI(t, "at-0")
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	status, err := mtGet(mtCtx(t), s.HTTPClient(nil), api.ts.URL)
	if err != nil || status != 200 {
		t.Errorf("GET = %d, %v", status, err)
	}
}

type mtIdleCloser struct {
	mtBase
	closed atomic.Int32
}

func (b *mtIdleCloser) CloseIdleConnections() { b.closed.Add(1) }

func TestTransportCloseIdleConnections(t *testing.T) {
	s, _, _ := mtTransportSource(t)
	base := &mtIdleCloser{}
	s.HTTPClient(base).CloseIdleConnections()
	if base.closed.Load() != 1 {
		t.Errorf("CloseIdleConnections reached the base %d times; want 1", base.closed.Load())
	}
	(&Transport{Source: s, Base: &mtBase{}}).CloseIdleConnections() // a base without it: no panic
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
