package oauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// presetCase is a server and a token request it answers with 200.
type presetCase struct {
	opts  Options
	login func(s *Server) url.Values
}

var presetCases = []presetCase{
	{Options{Preset: Daxium, LoginLimit: 1000}, func(*Server) url.Values { return daxiumLogin() }},
	{Options{Preset: Transiteo}, transiteoRefresh},
	{Options{Preset: Auth0}, func(*Server) url.Values { return auth0ClientCredentials() }},
}

// send posts form and returns the raw response, or the transport error.
func send(t *testing.T, ctx context.Context, s *Server, form url.Values) (*http.Response, error) {
	t.Helper()
	return http.DefaultClient.Do(tokenRequest(t, ctx, s, form))
}

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		set   func(s *Server)
		check func(t *testing.T, p Preset, resp *http.Response, err error)
	}{
		{"FailNext", func(s *Server) { s.FailNext(1, http.StatusBadGateway) },
			func(t *testing.T, _ Preset, resp *http.Response, err error) {
				r := read(t, mustResponse(t, resp, err))
				wantStatus(t, r, 502)
				if ct := r.header.Get("Content-Type"); ct != "text/html" || !strings.Contains(string(r.raw), "502 Bad Gateway") {
					t.Errorf("Content-Type %q, body %q; want an HTML 502 page", ct, r.raw)
				}
			}},
		{"RateLimitNext", func(s *Server) { s.RateLimitNext(1, 1500*time.Millisecond) }, checkRateLimited},
		{"MalformedNext", func(s *Server) { s.MalformedNext(1) },
			func(t *testing.T, _ Preset, resp *http.Response, err error) {
				r := read(t, mustResponse(t, resp, err))
				wantStatus(t, r, 200)
				var v map[string]any
				if err := json.Unmarshal(r.raw, &v); err == nil {
					t.Errorf("body %q decodes; want broken JSON", r.raw)
				}
			}},
		{"OversizedNext", func(s *Server) { s.OversizedNext(1) }, checkOversized},
		{"TruncateNext", func(s *Server) { s.TruncateNext(1) }, checkTruncated},
		{"ResetNext", func(s *Server) { s.ResetNext(1) },
			func(t *testing.T, _ Preset, resp *http.Response, err error) {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("status %d; want a transport error", resp.StatusCode)
				}
			}},
	}
	for _, pc := range presetCases {
		for _, tt := range tests {
			t.Run(pc.opts.Preset.String()+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				s := start(t, pc.opts)
				tt.set(s)
				resp, err := send(t, t.Context(), s, pc.login(s))
				tt.check(t, pc.opts.Preset, resp, err)
				wantStatus(t, postForm(t, s, pc.login(s)), 200) // one call only
				if st := s.Stats(); st.TokenCallsTotal != 2 {
					t.Errorf("TokenCallsTotal = %d; want 2 (faults count)", st.TokenCallsTotal)
				}
			})
		}
	}
}

// checkRateLimited checks a 429 with Retry-After 2 and the preset's error body.
func checkRateLimited(t *testing.T, p Preset, resp *http.Response, err error) {
	r := read(t, mustResponse(t, resp, err))
	wantStatus(t, r, 429)
	if got := r.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q; want 2", got)
	}
	switch p {
	case Daxium:
		wantDAERR(t, r, 429, CodeTooManyLogins, nil)
	default:
		if got := r.str("error"); got != "too_many_requests" {
			t.Errorf("error = %q; want too_many_requests", got)
		}
	}
}

// checkOversized checks a 2 MiB JSON token response.
func checkOversized(t *testing.T, _ Preset, resp *http.Response, err error) {
	r := read(t, mustResponse(t, resp, err))
	wantStatus(t, r, 200)
	if len(r.raw) != 2<<20 || r.header.Get("Content-Length") != "2097152" {
		t.Errorf("body is %d bytes, Content-Length %q; want 2 MiB", len(r.raw), r.header.Get("Content-Length"))
	}
	if r.str("access_token") == "" {
		t.Error("oversized body is not a JSON token response")
	}
}

// checkTruncated checks a 200 whose body ends before its Content-Length.
func checkTruncated(t *testing.T, _ Preset, resp *http.Response, err error) {
	resp = mustResponse(t, resp, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength <= 0 {
		t.Errorf("status %d, Content-Length %d; want 200 with a length", resp.StatusCode, resp.ContentLength)
	}
	body, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(body)) >= resp.ContentLength {
		t.Errorf("read %d of %d bytes, error %v; want io.ErrUnexpectedEOF", len(body), resp.ContentLength, err)
	}
}

func mustResponse(t *testing.T, resp *http.Response, err error) *http.Response {
	t.Helper()
	if err != nil {
		t.Fatalf("transport error %v; want a response", err)
	}
	return resp
}

func TestOversizedClientGivesUp(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Daxium})
	s.OversizedNext(1)
	resp, err := http.PostForm(s.TokenURL(), daxiumLogin())
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close() // before the end: the server stops writing
	if err != nil || n != 1<<20 {
		t.Fatalf("read %d bytes, error %v; want 1 MiB", n, err)
	}
	wantStatus(t, postForm(t, s, daxiumLogin()), 200)
}

func TestFaultsQueueInOrder(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Auth0})
	s.FailNext(2, http.StatusServiceUnavailable)
	s.RateLimitNext(1, 0)
	s.FailNext(0, http.StatusBadGateway) // no-op
	s.MalformedNext(-1)                  // no-op
	form := auth0ClientCredentials()
	for i, want := range []int{503, 503, 429, 200, 200} {
		r := postForm(t, s, form)
		if r.status != want {
			t.Errorf("call %d: status = %d; want %d", i, r.status, want)
		}
		if want == 429 && r.header.Get("Retry-After") != "0" {
			t.Errorf("Retry-After = %q; want 0", r.header.Get("Retry-After"))
		}
	}
}

func TestFailNextRejectsNonErrorStatus(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Daxium})
	for _, status := range []int{0, 200, 302, 600} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("FailNext(1, %d) did not panic", status)
				}
			}()
			s.FailNext(1, status)
		}()
	}
}

func TestHangNextUntilClientGivesUp(t *testing.T) {
	t.Parallel()
	for _, pc := range presetCases {
		t.Run(pc.opts.Preset.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, pc.opts)
			entered := watchCalls(s, 1)
			s.HangNext(1)
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			req := tokenRequest(t, ctx, s, pc.login(s))
			go func() {
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			await(t, entered)
			cancel()
			if err := await(t, errc); !errors.Is(err, context.Canceled) {
				t.Errorf("hung call error = %v; want context.Canceled", err)
			}
			wantStatus(t, postForm(t, s, pc.login(s)), 200)
		})
	}
}

func TestCloseReleasesHungCalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  func(s *Server)
	}{
		{"HangNext", func(s *Server) { s.HangNext(3) }},
		{"SetLatency", func(s *Server) { s.SetLatency(time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewServer(Options{Preset: Auth0})
			if err != nil {
				t.Fatal(err)
			}
			const calls = 3
			entered := watchCalls(s, calls)
			tt.set(s)
			errc := make(chan error, calls)
			for range calls {
				go func() {
					resp, err := http.PostForm(s.TokenURL(), auth0ClientCredentials())
					if err == nil {
						resp.Body.Close()
					}
					errc <- err
				}()
			}
			for range calls {
				await(t, entered)
			}
			s.Close() // must not block
			for range calls {
				if err := await(t, errc); err == nil {
					t.Error("a released call got a response; want a transport error")
				}
			}
			if got := s.Stats().MaxConcurrentTokenCalls; got != calls {
				t.Errorf("MaxConcurrentTokenCalls = %d; want %d", got, calls)
			}
		})
	}
}

func TestSetLatency(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Transiteo})
	const d = 30 * time.Millisecond
	s.SetLatency(d)
	began := time.Now()
	wantStatus(t, postForm(t, s, transiteoRefresh(s)), 200)
	if took := time.Since(began); took < d {
		t.Errorf("call took %v; want at least %v", took, d)
	}

	s.SetLatency(time.Hour)
	entered := watchCalls(s, 1)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	req := tokenRequest(t, ctx, s, transiteoRefresh(s))
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	await(t, entered)
	cancel()
	if err := await(t, errc); !errors.Is(err, context.Canceled) {
		t.Errorf("delayed call error = %v; want context.Canceled", err)
	}

	s.SetLatency(-time.Second) // off
	wantStatus(t, postForm(t, s, transiteoRefresh(s)), 200)
}

func TestLoseNextRotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       Options
		refresh    func(s *Server, rt string) url.Values
		oldStillOK bool // the presented refresh token survives
	}{
		{"Daxium", Options{Preset: Daxium}, func(_ *Server, rt string) url.Values { return daxiumRefresh(rt) }, false},
		{"Auth0 rotation", Options{Preset: Auth0, Rotation: true}, func(_ *Server, rt string) url.Values { return auth0Refresh(rt) }, false},
		{"Auth0 static", Options{Preset: Auth0}, func(_ *Server, rt string) url.Values { return auth0Refresh(rt) }, true},
		{"Transiteo", Options{Preset: Transiteo}, func(s *Server, _ string) url.Values { return transiteoRefresh(s) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, tt.opts)
			rt := s.Issue("", "offline_access").RefreshToken
			s.LoseNextRotation()
			resp, err := send(t, t.Context(), s, tt.refresh(s, rt))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("status %d; want the connection closed without a response", resp.StatusCode)
			}
			r := postForm(t, s, tt.refresh(s, rt))
			if got := r.status == 200; got != tt.oldStillOK {
				t.Errorf("old refresh token status = %d; want success %v", r.status, tt.oldStillOK)
			}
			st := s.Stats()
			if wantReuse := map[bool]int{true: 0, false: 1}[tt.oldStillOK]; st.RefreshReuse != wantReuse {
				t.Errorf("RefreshReuse = %d; want %d", st.RefreshReuse, wantReuse)
			}
			if st.TokenCalls["refresh_token"] != 2 {
				t.Errorf("refresh calls = %d; want 2", st.TokenCalls["refresh_token"])
			}
		})
	}

	t.Run("waits for a successful refresh", func(t *testing.T) {
		t.Parallel()
		s := start(t, Options{Preset: Daxium})
		s.LoseNextRotation()
		wantStatus(t, postForm(t, s, daxiumLogin()), 200)           // not a refresh
		wantStatus(t, postForm(t, s, daxiumRefresh("rt_bad")), 401) // not a success
		rt := s.Issue("", "").RefreshToken
		if resp, err := send(t, t.Context(), s, daxiumRefresh(rt)); err == nil {
			resp.Body.Close()
			t.Error("successful refresh got a response; want the connection closed")
		}
		wantStatus(t, postForm(t, s, daxiumRefresh(s.Issue("", "").RefreshToken)), 200) // once only
	})
}
