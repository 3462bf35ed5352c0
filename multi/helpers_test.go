package multi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Helpers shared by the package's tests.

// t0 is the start of every fake clock.
var t0 = time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC)

// waitFor bounds every wait of a test: a test that needs longer is stuck.
const waitFor = 15 * time.Second

// testCtx returns a context that ends after waitFor or with the test.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("timed out after %v waiting for %s", waitFor, what)
		panic("unreachable")
	}
}

// newManager returns a Manager closed at the end of the test.
func newManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// daxium starts the Daxium fake provider with n users, user-0 to
// user-(n-1), whose password is "pw-" and the name.
func daxium(t *testing.T, n int, clock *oauthtest.Clock) *oauthtest.Server {
	t.Helper()
	users := make(map[string]string, n)
	for i := range n {
		name := fmt.Sprintf("user-%d", i)
		users[name] = "pw-" + name
	}
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Users: users, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// daxiumOpen opens the credential of k.Subject on srv with the password
// grant.
func daxiumOpen(srv *oauthtest.Server, clock *oauthtest.Clock) func(context.Context, Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
	return func(_ context.Context, k Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
		cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
		cfg.BaseURL = srv.URL()
		cfg.Clock, cfg.HTTPClient = clock, srv.Client()
		c, err := tokenkeeper.New(cfg)
		return c, tokenkeeper.SourceConfig{Login: tokenkeeper.PasswordGrant(k.Subject, "pw-"+k.Subject)}, err
	}
}

// getJSON sends a GET to u with ctx through client and decodes the JSON
// object it answers.
func getJSON(ctx context.Context, client *http.Client, u string) (int, map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]string
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	_ = json.Unmarshal(data, &body)
	return resp.StatusCode, body, nil
}

// paramIdP is a client credentials token endpoint (/token) and an API
// (/api) that know which parameters each token was issued for: the API
// answers with the tenant, subject, scope, audience, resource and jkt of
// the token it was sent. Every token is new ("at-" and a counter); each
// call to /token is counted.
type paramIdP struct {
	ts    *httptest.Server
	calls atomic.Int64

	mu     sync.Mutex // guards issued
	issued map[string]map[string]string
}

// paramNames are the token request parameters paramIdP records.
var paramNames = []string{"tenant", "subject", "scope", "audience", "resource", "jkt"}

func newParamIdP(t *testing.T) *paramIdP {
	t.Helper()
	p := &paramIdP{issued: make(map[string]map[string]string)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		n := p.calls.Add(1)
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		rec := make(map[string]string, len(paramNames))
		for _, name := range paramNames {
			rec[name] = r.PostForm.Get(name)
		}
		at := fmt.Sprintf("at-%d", n)
		p.mu.Lock()
		p.issued[at] = rec
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":3600}`, at)
	})
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		at, _ := bearer(r.Header.Get("Authorization"))
		p.mu.Lock()
		rec, ok := p.issued[at]
		p.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rec)
	})
	p.ts = httptest.NewServer(mux)
	t.Cleanup(p.ts.Close)
	return p
}

func bearer(h string) (string, bool) {
	const prefix = "Bearer "
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return "", false
	}
	return h[len(prefix):], true
}

// open returns an Open func that asks p for a client credentials token
// with every field of the key as a parameter, on clock.
func (p *paramIdP) open(clock interface{ Now() time.Time }) func(context.Context, Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
	return func(_ context.Context, k Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
		c, err := tokenkeeper.New(tokenkeeper.Config{
			TokenURL: p.ts.URL + "/token", ClientID: "svc", ClientSecret: "svc-secret",
			HTTPClient: p.ts.Client(), Clock: clock,
		})
		opts := append(k.Params(),
			tokenkeeper.Param("tenant", k.Tenant), tokenkeeper.Param("subject", k.Subject), tokenkeeper.Param("jkt", k.ProofKey))
		return c, tokenkeeper.SourceConfig{Login: tokenkeeper.ClientCredentialsGrant(opts...)}, err
	}
}

// want is what p's API answers for a token issued for k.
func (k Key) want() map[string]string {
	return map[string]string{"tenant": k.Tenant, "subject": k.Subject, "scope": k.Scope,
		"audience": k.Audience, "resource": k.Resource, "jkt": k.ProofKey}
}

// countingLogin opens credentials whose LoginFunc makes tokens valid for
// an hour on clock, without I/O, and counts the opens and the logins; the
// login of subject "slow" waits for unblock to be closed, after a send on
// blocked.
type countingLogin struct {
	clock *oauthtest.Clock
	calls atomic.Int64
	opens atomic.Int64

	blocked chan struct{}
	unblock chan struct{}
}

func (l *countingLogin) open(_ context.Context, k Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
	l.opens.Add(1)
	c, err := tokenkeeper.New(tokenkeeper.Config{TokenURL: "http://127.0.0.1/token", ClientID: "svc", Clock: l.clock})
	return c, tokenkeeper.SourceConfig{LoginFunc: func(context.Context) (*tokenkeeper.Token, error) {
		n := l.calls.Add(1)
		if k.Subject == "slow" {
			l.blocked <- struct{}{}
			<-l.unblock
		}
		now := l.clock.Now()
		return &tokenkeeper.Token{AccessToken: fmt.Sprintf("%s-%d", k.Subject, n), TokenType: "Bearer",
			IssuedAt: now, Expiry: now.Add(time.Hour)}, nil
	}}, err
}

// entryOf returns k's live entry, or nil.
func (m *Manager) entryOf(k Key) *entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live[k]
}
