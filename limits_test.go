package tokenkeeper

// Resource limits: token and error bodies are read up to 1 MiB, the body
// of a refused request is drained within a bound, a token with control
// characters is never sent, and the default timeouts bound every call.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// limitBound is how long a call bounded by a short timeout may take on a
// loaded machine: generous, but far below what an unbounded call would.
const limitBound = 5 * time.Second

// limitEndless is a response body that never ends, counting what was read.
type limitEndless struct {
	read   atomic.Int64
	closed atomic.Int32
}

func (b *limitEndless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	b.read.Add(int64(len(p)))
	return len(p), nil
}

func (b *limitEndless) Close() error {
	b.closed.Add(1)
	return nil
}

// limitStreamer serves an endless body after head, and reports how many
// bytes it managed to write before the client went away.
func limitStreamer(t *testing.T, status int, head string) (*httptest.Server, <-chan int64) {
	t.Helper()
	written := make(chan int64, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		n, _ := io.WriteString(w, head)
		total := int64(n)
		chunk := []byte(strings.Repeat("x", 32<<10))
		// Stop at 256 MiB whatever happens, so a client that reads
		// everything fails the test instead of running it forever.
		for total < 256<<20 {
			n, err := w.Write(chunk)
			total += int64(n)
			if err != nil {
				break
			}
		}
		written <- total
	}))
	t.Cleanup(srv.Close)
	return srv, written
}

// TestLimitTokenResponseBodyCap: a token response is read up to 1 MiB: a
// body of exactly 1 MiB decodes, one byte more is a clear error, and an
// endless body neither hangs the client nor is read to its end.
// limitCheckTooLarge checks the error for a body over the cap: an *Error
// with the status, the first MiB of the body at most, that matches
// ErrMalformedResponse and, for a token, says the body was too large.
func limitCheckTooLarge(t *testing.T, err error, status int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %q is not an *Error", err, err)
	}
	if len(e.Body) > maxBody {
		t.Errorf("len(Body) = %d; want at most %d", len(e.Body), maxBody)
	}
	if e.StatusCode != status {
		t.Errorf("StatusCode = %d; want %d", e.StatusCode, status)
	}
	if !errors.Is(err, ErrMalformedResponse) {
		t.Errorf("error %q is not ErrMalformedResponse", err)
	}
	if status == http.StatusOK && !strings.Contains(err.Error(), "exceeds 1048576 bytes") {
		t.Errorf("error %q does not say the body was too large", err)
	}
}

func TestLimitTokenResponseBodyCap(t *testing.T) {
	t.Parallel()
	pad := func(n int) string {
		head := `{"access_token":"at","token_type":"Bearer","expires_in":3600,"pad":"`
		return head + strings.Repeat("x", n-len(head)-2) + `"}`
	}
	for _, tt := range []struct {
		name   string
		status int
		body   string
		ok     bool
	}{
		{"token of exactly 1 MiB", http.StatusOK, pad(maxBody), true},
		{"token of 1 MiB and one byte", http.StatusOK, pad(maxBody + 1), false},
		{"token of 2 MiB", http.StatusOK, pad(2 * maxBody), false},
		{"error of 2 MiB", http.StatusBadRequest, `{"error":"invalid_grant","pad":"` + strings.Repeat("x", 2*maxBody) + `"}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			c, err := New(Config{TokenURL: srv.URL + "/token", ClientID: "client", HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.Token(context.Background(), ClientCredentialsGrant())
			if tt.ok {
				if err != nil || tok.AccessToken != "at" {
					t.Fatalf("Token = %v, %v; want the token", tok, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Token = %v; want an error", tok)
			}
			limitCheckTooLarge(t, err, tt.status)
		})
	}

	t.Run("endless", func(t *testing.T) {
		t.Parallel()
		srv, written := limitStreamer(t, http.StatusOK, `{"access_token":"at","pad":"`)
		c, err := New(Config{TokenURL: srv.URL + "/token", ClientID: "client", HTTPClient: srv.Client()})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = c.Token(context.Background(), ClientCredentialsGrant())
		if !errors.Is(err, ErrMalformedResponse) {
			t.Errorf("Token = %v; want ErrMalformedResponse", err)
		}
		if d := time.Since(start); d > limitBound {
			t.Errorf("Token took %v on an endless body", d)
		}
		select {
		case n := <-written:
			// The client stopped reading at 1 MiB; socket buffers hold
			// a few more.
			if n >= 64<<20 {
				t.Errorf("the server wrote %d MiB before the client went away", n>>20)
			}
		case <-time.After(limitBound):
			t.Errorf("the server still writes %v after the client gave up", limitBound)
		}
	})
}

// TestLimitDecodeErrorBodyCap: DecodeError reads at most 1 MiB (and one
// byte to tell that there is more) of any body, and closes it.
func TestLimitDecodeErrorBodyCap(t *testing.T) {
	t.Parallel()
	body := &limitEndless{}
	e := DecodeError(&http.Response{StatusCode: http.StatusBadGateway, Header: http.Header{"Content-Type": {"text/html"}}, Body: body})
	if n := body.read.Load(); n > maxBody+64<<10 {
		t.Errorf("DecodeError read %d bytes; want about %d", n, maxBody)
	}
	if body.closed.Load() != 1 {
		t.Errorf("body closed %d times; want 1", body.closed.Load())
	}
	if len(e.Body) > maxBody {
		t.Errorf("len(Body) = %d; want at most %d", len(e.Body), maxBody)
	}
	if e.StatusCode != http.StatusBadGateway || !errors.Is(e, ErrMalformedResponse) {
		t.Errorf("DecodeError = %q; want a 502 wrapping ErrMalformedResponse", e)
	}

	// Through a real connection, from a server that never stops.
	srv, written := limitStreamer(t, http.StatusUnauthorized, `{"message":"`)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e = DecodeError(resp)
	if d := time.Since(start); d > limitBound {
		t.Errorf("DecodeError took %v on an endless body", d)
	}
	if e.StatusCode != http.StatusUnauthorized || len(e.Body) > maxBody || !errors.Is(e, ErrMalformedResponse) {
		t.Errorf("DecodeError = %q with %d body bytes; want a 401, at most 1 MiB, ErrMalformedResponse", e, len(e.Body))
	}
	select {
	case n := <-written:
		if n >= 64<<20 {
			t.Errorf("the server wrote %d MiB before DecodeError closed the body", n>>20)
		}
	case <-time.After(limitBound):
		t.Errorf("the server still writes %v after DecodeError returned", limitBound)
	}
}

// TestLimitUnauthorizedDrainBounded: the body of an API's 401 is drained
// only up to a bound before the Transport replays the request.
func TestLimitUnauthorizedDrainBounded(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	first := &limitEndless{}
	api := mtRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		if calls.Add(1) == 1 {
			return &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{}, Body: first, Request: r}, nil
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	tokens := limitTokenServer(t, func(n int) string {
		return fmt.Sprintf(`{"access_token":"at-%d","refresh_token":"rt-%d","token_type":"Bearer","expires_in":3600}`, n, n)
	})
	src := limitSource(t, tokens.URL, SourceConfig{Login: ClientCredentialsGrant()})
	resp, err := src.HTTPClient(api).Get("https://api.example.com/v1/me")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET = %v, %v; want the replayed 200", resp, err)
	}
	resp.Body.Close()
	if n := first.read.Load(); n > 1<<20 {
		t.Errorf("the 401's body was read for %d bytes before the replay", n)
	}
	if first.closed.Load() != 1 {
		t.Errorf("the 401's body was closed %d times; want 1", first.closed.Load())
	}
}

// limitTokenServer answers the n-th token request (from 1) with body(n).
func limitTokenServer(t *testing.T, body func(n int) string) *httptest.Server {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body(int(n.Add(1))))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// limitSource returns a Source on the token endpoint at base, closed at
// the end of the test.
func limitSource(t *testing.T, base string, sc SourceConfig) *Source {
	t.Helper()
	return limitSourceWith(t, Config{TokenURL: base + "/token", ClientID: "client"}, sc)
}

func limitSourceWith(t *testing.T, cfg Config, sc SourceConfig) *Source {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(c, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// TestLimitControlCharactersInToken: a token (or token_type) that would
// inject a line into a header is refused before any request carries it.
func TestLimitControlCharactersInToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		credential Credential
	}{
		{"CR LF in access_token", `{"access_token":"at\r\nX-Injected: 1","token_type":"Bearer","expires_in":3600}`, Credential{}},
		{"LF in access_token", `{"access_token":"at\nX-Injected: 1","expires_in":3600}`, Credential{}},
		{"CR in access_token", `{"access_token":"at\rX","expires_in":3600}`, Credential{}},
		{"NUL in access_token", `{"access_token":"at\u0000x","expires_in":3600}`, Credential{}},
		{"DEL in access_token", `{"access_token":"at\u007fx","expires_in":3600}`, Credential{}},
		{"escape in access_token", `{"access_token":"at\u001b[31m","expires_in":3600}`, Credential{}},
		{"space in access_token", `{"access_token":"at x","expires_in":3600}`, Credential{}},
		{"tab in access_token", `{"access_token":"at\tx","expires_in":3600}`, Credential{}},
		{"CR LF in token_type", `{"access_token":"at","token_type":"Bearer\r\nX-Injected: 1","expires_in":3600}`, Credential{}},
		{"CR LF in raw id_token", `{"access_token":"at","id_token":"id\r\nX-Injected: 1","expires_in":3600}`, Credential{Raw: true, IDToken: true}},
		{"form-encoded CR LF", "access_token=at%0D%0AX-Injected%3A+1&expires_in=3600", Credential{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if strings.HasPrefix(tt.body, "{") {
					w.Header().Set("Content-Type", "application/json")
				} else {
					w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
				}
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(tokens.Close)
			var mu sync.Mutex
			var sent []http.Header
			api := mtRoundTripFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				sent = append(sent, r.Header.Clone())
				mu.Unlock()
				return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
			})
			src := limitSourceWith(t, Config{TokenURL: tokens.URL + "/token", ClientID: "client", Credential: tt.credential},
				SourceConfig{Login: ClientCredentialsGrant()})
			ctx, cancel := context.WithTimeout(context.Background(), limitBound)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://api.example.com/v1/me", nil)
			resp, err := src.HTTPClient(api).Do(req)
			if err == nil {
				resp.Body.Close()
				t.Errorf("request sent with status %d; want an error", resp.StatusCode)
			} else if !strings.Contains(err.Error(), "not allowed in a header") {
				t.Errorf("error %q does not say why the token cannot be sent", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sent) != 0 {
				t.Errorf("%d requests sent; want none (headers %q)", len(sent), sent)
			}
		})
	}
}

// TestLimitUnsendableTokenRecovers: after a token endpoint hands out a
// token that cannot be sent in a header, the Source gets a new one once
// the backoff has passed, rather than failing every request until that
// token nears its expiry.
func TestLimitUnsendableTokenRecovers(t *testing.T) {
	t.Parallel()
	clock := oauthtest.NewClock(hygEpoch)
	tokens := limitTokenServer(t, func(n int) string {
		if n == 1 {
			return `{"access_token":"at\r\nX-Injected: 1","expires_in":3600}`
		}
		return `{"access_token":"at-good","expires_in":3600}`
	})
	api := mtRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
	})
	src := limitSourceWith(t, Config{TokenURL: tokens.URL + "/token", ClientID: "client", Clock: clock},
		SourceConfig{Login: ClientCredentialsGrant(), MinBackoff: time.Second, MaxBackoff: 2 * time.Second, ReloginInterval: time.Second})
	hc := src.HTTPClient(api)
	// A caller that cannot wait for the next attempt gets the failure.
	req, _ := http.NewRequestWithContext(mtImpatient(t), http.MethodGet, "https://api.example.com/v1/me", nil)
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the unsendable token was sent")
	}
	clock.Advance(5 * time.Minute)
	resp, err := hc.Get("https://api.example.com/v1/me")
	if err != nil {
		t.Fatalf("five minutes later: %v; want a new token and the request sent", err)
	}
	resp.Body.Close()
}

// TestLimitDefaultTimeouts: every outbound call is bounded by default: the
// default HTTP client has a timeout, and a refresh against a server that
// never answers ends after RefreshTimeout, whatever the caller's context.
func TestLimitDefaultTimeouts(t *testing.T) {
	t.Parallel()
	c, err := New(Config{TokenURL: "https://auth.example.com/token", ClientID: "client"})
	if err != nil {
		t.Fatal(err)
	}
	if c.hc == nil || c.hc.Timeout <= 0 || c.hc.Timeout > time.Minute {
		t.Errorf("default HTTP client timeout = %v; want a positive bound of at most a minute", c.hc.Timeout)
	}

	clock := oauthtest.NewClock(hygEpoch)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	cfg := DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = srv.URL()
	cfg.HTTPClient = &http.Client{Transport: transport}
	cfg.Clock = clock
	const refreshTimeout = 300 * time.Millisecond
	src := limitSourceWith(t, cfg, SourceConfig{
		Login:          PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword),
		RefreshTimeout: refreshTimeout,
	})

	for name, call := range map[string]func() error{
		"TokenContext(context.Background())": func() error { _, err := src.TokenContext(context.Background()); return err },
		"Token()":                            func() error { _, err := src.Token(); return err },
	} {
		// Past any backoff and ReloginInterval of a previous attempt.
		clock.Advance(defaultMaxBackoff + defaultReloginInterval)
		srv.HangNext(1)
		before := srv.Stats().TokenCallsTotal
		start := time.Now()
		err := call()
		if d := time.Since(start); d > refreshTimeout+limitBound {
			t.Errorf("%s against a hung server returned after %v; RefreshTimeout is %v", name, d, refreshTimeout)
		}
		if err == nil {
			t.Errorf("%s against a hung server succeeded", name)
		}
		if got := srv.Stats().TokenCallsTotal - before; got != 1 {
			t.Errorf("%s made %d token calls; want 1, to the hung server", name, got)
		}
	}

	// A Client call with no deadline is bounded by its HTTP client's
	// Timeout.
	bounded := cfg
	bounded.HTTPClient = &http.Client{Transport: transport, Timeout: refreshTimeout}
	bc, err := New(bounded)
	if err != nil {
		t.Fatal(err)
	}
	srv.HangNext(1)
	start := time.Now()
	_, err = bc.Token(context.Background(), PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword))
	if d := time.Since(start); d > refreshTimeout+limitBound || err == nil {
		t.Errorf("Client.Token against a hung server: %v after %v; want an error after about %v", err, d, refreshTimeout)
	}
	if !IsRetryable(err) {
		t.Errorf("IsRetryable(%q) = false; want true for an HTTP client timeout", err)
	}
}
