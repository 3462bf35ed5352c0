package oauthtest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"time"
)

// maxFormBytes bounds the token request body a Server reads.
const maxFormBytes = 64 << 10

// provider is what differs between presets.
type provider interface {
	tokenPath() string
	apiPath() string
	tokenType() string
	// shape says which tokens a login with scope returns.
	shape(scope string) (withRefresh, withID bool)
	// grant answers a well-formed POST to the token endpoint.
	grant(s *Server, r *http.Request, form url.Values) reply
	// credential checks an API request's credential.
	credential(s *Server, r *http.Request) (*grantRecord, *reply)
	// errorBody is the preset's token-endpoint error body for p.
	errorBody(p problem, now time.Time) any
	// tokenBody is the preset's success body for t.
	tokenBody(t TokenResponse, expiresIn any) any
}

// problem is a token-endpoint error in the vocabularies of every preset.
type problem struct {
	oauth string // RFC 6749 error code
	daerr string // Daxium code
	desc  string
}

// reply is a JSON response yet to be written.
type reply struct {
	status int
	header http.Header
	body   any
}

// Server is a fake OAuth2 provider running on a loopback httptest server.
// Create it with NewServer and stop it with Close. All its methods are safe
// for concurrent use by multiple goroutines, including while requests are
// being served.
type Server struct {
	opts      Options
	p         provider
	ts        *httptest.Server
	firstUser string
	done      chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	access   map[string]*grantRecord
	idTokens map[string]*grantRecord
	refresh  map[string]*refreshRecord
	codes    map[string]*authCode
	logins   map[string][]time.Time
	jtis     map[string]time.Time // assertion jti (assertions, DPoP proofs) -> its exp, to refuse replays
	faults   []fault
	latency  time.Duration
	loseNext bool
	inFlight int
	stats    Stats
	entered  chan<- struct{} // tests: signalled when a token call starts
	proto    *protocol       // signing keys, device codes (protocol.go)

	dpopNonce string // the DPoP nonce demanded, under mu (dpop.go)
	// certClients are the transports of ClientWithCertificate, under mu
	// (mtls.go).
	certClients []*http.Transport
}

// NewServer starts a fake provider configured by opts on a loopback
// address. It returns an error for invalid Options. Call Close when done,
// typically with t.Cleanup(s.Close).
func NewServer(opts Options) (*Server, error) {
	o, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:      o,
		firstUser: o.firstUser(),
		done:      make(chan struct{}),
		access:    make(map[string]*grantRecord),
		idTokens:  make(map[string]*grantRecord),
		refresh:   make(map[string]*refreshRecord),
		codes:     make(map[string]*authCode),
		logins:    make(map[string][]time.Time),
		jtis:      make(map[string]time.Time),
		stats:     Stats{TokenCalls: make(map[string]int)},
		proto:     newProtocol(),
		dpopNonce: rand.Text(),
	}
	mux := http.NewServeMux()
	switch o.Preset {
	case Daxium:
		s.p = daxium{}
	case Transiteo:
		s.p = transiteo{}
	case Auth0:
		a := auth0{}
		s.p = a
		mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) { a.authorize(s, w, r) })
		s.mountProtocol(mux)
	}
	mux.HandleFunc(s.p.tokenPath(), s.handleToken)
	mux.HandleFunc(s.p.apiPath(), s.handleAPI)
	s.ts = s.startServer(mux)
	return s, nil
}

// Close shuts the server down. It first releases the handlers held by
// HangNext or SetLatency, so it neither blocks nor leaves a goroutine
// behind. Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ts.Close()
		s.closeCertClients()
	})
}

// URL returns the server's base URL, such as http://127.0.0.1:PORT
// (https with Options.MTLS).
func (s *Server) URL() string { return s.ts.URL }

// TokenURL returns the token endpoint: /oauth/v2/token for Daxium,
// /oauth2/token for Transiteo, /oauth/token for Auth0.
func (s *Server) TokenURL() string { return s.ts.URL + s.p.tokenPath() }

// AuthorizeURL returns the Auth0 authorization endpoint, /authorize, and
// "" for the presets that have none.
func (s *Server) AuthorizeURL() string {
	if s.opts.Preset != Auth0 {
		return ""
	}
	return s.ts.URL + "/authorize"
}

// APIURL returns a protected API endpoint that answers 200 with a small
// JSON body to a request with a valid credential: /api/v1.3/me for Daxium,
// /v1/ping for Transiteo, /api/me for Auth0. It accepts any method; the
// body names the user, scope and method, and echoes the request body.
func (s *Server) APIURL() string { return s.ts.URL + s.p.apiPath() }

// RefreshToken returns Transiteo's static refresh token (Options.RefreshToken
// or a random one), and "" for the other presets.
func (s *Server) RefreshToken() string { return s.opts.RefreshToken }

// Client returns an HTTP client configured for the server, with no client
// certificate; Close closes its idle connections.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// now reads the server clock.
func (s *Server) now() time.Time {
	if s.opts.Clock != nil {
		return s.opts.Clock.Now()
	}
	return time.Now()
}

// handleToken serves the token endpoint: stats, latency and faults first,
// then the preset's grant.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	var (
		form url.Values
		perr *problem
	)
	if r.Method == http.MethodPost {
		form, perr = readForm(w, r)
	}
	grant := form.Get("grant_type")
	s.enter(grant)
	defer s.leave()

	if !s.delay(r) {
		abort(w)
		return
	}
	if f, ok := s.nextFault(); ok {
		s.writeFault(w, r, f)
		return
	}

	var rep reply
	switch {
	case r.Method != http.MethodPost:
		rep = s.fail(http.StatusMethodNotAllowed, problem{"invalid_request", CodeMethodNotAllowed,
			fmt.Sprintf("method %s not allowed, use POST", r.Method)})
		rep.header = http.Header{"Allow": {http.MethodPost}}
	case perr != nil:
		rep = s.fail(http.StatusBadRequest, *perr)
	default:
		rep = s.p.grant(s, r, form)
	}
	if rep.status == http.StatusOK && grant == "refresh_token" && s.takeLoseRotation() {
		abort(w)
		return
	}
	writeJSON(w, rep)
}

// readForm reads a token request's form body, strictly: the content type
// must be a form, the body small, and no parameter repeated (RFC 6749 3.2).
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, *problem) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &problem{"invalid_request", CodeBadRequest,
			"Content-Type must be application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, &problem{"invalid_request", CodeBadRequest, "malformed form body"}
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return r.PostForm, &problem{"invalid_request", CodeBadRequest,
				fmt.Sprintf("parameter %s is repeated", k)}
		}
	}
	return r.PostForm, nil
}

// handleAPI serves the protected API endpoint.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	rec, fail := s.p.credential(s, r)
	s.mu.Lock()
	s.stats.APICalls++
	if fail != nil && fail.status == http.StatusUnauthorized {
		s.stats.API401s++
	}
	s.mu.Unlock()
	if fail != nil {
		writeJSON(w, *fail)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxFormBytes))
	writeJSON(w, reply{status: http.StatusOK, body: map[string]string{
		"user":   rec.user,
		"scope":  rec.scope,
		"method": r.Method,
		"body":   string(body),
	}})
}

// fail is an error reply in the preset's shape.
func (s *Server) fail(status int, p problem) reply {
	return reply{status: status, body: s.p.errorBody(p, s.now())}
}

// ok is a success reply carrying t in the preset's shape.
func (s *Server) ok(t TokenResponse) reply {
	var expiresIn any = t.ExpiresIn
	if s.opts.ExpiresInAsString {
		expiresIn = fmt.Sprint(t.ExpiresIn)
	}
	return reply{
		status: http.StatusOK,
		header: http.Header{"Cache-Control": {"no-store"}, "Pragma": {"no-cache"}},
		body:   s.p.tokenBody(t, expiresIn),
	}
}

// checkClient reports whether id and secret are the configured client's.
func (s *Server) checkClient(id, secret string) bool {
	return id == s.opts.ClientID && secret == s.opts.ClientSecret
}

// writeJSON writes rep.
func writeJSON(w http.ResponseWriter, rep reply) {
	body, err := json.Marshal(rep.body)
	if err != nil {
		panic(fmt.Sprintf("oauthtest: encoding reply: %v", err))
	}
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(rep.status)
	_, _ = w.Write(body)
}

// missing returns the first of names absent or empty in form, or "".
func missing(form url.Values, names ...string) string {
	for _, n := range names {
		if form.Get(n) == "" {
			return n
		}
	}
	return ""
}
