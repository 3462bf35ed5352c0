package interop

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
)

// tokenLifetime is how long the provider's access tokens live. Its
// expires_in says 15: the provider truncates the seconds left.
const tokenLifetime = 16 * time.Second

// The clients registered with the provider, and its user.
const (
	webID, webSecret   = "web", "secret" // confidential, client_secret_basic
	nativeID           = "native"        // public, PKCE only
	deviceID           = "device"        // device authorization grant
	deviceSecret       = "secret"        //
	serviceID          = "sid1"          // the example storage's built-in service user
	serviceSecret      = "verysecret"    // (client credentials)
	keyClientID        = "keyweb"        // confidential, private_key_jwt
	userName, password = "test-user2", "verysecure"
	scopes             = "openid offline_access"
)

// Redirect URIs. Nothing listens there: the login driver stops at the
// redirect and reads the code from it.
const (
	webRedirect    = "http://127.0.0.1:9/callback"
	nativeRedirect = "http://127.0.0.1/callback" // a native client may use any port (RFC 8252)
)

// provider is ZITADEL's example OpenID Provider, in-process on loopback,
// with its token endpoint traffic recorded.
type provider struct {
	Issuer                 string
	AuthURL                string `json:"authorization_endpoint"`
	TokenURL               string `json:"token_endpoint"`
	UserinfoURL            string `json:"userinfo_endpoint"`
	RevocationURL          string `json:"revocation_endpoint"`
	IntrospectionURL       string `json:"introspection_endpoint"`
	DeviceAuthorizationURL string `json:"device_authorization_endpoint"`

	wire  *wire
	store *shortLived
	http  *http.Client // for the test's own calls (revocation, userinfo)
}

// startOP starts a provider for one test, with short-lived access tokens.
// Its registered clients: web (confidential), native (public), device, and
// sid1, the service user of the client credentials grant, registered as a
// web client too so that a resource server can introspect its tokens, and
// keyweb, a web client that authenticates with private_key_jwt. Its keys,
// and those of the JWT bearer grant, are the test's: see registerKey.
func startOP(t *testing.T) *provider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	clients := map[string]*storage.Client{
		webID:       storage.WebClient(webID, webSecret, webRedirect),
		nativeID:    storage.NativeClient(nativeID, nativeRedirect),
		deviceID:    storage.DeviceClient(deviceID, deviceSecret),
		serviceID:   storage.WebClient(serviceID, serviceSecret, webRedirect),
		keyClientID: storage.WebClient(keyClientID, "", webRedirect),
	}
	store := &shortLived{
		Storage:  storage.NewStorageWithClients(storage.NewUserStore(issuer), clients),
		lifetime: tokenLifetime,
		issued:   map[string]issuedToken{},
		keys:     map[[2]string]*jose.JSONWebKey{},
	}
	p := &provider{Issuer: issuer, wire: &wire{}, store: store, http: newHTTPClient(t)}
	srv.Config.Handler = p.wire.record(exampleop.SetupServer(issuer, store, nil, false))
	srv.Start()
	t.Cleanup(srv.Close)

	resp, err := p.http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: status %d; want 200", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(p); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p
}

// shortLived is the example storage with access tokens that live lifetime
// instead of its fixed five minutes: it tells the token endpoint the
// shorter expiry, and its introspection and userinfo refuse a token past
// it.
//
// It also answers introspection for client credentials tokens, which the
// example storage never finds active: it looks their subject, a service
// user, up among its users.
type shortLived struct {
	*storage.Storage
	lifetime time.Duration

	mu     sync.Mutex                     // guards issued and keys
	issued map[string]issuedToken         // by access token ID
	keys   map[[2]string]*jose.JSONWebKey // by client ID and key ID
}

// registerKey registers the public key that verifies the JWTs a client (or
// the issuer of a JWT bearer grant's assertions) signs with key ID kid.
func (p *provider) registerKey(clientID, kid string, pub crypto.PublicKey) {
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	p.store.keys[[2]string{clientID, kid}] = &jose.JSONWebKey{KeyID: kid, Use: "sig", Key: pub}
}

// GetKeyByIDAndClientID finds the keys of the test before those of the
// example storage. The provider calls it for every JWT it verifies: client
// assertions and JWT bearer grants alike.
func (s *shortLived) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	s.mu.Lock()
	key, ok := s.keys[[2]string{clientID, keyID}]
	s.mu.Unlock()
	if ok {
		return key, nil
	}
	return s.Storage.GetKeyByIDAndClientID(ctx, keyID, clientID)
}

// GetClientByClientID makes keyweb a private_key_jwt client: the example
// storage registers web clients with client_secret_basic only.
func (s *shortLived) GetClientByClientID(ctx context.Context, clientID string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, clientID)
	if err != nil || clientID != keyClientID {
		return c, err
	}
	return keyAuthClient{c}, nil
}

// keyAuthClient is a client that authenticates with private_key_jwt.
type keyAuthClient struct{ op.Client }

func (keyAuthClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodPrivateKeyJWT }

type issuedToken struct {
	expiry  time.Time
	service bool // issued by the client credentials grant
}

func (s *shortLived) issue(id string, service bool) time.Time {
	exp := time.Now().Add(s.lifetime)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued[id] = issuedToken{exp, service}
	return exp
}

func (s *shortLived) lookup(id string) (issuedToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.issued[id]
	if ok && !time.Now().Before(tok.expiry) {
		return tok, errors.New("token is expired")
	}
	return tok, nil
}

func (s *shortLived) CreateAccessToken(ctx context.Context, r op.TokenRequest) (string, time.Time, error) {
	id, _, err := s.Storage.CreateAccessToken(ctx, r)
	if err != nil {
		return "", time.Time{}, err
	}
	_, service := r.(*oidc.JWTTokenRequest) // what the client credentials grant makes
	return id, s.issue(id, service), nil
}

func (s *shortLived) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	id, refresh, _, err := s.Storage.CreateAccessAndRefreshTokens(ctx, r, current)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return id, refresh, s.issue(id, false), nil
}

func (s *shortLived) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	tok, err := s.lookup(tokenID)
	switch {
	case err != nil:
		return err
	case tok.service && subject == clientID: // the service user itself asks
		resp.Subject, resp.ClientID = subject, clientID
		resp.Expiration = oidc.FromTime(tok.expiry)
		return nil
	case tok.service:
		return errors.New("token is not valid for this client")
	}
	return s.Storage.SetIntrospectionFromToken(ctx, resp, tokenID, subject, clientID)
}

func (s *shortLived) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if _, err := s.lookup(tokenID); err != nil {
		return err
	}
	return s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin)
}

// exchange is one token endpoint request and its answer, as seen by the
// provider.
type exchange struct {
	GrantType    string
	ClientID     string // from the body or the Basic header
	Basic        bool   // client authenticated with HTTP Basic
	SecretInBody bool   // client_secret in the form body
	CodeVerifier bool   // a PKCE code_verifier was sent
	RefreshToken string // the refresh token presented
	Assertion    string // the client_assertion, or the assertion of a JWT bearer grant

	Status int
	Answer struct {
		AccessToken      string `json:"access_token"`
		RefreshToken     string `json:"refresh_token"`
		ExpiresIn        int    `json:"expires_in"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
}

// wire records every token endpoint request (every request with a
// grant_type) that reaches the provider.
type wire struct {
	mu  sync.Mutex // guards log
	log []exchange
}

func (w *wire) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(rw, r)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if form.Get("grant_type") == "" {
			next.ServeHTTP(rw, r)
			return
		}
		e := exchange{
			GrantType:    form.Get("grant_type"),
			ClientID:     form.Get("client_id"),
			SecretInBody: form.Has("client_secret"),
			CodeVerifier: form.Has("code_verifier"),
			RefreshToken: form.Get("refresh_token"),
			Assertion:    form.Get("client_assertion") + form.Get("assertion"),
		}
		if id, _, ok := r.BasicAuth(); ok {
			e.Basic = true
			e.ClientID, _ = url.QueryUnescape(id)
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		e.Status = rec.Code
		_ = json.Unmarshal(rec.Body.Bytes(), &e.Answer)
		w.mu.Lock()
		w.log = append(w.log, e)
		w.mu.Unlock()

		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.WriteHeader(rec.Code)
		_, _ = rw.Write(rec.Body.Bytes())
	})
}

// exchanges returns the recorded requests of a grant type, oldest first.
func (w *wire) exchanges(grantType string) []exchange {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []exchange
	for _, e := range w.log {
		if e.GrantType == grantType {
			out = append(out, e)
		}
	}
	return out
}

// newHTTPClient returns a client with its own connections, closed when the
// test ends.
func newHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// testContext returns a context that ends with the test or after d.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// tkClient returns a tokenkeeper Client for one of the provider's clients.
func (p *provider) tkClient(t *testing.T, id, secret string, style tokenkeeper.AuthStyle) *tokenkeeper.Client {
	t.Helper()
	c, err := tokenkeeper.New(tokenkeeper.Config{
		TokenURL:     p.TokenURL,
		AuthURL:      p.AuthURL,
		ClientID:     id,
		ClientSecret: secret,
		AuthStyle:    style,
		HTTPClient:   newHTTPClient(t),
	})
	if err != nil {
		t.Fatalf("tokenkeeper.New: %v", err)
	}
	return c
}

// xConfig returns an x/oauth2 Config for one of the provider's clients.
func (p *provider) xConfig(id, secret, redirect string, style oauth2.AuthStyle) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     id,
		ClientSecret: secret,
		RedirectURL:  redirect,
		Scopes:       strings.Fields(scopes),
		Endpoint: oauth2.Endpoint{
			AuthURL:       p.AuthURL,
			TokenURL:      p.TokenURL,
			DeviceAuthURL: p.DeviceAuthorizationURL,
			AuthStyle:     style,
		},
	}
}

// xContext returns a context that makes x/oauth2 use a client of the test.
func xContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	return context.WithValue(testContext(t, d), oauth2.HTTPClient, newHTTPClient(t))
}

var (
	hiddenID   = regexp.MustCompile(`name="id" value="([^"]+)"`)
	formAction = regexp.MustCompile(`<form method="POST" action="([^"]+)"`)
)

// authorize drives the provider's login page as a browser would, from the
// authorization URL to the redirect back to redirectURI, and returns the
// query of that redirect (code and state, or error).
func (p *provider) authorize(t *testing.T, authURL, redirectURI string) url.Values {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := newHTTPClient(t)
	browser.Jar = jar
	browser.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirectURI) {
			return http.ErrUseLastResponse // the client's callback: stop here
		}
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		return nil
	}

	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatalf("authorization request: %v", err)
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	id, action := hiddenID.FindSubmatch(page), formAction.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || id == nil || action == nil {
		t.Fatalf("login page: status %d, body %.300q; want 200 and a login form", resp.StatusCode, page)
	}

	loginURL, err := resp.Request.URL.Parse(string(action[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp, err = browser.PostForm(loginURL.String(), url.Values{
		"id": {string(id[1])}, "username": {userName}, "password": {password},
	})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, redirectURI) {
		t.Fatalf("after login: status %d, Location %q, body %.300q; want 302 to %s", resp.StatusCode, loc, body, redirectURI)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// tkLogin runs the authorization code flow with PKCE for the web client with
// tokenkeeper and returns its token (access, refresh and id token).
func (p *provider) tkLogin(t *testing.T) (*tokenkeeper.Client, *tokenkeeper.Token) {
	t.Helper()
	c := p.tkClient(t, webID, webSecret, tokenkeeper.AuthBasic)
	return c, p.codeLogin(t, c)
}

// codeLogin runs the authorization code flow with PKCE with c, a client
// registered with webRedirect, and returns its token.
func (p *provider) codeLogin(t *testing.T, c *tokenkeeper.Client) *tokenkeeper.Token {
	t.Helper()
	flow, err := c.AuthCodeURL(tokenkeeper.AuthCodeRequest{RedirectURI: webRedirect, Scope: scopes})
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	grant, err := flow.Callback(p.authorize(t, flow.URL, webRedirect))
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	tok, err := c.Token(testContext(t, 10*time.Second), grant)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatalf("code exchange: no refresh token; want one (scope %q)", scopes)
	}
	return tok
}

// xLogin runs the same flow with x/oauth2.
func (p *provider) xLogin(t *testing.T, ctx context.Context) (*oauth2.Config, *oauth2.Token) {
	t.Helper()
	cfg := p.xConfig(webID, webSecret, webRedirect, oauth2.AuthStyleInHeader)
	verifier, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	q := p.authorize(t, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), webRedirect)
	if got := q.Get("state"); got != state {
		t.Fatalf("callback state = %q; want %q", got, state)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatalf("code exchange: no refresh token; want one (scope %q)", scopes)
	}
	return cfg, tok
}

// revoke revokes a token at the provider (RFC 7009) as the web client.
func (p *provider) revoke(t *testing.T, token, hint string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.RevocationURL,
		strings.NewReader(url.Values{"token": {token}, "token_type_hint": {hint}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(webID, webSecret)
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatalf("revocation: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("revocation: status %d %s; want 200", resp.StatusCode, b)
	}
}

// userinfo calls the provider's userinfo endpoint with an access token and
// returns the subject.
func (p *provider) userinfo(t *testing.T, accessToken string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.UserinfoURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	defer resp.Body.Close()
	var info struct {
		Subject string `json:"sub"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: status %d; want 200", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	return info.Subject
}

// resourceServer is an API on loopback that accepts a bearer token when the
// provider's introspection endpoint says it is active.
type resourceServer struct {
	URL string

	mu    sync.Mutex // guards calls
	calls []apiCall
}

// apiCall is one request the resource server answered.
type apiCall struct {
	Token  string
	Status int
}

// startResourceServer starts an API that introspects tokens as the client
// they were issued to (the example provider introspects a token only for a
// client in its audience, which is the client it was issued to).
func (p *provider) startResourceServer(t *testing.T, clientID, secret string) *resourceServer {
	t.Helper()
	rs := &resourceServer{}
	introspector := newHTTPClient(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		status := http.StatusUnauthorized
		if ok && introspect(r.Context(), introspector, p.IntrospectionURL, clientID, secret, token) {
			status = http.StatusOK
		}
		rs.mu.Lock()
		rs.calls = append(rs.calls, apiCall{Token: token, Status: status})
		rs.mu.Unlock()
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		w.WriteHeader(status)
		fmt.Fprintln(w, http.StatusText(status))
	}))
	t.Cleanup(srv.Close)
	rs.URL = srv.URL
	return rs
}

func introspect(ctx context.Context, c *http.Client, endpoint, clientID, secret, token string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint,
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var answer struct {
		Active bool `json:"active"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&answer) == nil && answer.Active
}

// history returns the calls answered so far.
func (rs *resourceServer) history() []apiCall {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]apiCall(nil), rs.calls...)
}

// get calls the API with c and returns the status.
func (rs *resourceServer) get(ctx context.Context, c *http.Client) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rs.URL+"/resource", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitPast blocks until t has passed, or the test's context ends: real
// expiry, since the provider has no clock to move.
func waitPast(t *testing.T, deadline time.Time) {
	t.Helper()
	timer := time.NewTimer(time.Until(deadline) + 100*time.Millisecond)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-t.Context().Done():
		t.Fatal("test ended while waiting for expiry")
	}
}

// pollUntil calls call every half second until done reports true, for at
// most four token lifetimes. Every call must succeed.
func pollUntil(t *testing.T, done func() bool, call func(context.Context) error) {
	t.Helper()
	const every = 500 * time.Millisecond
	tick := time.NewTicker(every)
	defer tick.Stop()
	for range int(4 * tokenLifetime / every) {
		if err := call(testContext(t, 10*time.Second)); err != nil {
			t.Errorf("call at %s: %v", time.Now().Format(time.TimeOnly), err)
		}
		if done() {
			return
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal("test ended while polling")
		}
	}
	t.Fatalf("not done after %v of polling", 4*tokenLifetime)
}

// seen is the list of refresh tokens a persistence hook saw, in order.
type seen struct {
	mu     sync.Mutex // guards tokens
	tokens []string
}

func (s *seen) add(refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = append(s.tokens, refreshToken)
}

// after returns the tokens seen, leaving out the seed.
func (s *seen) after(seed string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, tok := range s.tokens {
		if tok != seed {
			out = append(out, tok)
		}
	}
	return out
}

// approveDevice logs in on the provider's device pages with a cookie jar
// and allows the device with userCode.
func (p *provider) approveDevice(t *testing.T, verificationURI, userCode string) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := newHTTPClient(t)
	browser.Jar = jar
	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("device pages: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("device page %s: status %d; want 200", resp.Request.URL.Path, resp.StatusCode)
		}
		return string(body)
	}
	u, err := url.Parse(verificationURI)
	if err != nil {
		t.Fatal(err)
	}
	u.RawQuery = url.Values{"user_code": {userCode}}.Encode()
	if body := page(browser.Get(u.String())); !strings.Contains(body, `name="user_code"`) {
		t.Fatalf("device login page has no user_code field: %.300q", body)
	}
	login, _ := u.Parse("/device/login")
	body := page(browser.PostForm(login.String(), url.Values{
		"user_code": {userCode}, "username": {userName}, "password": {password},
	}))
	if !strings.Contains(body, "confirm?action=allowed") {
		t.Fatalf("device confirmation page has no Allow action: %.300q", body)
	}
	confirm, _ := u.Parse("/device/confirm?action=allowed")
	if body := page(browser.Get(confirm.String())); !strings.Contains(body, "allowed") {
		t.Fatalf("device confirmation: %.300q; want it allowed", body)
	}
}
