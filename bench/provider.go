package bench

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Credentials of the client the provider knows.
const (
	clientID     = "bench-client"
	clientSecret = "bench-secret"
)

// tokenLifetime is the expires_in of every token the provider issues.
const tokenLifetime = time.Hour

// provider is a loopback OAuth2 provider for the load scenarios: a token
// endpoint (refresh_token grant only, client credentials in the form body
// or with HTTP Basic) that rotates refresh tokens, waits a configurable
// latency before answering, and can answer 503 for a while; and the API it
// protects, which accepts the access tokens it issued and has not revoked.
// Both run on their own httptest servers. A provider is safe for
// concurrent use.
type provider struct {
	token, api *httptest.Server
	latency    time.Duration

	mu          sync.Mutex
	access      map[string]bool // issued access tokens: revoked?
	refresh     map[string]bool // live refresh tokens
	outageUntil time.Time
	inFlight    int
	lastEnd     time.Time
	stats       providerStats
}

// providerStats counts what the provider saw since the last resetStats.
type providerStats struct {
	// tokenCalls counts token-endpoint calls, failed ones included;
	// tokenFailures those answered with an error (503 or invalid_grant).
	tokenCalls, tokenFailures int
	// windows is when each token call was being answered.
	windows []window
	// apiCalls counts API calls; api401s those answered 401.
	apiCalls, api401s int
}

// window is a span of time.
type window struct{ start, end time.Time }

// overlaps reports whether w and [start, end] share an instant.
func (w window) overlaps(start, end time.Time) bool {
	return w.start.Before(end) && start.Before(w.end)
}

// newProvider starts a provider whose token endpoint answers after
// latency.
func newProvider(latency time.Duration) *provider {
	p := &provider{
		latency: latency,
		access:  make(map[string]bool),
		refresh: make(map[string]bool),
	}
	p.token = httptest.NewServer(http.HandlerFunc(p.serveToken))
	p.api = httptest.NewServer(http.HandlerFunc(p.serveAPI))
	return p
}

// close stops both servers.
func (p *provider) close() {
	p.token.Close()
	p.api.Close()
}

func (p *provider) tokenURL() string { return p.token.URL + "/oauth/token" }
func (p *provider) apiURL() string   { return p.api.URL + "/v1/me" }

// issue mints a token pair, as a login would have, without counting a
// token call.
func (p *provider) issue() (access, refresh string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mintLocked()
}

func (p *provider) mintLocked() (access, refresh string) {
	access, refresh = "at_"+rand.Text(), "rt_"+rand.Text()
	p.access[access] = false
	p.refresh[refresh] = true
	return access, refresh
}

// revoke makes the API refuse access from now on.
func (p *provider) revoke(access string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.access[access]; ok {
		p.access[access] = true
	}
}

// failFor makes the token endpoint answer 503 at once, as a proxy in
// front of a provider that is down does, for d from now.
func (p *provider) failFor(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.outageUntil = time.Now().Add(d)
}

// snapshot returns a copy of the counters.
func (p *provider) snapshot() providerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.windows = append([]window(nil), p.stats.windows...)
	return st
}

// resetStats sets the counters to zero.
func (p *provider) resetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = providerStats{}
}

// settle waits, at most limit, until no token call is in flight and none
// has ended for quiet: a background refresh started by the load is then
// counted whole.
func (p *provider) settle(quiet, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		idle := p.inFlight == 0 && time.Since(p.lastEnd) >= quiet
		p.mu.Unlock()
		if idle {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *provider) serveToken(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p.mu.Lock()
	p.stats.tokenCalls++
	p.inFlight++
	outage := start.Before(p.outageUntil)
	p.mu.Unlock()
	failed := true
	defer func() {
		end := time.Now()
		p.mu.Lock()
		p.inFlight--
		p.lastEnd = end
		p.stats.windows = append(p.stats.windows, window{start, end})
		if failed {
			p.stats.tokenFailures++
		}
		p.mu.Unlock()
	}()

	if outage {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1></body></html>\n")
		return
	}
	if p.latency > 0 {
		t := time.NewTimer(p.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != clientID || secret != clientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	p.mu.Lock()
	old := r.PostForm.Get("refresh_token")
	if !p.refresh[old] {
		p.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	delete(p.refresh, old) // rotation: the old refresh token dies
	access, refresh := p.mintLocked()
	p.mu.Unlock()
	failed = false
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  access,
		"token_type":    "Bearer",
		"expires_in":    int(tokenLifetime / time.Second),
		"refresh_token": refresh,
	})
}

func (p *provider) serveAPI(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	p.mu.Lock()
	revoked, known := p.access[token]
	ok := strings.EqualFold(scheme, "Bearer") && known && !revoked
	p.stats.apiCalls++
	if !ok {
		p.stats.api401s++
	}
	p.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": "bench"})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
