package tokenkeeper

// Secret hygiene, end to end: the library runs against the Daxium Air,
// Transiteo and Auth0 fake providers and against network failures, a
// recorder keeps every error, event, log line, stored record and value it
// hands back, and no secret (configured, or minted by a provider and
// learnt on the wire) may appear in any of them. Also: credentials are not
// sent on across hosts by a redirect, and plain-HTTP token URLs are refused.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Recognisable secrets of the hygiene tests. The tokens the fake
// providers mint are secrets too: the recorder learns them on the wire.
const (
	hygUser           = "jane@example.com"
	hygDaxiumSecret   = "hyg-daxium-client-secret-5Q7W"
	hygDaxiumPassword = "hyg-daxium-password-8K2X"
	hygWrongPassword  = "hyg-wrong-password-3J6V"
	hygBogusRefresh   = "hyg-bogus-refresh-token-9T1Z"
	hygBogusAccess    = "hyg-bogus-access-token-4R8Y"
	hygTransiteoRT    = "hyg-transiteo-refresh-3M9Q"
	hygTransiteoWrong = "hyg-transiteo-wrong-refresh-2B5N"
	hygAuth0Secret    = "hyg-auth0-client-secret-6P4K"
	hygAuth0Wrong     = "hyg-auth0-wrong-secret-7H3D"
	hygWrongVerifier  = "hyg-wrong-verifier-0000000000000000000000000000000"
	hygAssertion      = "hyg-client-assertion-1F5G"
	hygStaticAccess   = "hyg-static-access-token-8L2C"
)

// hygEpoch is when the fake clock of the hygiene tests starts.
var hygEpoch = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

// hygPublicParams are the token request parameters that are not secrets.
var hygPublicParams = map[string]bool{
	"grant_type": true, "client_id": true, "username": true, "scope": true,
	"redirect_uri": true, "audience": true,
}

// hygMinted matches the tokens the fake providers mint (access, refresh,
// id, code), wherever they appear, even in broken bodies.
var hygMinted = regexp.MustCompile(`\b(?:at|rt|id|ac)_[A-Z2-7]{26}\b`)

// hygOutput is one thing the library emitted, and where it came from.
type hygOutput struct {
	category, origin, text string
}

// hygRecorder learns every secret that crosses the wire and keeps every
// output of the library, to search the second for the first.
type hygRecorder struct {
	t                *testing.T
	jsonLog, textLog syncBuffer
	logger           *slog.Logger // debug level, to a JSON and a text handler

	mu      sync.Mutex
	secrets map[string]string // secret -> where it was seen
	outputs []hygOutput
	events  int
}

func newHygRecorder(t *testing.T) *hygRecorder {
	r := &hygRecorder{t: t, secrets: map[string]string{}}
	debug := &slog.HandlerOptions{Level: slog.LevelDebug}
	r.logger = slog.New(slog.NewMultiHandler(
		slog.NewJSONHandler(&r.jsonLog, debug),
		slog.NewTextHandler(&r.textLog, debug)))
	for _, s := range []string{hygDaxiumSecret, hygDaxiumPassword, hygWrongPassword, hygBogusRefresh, hygBogusAccess,
		hygTransiteoRT, hygTransiteoWrong, hygAuth0Secret, hygAuth0Wrong, hygWrongVerifier, hygAssertion, hygStaticAccess} {
		r.secret(s, "constant")
	}
	return r
}

// secret records s as a secret.
func (r *hygRecorder) secret(s, from string) {
	if len(s) < 8 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.secrets[s]; !ok {
		r.secrets[s] = from
	}
}

// mintedIn records every minted token in text.
func (r *hygRecorder) mintedIn(text, from string) {
	for _, m := range hygMinted.FindAllString(text, -1) {
		r.secret(m, from)
	}
}

func (r *hygRecorder) add(category, origin, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outputs = append(r.outputs, hygOutput{category, origin, text})
}

// err records every printed form of err and of what it wraps.
func (r *hygRecorder) err(origin string, err error) {
	r.t.Helper()
	if err == nil {
		r.t.Fatalf("%s: no error", origin)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		r.add("error", origin+" "+verb, fmt.Sprintf(verb, err))
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		r.add("error", origin+" chain", e.Error())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		r.add("error", origin+" url.Error.URL", ue.URL)
	}
	if b, jerr := json.Marshal(err); jerr == nil {
		r.add("error json", origin, string(b))
	}
	var pe *Error
	if errors.As(err, &pe) {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			r.add("error", origin+" *Error "+verb, fmt.Sprintf(verb, pe))
			r.add("error", origin+" Error value "+verb, fmt.Sprintf(verb, *pe))
		}
		for _, v := range []any{pe, *pe} {
			if b, jerr := json.Marshal(v); jerr == nil {
				r.add("error json", fmt.Sprintf("%s %T", origin, v), string(b))
			}
		}
	}
	r.logger.Debug("error", "err", err)
	r.logger.Debug("error attr", slog.Any("err", err))
}

// value records every printed form of v, and of *v or &v (except for
// types that hold locks or atomics and are only ever used by pointer).
func (r *hygRecorder) value(origin string, v any) {
	forms := []any{v}
	rv := reflect.ValueOf(v)
	switch v.(type) {
	case *Source, *memoryStore, *FileStore:
	default:
		if rv.Kind() == reflect.Pointer && !rv.IsNil() {
			forms = append(forms, rv.Elem().Interface())
		} else if rv.Kind() != reflect.Pointer {
			p := reflect.New(rv.Type())
			p.Elem().Set(rv)
			forms = append(forms, p.Interface())
		}
	}
	for _, f := range forms {
		o := fmt.Sprintf("%s %T", origin, f)
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			r.add("value", o+" "+verb, fmt.Sprintf(verb, f))
		}
		if s, ok := f.(fmt.Stringer); ok {
			r.add("value", o+" String", s.String())
		}
		if s, ok := f.(fmt.GoStringer); ok {
			r.add("value", o+" GoString", s.GoString())
		}
		if b, err := json.Marshal(f); err == nil {
			r.add("value json", o, string(b))
		}
		r.logger.Debug("value", "v", f)
	}
}

// event is an OnEvent hook.
func (r *hygRecorder) event(ev Event) {
	r.mu.Lock()
	r.events++
	r.mu.Unlock()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		r.add("event", string(ev.Kind)+" "+verb, fmt.Sprintf(verb, ev))
	}
	if b, err := json.Marshal(ev); err == nil {
		r.add("event json", string(ev.Kind), string(b))
	}
	if ev.Err != nil {
		for _, verb := range []string{"%v", "%+v", "%#v", "%q"} {
			r.add("event", string(ev.Kind)+" Err "+verb, fmt.Sprintf(verb, ev.Err))
		}
	}
}

// token is an OnToken hook.
func (r *hygRecorder) token(_ context.Context, t *Token) {
	r.secret(t.AccessToken, "OnToken access")
	r.secret(t.RefreshToken, "OnToken refresh")
	r.secret(t.IDToken, "OnToken id")
	if t.dpop != nil {
		r.dpopKey(t.dpop.signer.key.(*ecdsa.PrivateKey))
	}
	r.value("OnToken", t)
}

// dpopKey records the forms of a DPoP private key as secrets: its scalar
// in hex, base64url and decimal, and its stored form (PKCS #8, base64).
func (r *hygRecorder) dpopKey(key *ecdsa.PrivateKey) {
	d, err := key.Bytes()
	if err != nil {
		r.t.Fatal(err)
	}
	r.secret(fmt.Sprintf("%x", d), "DPoP private key")
	r.secret(base64.RawURLEncoding.EncodeToString(d), "DPoP private key")
	r.secret(new(big.Int).SetBytes(d).String(), "DPoP private key")
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		r.t.Fatal(err)
	}
	r.secret(base64.StdEncoding.EncodeToString(der), "DPoP private key")
}

// sourceConfig returns a SourceConfig with the recorder's hooks and
// logger, and short backoffs.
func (r *hygRecorder) sourceConfig(sc SourceConfig) SourceConfig {
	sc.OnEvent = r.event
	sc.OnToken = r.token
	sc.MinBackoff = time.Second
	sc.MaxBackoff = 2 * time.Second
	return sc
}

// wire returns a RoundTripper that records the secrets of every request
// and response it carries.
func (r *hygRecorder) wire(t *testing.T) *hygWire {
	w := &hygWire{rec: r, base: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(w.base.CloseIdleConnections)
	return w
}

type hygWire struct {
	rec  *hygRecorder
	base *http.Transport
}

func (w *hygWire) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		form, _ := url.ParseQuery(string(b))
		for k, vs := range form {
			if !hygPublicParams[k] {
				for _, v := range vs {
					w.rec.secret(v, "request "+k)
				}
			}
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	if p := req.Header.Get("DPoP"); p != "" {
		w.rec.secret(p, "DPoP proof")
	}
	if _, pass, ok := req.BasicAuth(); ok {
		w.rec.secret(pass, "basic password")
		w.rec.secret(req.Header.Get("Authorization"), "basic header")
	} else if a := req.Header.Get("Authorization"); a != "" {
		w.rec.secret(a, "authorization header")
		_, tok, _ := strings.Cut(a, " ")
		w.rec.secret(tok, "authorization header")
	}
	resp, err := w.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	w.rec.mintedIn(string(b), "response body")
	var m map[string]any
	if json.Unmarshal(b, &m) == nil {
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if s, ok := m[k].(string); ok {
				w.rec.secret(s, "response "+k)
			}
		}
	}
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), hygErrReader{rerr}))
	return resp, nil
}

// hygErrReader replays a read error after the bytes read before it.
type hygErrReader struct{ err error }

func (r hygErrReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

// leaks returns, for each output of category that reveals a secret (in
// clear, hex, base64 or as a byte list), a description.
func (r *hygRecorder) leaks(category string) []string {
	r.mu.Lock()
	outputs := slices.Clone(r.outputs)
	secrets := make(map[string]string, len(r.secrets))
	for s, from := range r.secrets {
		secrets[s] = from
	}
	r.mu.Unlock()
	switch category {
	case "log json":
		outputs = []hygOutput{{category, "JSON handler", r.jsonLog.String()}}
	case "log text":
		outputs = []hygOutput{{category, "text handler", r.textLog.String()}}
	}
	var found []string
	for _, o := range outputs {
		if o.category != category {
			continue
		}
		for s, from := range secrets {
			for _, form := range hygForms(s) {
				if i := strings.Index(o.text, form); i >= 0 {
					lo, hi := max(i-120, 0), min(i+len(form)+60, len(o.text))
					found = append(found, fmt.Sprintf("%s reveals %q (%s):\n\t...%s...", o.origin, s, from, o.text[lo:hi]))
					break
				}
			}
		}
	}
	return found
}

// hygForms returns the ways s could appear in output: in clear, hex
// encoded, as a byte list (%v of a []byte), and base64 encoded at any
// alignment (json.Marshal of a []byte).
func hygForms(s string) []string {
	forms := []string{s, hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s))),
		strings.Trim(fmt.Sprint([]byte(s)), "[]")}
	for pad := range 3 {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			e := enc.EncodeToString([]byte(strings.Repeat("x", pad) + s))
			forms = append(forms, e[4:len(e)-4])
		}
	}
	return forms
}

// hygGet makes an API call and returns the status, with the body closed.
func hygGet(t *testing.T, c *http.Client, target string) (int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ctx = impatientContext{ctx} // failures come at once, not after the next attempt
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// hygMustGet makes an API call that must succeed.
func hygMustGet(t *testing.T, c *http.Client, target, what string) {
	t.Helper()
	if status, err := hygGet(t, c, target); err != nil || status != http.StatusOK {
		t.Fatalf("%s: status %d, err %v; want 200", what, status, err)
	}
}

// hygMustFail makes an API call that must fail and records its error.
func hygMustFail(t *testing.T, rec *hygRecorder, c *http.Client, target, what string) {
	t.Helper()
	status, err := hygGet(t, c, target)
	if err == nil {
		t.Fatalf("%s: status %d; want an error", what, status)
	}
	rec.err(what, err)
}

// hygNewClient builds a Client with the recorder's wire and logger.
func hygNewClient(t *testing.T, rec *hygRecorder, cfg Config, clock clock) *Client {
	t.Helper()
	cfg.HTTPClient = &http.Client{Transport: rec.wire(t)}
	cfg.Clock = clock
	cfg.Logger = rec.logger
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec.value("Config", cfg)
	rec.value("Client", c)
	return c
}

// hygNewSource builds a Source and closes it at the end of the test.
func hygNewSource(t *testing.T, rec *hygRecorder, c *Client, sc SourceConfig) *Source {
	t.Helper()
	sc = rec.sourceConfig(sc)
	src, err := NewSource(c, sc)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	rec.value("SourceConfig", sc)
	return src
}

// hygCurrent returns the Source's current token.
func hygCurrent(t *testing.T, src *Source) *Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ctx = impatientContext{ctx} // failures come at once, not after the next attempt
	defer cancel()
	tok, err := src.TokenContext(ctx)
	if err != nil {
		t.Fatalf("TokenContext: %v", err)
	}
	return tok
}

// hygDaxium drives Daxium Air: password login, refresh with rotation, a
// revoked access token (401 recovery), a revoked refresh token (re-login),
// and failures of each.
func hygDaxium(t *testing.T, rec *hygRecorder) {
	clock := oauthtest.NewClock(hygEpoch)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, ClientSecret: hygDaxiumSecret,
		Users: map[string]string{hygUser: hygDaxiumPassword}, Clock: clock, LoginLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg := DaxiumAir(oauthtest.DefaultClientID, hygDaxiumSecret)
	cfg.BaseURL = srv.URL()
	client := hygNewClient(t, rec, cfg, clock)
	login := PasswordGrant(hygUser, hygDaxiumPassword)
	rec.value("PasswordGrant", login)
	src := hygNewSource(t, rec, client, SourceConfig{Login: login, ReloginInterval: time.Minute})
	api := src.HTTPClient(rec.wire(t))
	rec.value("Source", src)

	hygMustGet(t, api, srv.APIURL(), "Daxium login")
	clock.Advance(61 * time.Minute)
	hygMustGet(t, api, srv.APIURL(), "Daxium refresh with rotation")
	srv.RevokeAll()
	hygMustGet(t, api, srv.APIURL(), "Daxium 401 recovery")
	srv.RevokeRefreshToken(hygCurrent(t, src).RefreshToken)
	clock.Advance(61 * time.Minute)
	hygMustGet(t, api, srv.APIURL(), "Daxium re-login after a revoked refresh token")
	rec.value("Source after re-login", src)

	// Failures of the refresh.
	for i, fault := range []func(){
		func() { srv.FailNext(1, http.StatusBadGateway) },
		func() { srv.RateLimitNext(1, 5*time.Second) },
		func() { srv.MalformedNext(1) },
		func() { srv.OversizedNext(1) },
		func() { srv.TruncateNext(1) },
		func() { srv.ResetNext(1) },
	} {
		clock.Advance(61 * time.Minute)
		fault()
		hygMustFail(t, rec, api, srv.APIURL(), fmt.Sprintf("Daxium refresh fault %d", i))
	}

	// Failures of the grants, through the Client.
	ctx := mtImpatient(t)
	_, err = client.Token(ctx, PasswordGrant(hygUser, hygWrongPassword))
	rec.err("Daxium wrong password", err)
	_, err = client.refresh(ctx, hygBogusRefresh)
	rec.err("Daxium bogus refresh token", err)
	rec.value("RefreshTokenGrant", RefreshTokenGrant(hygBogusRefresh))

	// A Source that cannot log in, and one that has no login.
	bad := hygNewSource(t, rec, client, SourceConfig{Login: PasswordGrant(hygUser, hygWrongPassword)})
	_, err = bad.TokenContext(ctx)
	rec.err("Daxium Source with a wrong password", err)
	noLogin := hygNewSource(t, rec, client, SourceConfig{Token: &Token{RefreshToken: hygBogusRefresh}})
	_, err = noLogin.TokenContext(ctx)
	rec.err("Daxium Source without login and a rejected refresh token", err)
	rec.value("Source with a failure", noLogin)

	// An API's 401, decoded.
	req, _ := http.NewRequestWithContext(mtImpatient(t), http.MethodGet, srv.APIURL(), nil)
	req.Header.Set("Authorization", "Bearer "+hygBogusAccess)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rec.err("Daxium API 401", DecodeError(resp))
}

// hygTransiteo drives Transiteo: the console's static refresh token, the
// raw id_token credential, 401 recovery, and failures.
func hygTransiteo(t *testing.T, rec *hygRecorder) {
	clock := oauthtest.NewClock(hygEpoch)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Transiteo, RefreshToken: hygTransiteoRT,
		Clock: clock, ExpiresInAsString: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg := Transiteo(oauthtest.DefaultClientID)
	cfg.BaseURL = srv.URL()
	client := hygNewClient(t, rec, cfg, clock)
	src := hygNewSource(t, rec, client, SourceConfig{Token: &Token{RefreshToken: hygTransiteoRT}})
	api := src.HTTPClient(rec.wire(t))

	hygMustGet(t, api, srv.APIURL(), "Transiteo first refresh")
	clock.Advance(61 * time.Minute)
	hygMustGet(t, api, srv.APIURL(), "Transiteo refresh")
	srv.RevokeAll()
	hygMustGet(t, api, srv.APIURL(), "Transiteo 401 recovery")
	rec.value("Source", src)

	clock.Advance(61 * time.Minute)
	srv.FailNext(1, http.StatusServiceUnavailable)
	hygMustFail(t, rec, api, srv.APIURL(), "Transiteo refresh 503")

	wrong := hygNewSource(t, rec, client, SourceConfig{Token: &Token{RefreshToken: hygTransiteoWrong}})
	hygMustFail(t, rec, wrong.HTTPClient(rec.wire(t)), srv.APIURL(), "Transiteo wrong refresh token")
	_, err = client.refresh(context.Background(), hygTransiteoWrong)
	rec.err("Transiteo Client.Refresh with a wrong refresh token", err)

	req, _ := http.NewRequestWithContext(mtImpatient(t), http.MethodGet, srv.APIURL(), nil)
	req.Header.Set("Authorization", hygBogusAccess)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rec.err("Transiteo API 401", DecodeError(resp))
}

// hygAuthorize follows the authorization URL of flow to the fake provider
// and returns the query of its redirect back.
func hygAuthorize(t *testing.T, rec *hygRecorder, flow *AuthCodeFlow) url.Values {
	t.Helper()
	rec.secret(flow.State, "flow state")
	rec.secret(flow.Verifier, "flow verifier")
	c := &http.Client{
		Transport:     rec.wire(t),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(flow.URL)
	if err != nil {
		t.Fatalf("GET authorize: %v", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := loc.Query()
	rec.secret(q.Get("code"), "authorization code")
	return q
}

// hygAuth0 drives Auth0: the code flow with PKCE, rotation with reuse
// detection, client_credentials (secret in the body and by HTTP Basic),
// and failures of each.
func hygAuth0(t *testing.T, rec *hygRecorder) {
	clock := oauthtest.NewClock(hygEpoch)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, ClientSecret: hygAuth0Secret,
		Rotation: true, ReuseDetection: true, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ctx := mtImpatient(t)
	preset := func(id, secret string) Config {
		cfg := Auth0("tenant.example.com", id, secret)
		cfg.BaseURL = srv.URL()
		return cfg
	}
	client := hygNewClient(t, rec, preset(oauthtest.DefaultClientID, hygAuth0Secret), clock)

	// Code flow with PKCE.
	flow, err := client.AuthCodeURL(AuthCodeRequest{RedirectURI: "http://127.0.0.1/callback", Scope: "openid offline_access"})
	if err != nil {
		t.Fatal(err)
	}
	q := hygAuthorize(t, rec, flow)
	code, err := flow.Callback(q)
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	rec.value("AuthCodeFlow", *flow)
	rec.value("AuthorizationCodeGrant", code)
	tok, err := client.Token(ctx, code)
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	rec.token(ctx, tok)
	_, err = client.Token(ctx, code)
	rec.err("Auth0 code reused", err)

	src := hygNewSource(t, rec, client, SourceConfig{Token: tok})
	api := src.HTTPClient(rec.wire(t))
	hygMustGet(t, api, srv.APIURL(), "Auth0 with the exchanged token")
	clock.Advance(61 * time.Minute)
	hygMustGet(t, api, srv.APIURL(), "Auth0 refresh with rotation")
	srv.RevokeAll()
	hygMustGet(t, api, srv.APIURL(), "Auth0 401 recovery")
	rec.value("Source", src)

	// A reused refresh token revokes the family: the Source reports that a
	// login is needed.
	_, err = client.refresh(ctx, tok.RefreshToken)
	rec.err("Auth0 refresh token reuse", err)
	clock.Advance(61 * time.Minute)
	hygMustFail(t, rec, api, srv.APIURL(), "Auth0 Source after its family was revoked")

	// Callback failures: wrong state, provider error, wrong verifier.
	_, err = flow.Callback(url.Values{"code": {q.Get("code")}, "state": {"not-the-state"}})
	rec.err("Auth0 callback with a wrong state", err)
	denied, err := client.AuthCodeURL(AuthCodeRequest{RedirectURI: "http://127.0.0.1/callback", Audience: "https://bogus.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = denied.Callback(hygAuthorize(t, rec, denied))
	rec.err("Auth0 callback with an error", err)
	other, err := client.AuthCodeURL(AuthCodeRequest{RedirectURI: "http://127.0.0.1/callback", Scope: "openid"})
	if err != nil {
		t.Fatal(err)
	}
	otherQuery := hygAuthorize(t, rec, other)
	if _, err := other.Callback(otherQuery); err != nil {
		t.Fatal(err)
	}
	wrongGrant := AuthorizationCodeGrant(otherQuery.Get("code"), other.RedirectURI, hygWrongVerifier)
	rec.value("AuthorizationCodeGrant with a wrong verifier", wrongGrant)
	_, err = client.Token(ctx, wrongGrant)
	rec.err("Auth0 wrong verifier", err)

	// client_credentials, in the body and by HTTP Basic.
	cc := ClientCredentialsGrant(Param("audience", oauthtest.DefaultAudience), Param("client_assertion_hint", hygAssertion))
	rec.value("ClientCredentialsGrant", cc)
	m2m := hygNewSource(t, rec, client, SourceConfig{Login: cc})
	hygMustGet(t, m2m.HTTPClient(rec.wire(t)), srv.APIURL(), "Auth0 client_credentials")
	basicCfg := preset(oauthtest.DefaultClientID, hygAuth0Secret)
	basicCfg.AuthStyle = AuthBasic
	basic := hygNewClient(t, rec, basicCfg, clock)
	if _, err := basic.Token(ctx, ClientCredentialsGrant(Param("audience", oauthtest.DefaultAudience))); err != nil {
		t.Fatalf("client_credentials with HTTP Basic: %v", err)
	}
	_, err = client.Token(ctx, ClientCredentialsGrant(Param("audience", "https://bogus.example.com")))
	rec.err("Auth0 client_credentials, unknown audience", err)
	for _, style := range []AuthStyle{AuthInBody, AuthBasic} {
		wrongCfg := preset(oauthtest.DefaultClientID, hygAuth0Wrong)
		wrongCfg.AuthStyle = style
		wrong := hygNewClient(t, rec, wrongCfg, clock)
		_, err = wrong.Token(ctx, ClientCredentialsGrant(Param("audience", oauthtest.DefaultAudience)))
		rec.err("Auth0 client_credentials, wrong secret, "+style.name(), err)
		bad := hygNewSource(t, rec, wrong, SourceConfig{Login: ClientCredentialsGrant(Param("audience", oauthtest.DefaultAudience))})
		hygMustFail(t, rec, bad.HTTPClient(rec.wire(t)), srv.APIURL(), "Auth0 Source with a wrong secret, "+style.name())
	}
	ext := ExtensionGrant("urn:ietf:params:oauth:grant-type:token-exchange", Param("subject_token", hygBogusAccess))
	rec.value("ExtensionGrant", ext)
	_, err = client.Token(ctx, ext)
	rec.err("Auth0 unsupported extension grant", err)
}

// hygAssertions drives private_key_jwt, client_secret_jwt and the JWT
// bearer grant, refused and accepted: the assertions the recorder sees on
// the wire, and the private key, must not come out.
func hygAssertions(t *testing.T, rec *hygRecorder) {
	clock := oauthtest.NewClock(hygEpoch)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	_, wrongKey, _ := ed25519.GenerateKey(rand.Reader)
	for _, k := range []ed25519.PrivateKey{key, wrongKey} {
		rec.secret(fmt.Sprint(k), "private key")
		rec.secret(fmt.Sprintf("%x", []byte(k)), "private key")
		rec.secret(base64.RawURLEncoding.EncodeToString(k.Seed()), "private key")
	}
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, ClientKey: key.Public(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ctx := mtImpatient(t)
	cfg := func(k ed25519.PrivateKey) Config {
		c := Auth0("tenant.example.com", oauthtest.DefaultClientID, "")
		c.BaseURL = srv.URL()
		c.AuthStyle, c.ClientKey = AuthJWT, k
		return c
	}
	cc := ClientCredentialsGrant(Param("audience", oauthtest.DefaultAudience))
	good := hygNewClient(t, rec, cfg(key), clock)
	src := hygNewSource(t, rec, good, SourceConfig{Login: cc})
	hygMustGet(t, src.HTTPClient(rec.wire(t)), srv.APIURL(), "private_key_jwt Source")
	wrong := hygNewClient(t, rec, cfg(wrongKey), clock)
	_, err = wrong.Token(ctx, cc)
	rec.err("private_key_jwt with a wrong key", err)
	bad := hygNewSource(t, rec, wrong, SourceConfig{Login: cc})
	hygMustFail(t, rec, bad.HTTPClient(rec.wire(t)), srv.APIURL(), "private_key_jwt Source with a wrong key")

	var last string
	replay := hygNewClient(t, rec, Config{TokenURL: srv.TokenURL(), ClientID: oauthtest.DefaultClientID, AuthStyle: AuthJWT,
		ClientAssertion: func(ctx context.Context) (string, error) {
			if last == "" {
				a, err := good.clientAssertion(ctx)
				last = a
				return a, err
			}
			return last, nil
		}}, clock)
	for range 2 {
		_, err = replay.Token(ctx, cc)
	}
	rec.err("private_key_jwt with a replayed assertion", err)

	public := hygNewClient(t, rec, Config{TokenURL: srv.TokenURL(), ClientID: oauthtest.DefaultClientID, AuthStyle: AuthNone}, clock)
	_, err = public.Token(ctx, JWTBearerGrant(last))
	rec.err("JWT bearer grant with a used assertion", err)
	rec.value("JWTBearerGrant", JWTBearerGrant(last))

	secretSrv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, ClientSecret: hygAuth0Secret, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(secretSrv.Close)
	for _, secret := range []string{hygAuth0Secret, hygAuth0Wrong} {
		jwtCfg := Config{TokenURL: secretSrv.TokenURL(), ClientID: oauthtest.DefaultClientID, ClientSecret: secret, AuthStyle: AuthJWT}
		_, err = hygNewClient(t, rec, jwtCfg, clock).Token(ctx, cc)
		if secret == hygAuth0Secret && err != nil {
			t.Fatalf("client_secret_jwt: %v", err)
		} else if secret != hygAuth0Secret {
			rec.err("client_secret_jwt with a wrong secret", err)
		}
	}
}

// hygDPoP drives DPoP token requests, accepted after a nonce retry and
// refused (a key that does not sign what it claims, a stale proof): the
// proofs the recorder sees on the wire, and the private key, must not come
// out.
func hygDPoP(t *testing.T, rec *hygRecorder) {
	clock := oauthtest.NewClock(hygEpoch)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rec.dpopKey(key)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, ClientSecret: hygAuth0Secret, Clock: clock, DPoP: true, DPoPNonce: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ctx := mtImpatient(t)
	cc := ClientCredentialsGrant(Param("audience", oauthtest.DefaultAudience))
	cfg := Config{TokenURL: srv.TokenURL(), ClientID: oauthtest.DefaultClientID, ClientSecret: hygAuth0Secret, DPoPKey: key}
	if _, err := hygNewClient(t, rec, cfg, clock).Token(ctx, cc); err != nil {
		t.Fatalf("DPoP token request: %v", err)
	}
	liar := cfg
	liar.DPoPKey = hygDPoPLiar{key}
	_, err = hygNewClient(t, rec, liar, clock).Token(ctx, cc)
	rec.err("DPoP proof with a wrong key", err)
	_, err = hygNewClient(t, rec, cfg, oauthtest.NewClock(hygEpoch.Add(-time.Hour))).Token(ctx, cc)
	rec.err("DPoP proof with a stale iat", err)
}

// hygDPoPSource drives a public client's Source with a DPoP key of its
// own (SourceConfig.DPoP): a login, API calls through its Transport, the
// token and its key saved to a FileStore and read back after a restart,
// and a refresh refused for another key. The keys must not come out.
func hygDPoPSource(t *testing.T, rec *hygRecorder) {
	clock := oauthtest.NewClock(hygEpoch)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock, DPoP: true, PublicClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg := Auth0("tenant.example.com", oauthtest.DefaultClientID, "")
	cfg.BaseURL = srv.URL()
	cfg.AuthStyle = AuthNone
	client := hygNewClient(t, rec, cfg, clock)
	login := func(ctx context.Context) (*Token, error) {
		flow, err := client.AuthCodeURL(AuthCodeRequest{RedirectURI: "http://127.0.0.1/callback", Scope: "openid offline_access"})
		if err != nil {
			return nil, err
		}
		g, err := flow.Callback(hygAuthorize(t, rec, flow))
		if err != nil {
			return nil, err
		}
		return client.Token(ctx, g)
	}
	fs, err := NewFileStore(t.TempDir() + "/token.json")
	if err != nil {
		t.Fatal(err)
	}
	api := func(s *Source) *http.Client { return &http.Client{Transport: &Transport{Source: s, Base: rec.wire(t)}} }
	first := hygNewSource(t, rec, client, SourceConfig{LoginFunc: login, Store: fs, DPoP: true})
	hygMustGet(t, api(first), srv.APIURL(), "DPoP API call")
	tok := hygCurrent(t, first)
	if tok.dpop == nil {
		t.Fatal("the Source's token has no DPoP key of its own")
	}
	first.Close()
	clock.Advance(2 * time.Hour)
	hygMustGet(t, api(hygNewSource(t, rec, client, SourceConfig{Store: fs, DPoP: true})), srv.APIURL(), "DPoP API call after a restart")

	stolen := tok.clone()
	stolen.dpop = mtDPoPKey(t)
	rec.dpopKey(stolen.dpop.signer.key.(*ecdsa.PrivateKey))
	clock.Advance(2 * time.Hour)
	_, err = hygNewSource(t, rec, client, SourceConfig{Token: stolen, DPoP: true}).TokenContext(mtImpatient(t))
	if err == nil {
		t.Fatal("a refresh token bound to another DPoP key was accepted")
	}
	rec.err("refresh with another DPoP key", err)
	rec.value("Token with a DPoP key", tok)
	rec.value("FileStore", fs)
}

// hygDPoPLiar signs with its key and claims another.
type hygDPoPLiar struct{ *ecdsa.PrivateKey }

func (hygDPoPLiar) Public() crypto.PublicKey { return asOtherEC.Public() }

// hygNetwork drives failures that never reach a provider: a token
// endpoint that is down, and a FileStore.
func hygNetwork(t *testing.T, rec *hygRecorder) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	client := hygNewClient(t, rec, Config{TokenURL: downURL + "/oauth/token", ClientID: "client", ClientSecret: hygDaxiumSecret}, nil)
	_, err := client.Token(context.Background(), PasswordGrant(hygUser, hygDaxiumPassword))
	rec.err("token endpoint down", err)
	src := hygNewSource(t, rec, client, SourceConfig{Token: &Token{RefreshToken: hygBogusRefresh}})
	_, err = src.TokenContext(mtImpatient(t))
	rec.err("Source with the token endpoint down", err)

	fs, err := NewFileStore(t.TempDir() + "/token.json")
	if err != nil {
		t.Fatal(err)
	}
	tok := &Token{AccessToken: hygStaticAccess, RefreshToken: hygBogusRefresh, IDToken: hygBogusAccess, Expiry: hygEpoch}
	if err := fs.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	rec.value("FileStore", fs)
	rec.value("Token", tok)
	rec.value("Event", Event{Kind: EventRefreshFailed, Grant: "refresh_token", Err: &Error{StatusCode: 400, Code: "invalid_grant", Body: []byte(hygBogusRefresh)}})
}

// TestHygieneEndToEnd drives every flow with recognisable secrets and
// searches everything the library emitted for them: errors in every fmt
// verb and as JSON, the slog output of Config.Logger and
// SourceConfig.Logger (JSON and text handlers, debug level), the Events
// passed to OnEvent, and the printed and marshalled forms of the public
// types.
func TestHygieneEndToEnd(t *testing.T) {
	t.Parallel()
	rec := newHygRecorder(t)
	t.Run("flows", func(t *testing.T) {
		rec.t = t
		hygDaxium(t, rec)
		hygTransiteo(t, rec)
		hygAuth0(t, rec)
		hygAssertions(t, rec)
		hygDPoP(t, rec)
		hygDPoPSource(t, rec)
		hygNetwork(t, rec)
	})
	if t.Failed() {
		return
	}
	rec.t = t

	// The recorder saw what it must have, or the search proves nothing.
	rec.mu.Lock()
	nSecrets, nOutputs, nEvents := len(rec.secrets), len(rec.outputs), rec.events
	rec.mu.Unlock()
	if nSecrets < 40 || nOutputs < 500 || nEvents < 30 {
		t.Fatalf("recorded %d secrets, %d outputs, %d events; the flows did not run as intended", nSecrets, nOutputs, nEvents)
	}
	for _, want := range []string{`"msg":"tokenkeeper: token response"`, `"msg":"tokenkeeper: refresh failed"`, `"login":"relogin"`} {
		if !strings.Contains(rec.jsonLog.String(), want) {
			t.Errorf("JSON log has no %s", want)
		}
	}

	for _, category := range []string{"error", "error json", "value", "value json", "event", "event json", "log json", "log text"} {
		t.Run(category, func(t *testing.T) {
			for _, l := range rec.leaks(category) {
				t.Error(l)
			}
		})
	}
}

// TestHygienememoryStoreFormat: a memoryStore holds the token a Source
// saved; printing the store must not print the token, whatever the verb.
func TestHygieneMemoryStoreFormat(t *testing.T) {
	t.Parallel()
	m := &memoryStore{}
	if err := m.Save(context.Background(), &Token{AccessToken: hygStaticAccess, RefreshToken: hygBogusRefresh}); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		out := fmt.Sprintf(verb, m)
		for _, secret := range []string{hygStaticAccess, hygBogusRefresh} {
			for _, form := range hygForms(secret) {
				if strings.Contains(out, form) {
					t.Errorf("Sprintf(%s, *memoryStore) = %q reveals %q", verb, out, secret)
					break
				}
			}
		}
	}
}

// TestHygieneDetector: the leak search of the end-to-end test finds a
// secret in each encoding it claims to cover.
func TestHygieneDetector(t *testing.T) {
	t.Parallel()
	rec := newHygRecorder(t)
	rec.mintedIn("token rt_ABCDEFGHIJKLMNOPQRSTUVWXYZ in a body", "test")
	planted := map[string]string{
		"clear":       "x" + hygDaxiumPassword,
		"minted":      "rt_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"hex":         fmt.Sprintf("%x", hygAuth0Secret),
		"byte list":   fmt.Sprint([]byte(hygTransiteoRT)),
		"base64 json": string(hygMust(json.Marshal([]byte("ab" + hygBogusRefresh)))),
	}
	for name, text := range planted {
		rec.add("value", name, text)
	}
	if got := len(rec.leaks("value")); got != len(planted) {
		t.Errorf("found %d leaks; want %d: %q", got, len(planted), rec.leaks("value"))
	}
}

func hygMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// hygStaticSource returns a Source holding a token that never expires, so
// that it makes no token request.
func hygStaticSource(t *testing.T) *Source {
	t.Helper()
	c, err := New(Config{TokenURL: "https://auth.example.com/token", ClientID: "client"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(c, SourceConfig{Token: &Token{AccessToken: hygStaticAccess, TokenType: "Bearer"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// hygHeaderLog records the Authorization header of every request a
// server receives, by path.
type hygHeaderLog struct {
	mu  sync.Mutex
	got map[string][]string
}

func (l *hygHeaderLog) record(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.got == nil {
		l.got = map[string][]string{}
	}
	l.got[r.URL.Path] = append(l.got[r.URL.Path], r.Header.Get("Authorization"))
}

func (l *hygHeaderLog) of(path string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got[path])
}

// TestHygieneRedirectToAnotherHost: the Transport's credential follows a
// redirect on the same host and never one to another host.
func TestHygieneRedirectToAnotherHost(t *testing.T) {
	t.Parallel()
	var other, first hygHeaderLog
	otherSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.record(r)
		io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(otherSrv.Close)
	_, otherPort, _ := strings.Cut(strings.TrimPrefix(otherSrv.URL, "http://"), ":")
	var firstSrv *httptest.Server
	firstSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.record(r)
		io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/to-other":
			http.Redirect(w, r, otherSrv.URL+"/landing", http.StatusFound)
		case "/to-other-by-name":
			http.Redirect(w, r, "http://localhost:"+otherPort+"/by-name", http.StatusFound)
		case "/to-other-307":
			http.Redirect(w, r, otherSrv.URL+"/landing-307", http.StatusTemporaryRedirect)
		case "/to-self-then-other":
			http.Redirect(w, r, firstSrv.URL+"/to-other", http.StatusFound)
		case "/to-self":
			http.Redirect(w, r, "/landing", http.StatusFound)
		}
	}))
	t.Cleanup(firstSrv.Close)
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	api := hygStaticSource(t).HTTPClient(base)
	want := "Bearer " + hygStaticAccess

	for _, path := range []string{"/to-other", "/to-other-by-name", "/to-self-then-other", "/to-self"} {
		hygMustGet(t, api, firstSrv.URL+path, path)
	}
	req, _ := http.NewRequest(http.MethodPost, firstSrv.URL+"/to-other-307", strings.NewReader("payload"))
	resp, err := api.Do(req)
	if err != nil {
		t.Fatalf("POST with a 307: %v", err)
	}
	resp.Body.Close()
	hygCheckRedirectHeaders(t, &first, &other, want)
}

// hygCheckRedirectHeaders checks where the credential went in
// TestHygieneRedirectToAnotherHost: on every request to the first host,
// and on none to the other.
func hygCheckRedirectHeaders(t *testing.T, first, other *hygHeaderLog, want string) {
	t.Helper()
	for path, n := range map[string]int{"/to-other": 2, "/to-other-307": 1, "/to-self-then-other": 1, "/to-self": 1} {
		got := first.of(path)
		if len(got) != n {
			t.Errorf("first host, %s: %d requests; want %d", path, len(got), n)
		}
		for _, h := range got {
			if h != want {
				t.Errorf("first host, %s: Authorization %q; want %q", path, h, want)
			}
		}
	}
	if got := first.of("/landing"); len(got) != 1 || got[0] != want {
		t.Errorf("same-host redirect: Authorization %q; want [%q]", got, want)
	}
	for _, path := range []string{"/landing", "/landing-307", "/by-name"} {
		got := other.of(path)
		if len(got) == 0 {
			t.Errorf("other host, %s: not reached", path)
		}
		for _, h := range got {
			if h != "" {
				t.Errorf("other host, %s: Authorization %q was forwarded", path, h)
			}
		}
	}
}

// hygScriptedTransport answers requests from a script of responses by
// URL, recording the Authorization header and body of each request.
type hygScriptedTransport struct {
	mu       sync.Mutex
	location map[string]string // URL -> redirect target, 307
	seen     []hygSeenRequest
}

type hygSeenRequest struct {
	url, authorization, body string
}

func (s *hygScriptedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	s.mu.Lock()
	s.seen = append(s.seen, hygSeenRequest{req.URL.String(), req.Header.Get("Authorization"), string(body)})
	target, redirect := s.location[req.URL.String()]
	s.mu.Unlock()
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Request: req,
		Body: io.NopCloser(strings.NewReader(`{"access_token":"at","token_type":"Bearer","expires_in":3600}`))}
	resp.Header.Set("Content-Type", "application/json")
	if redirect {
		resp.StatusCode = http.StatusTemporaryRedirect
		resp.Header.Set("Location", target)
		resp.Body = http.NoBody
	}
	return resp, nil
}

func (s *hygScriptedTransport) requests() []hygSeenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// TestHygieneRedirectDowngrade: a redirect from https to plain http on the
// same host name must not carry the credential in clear text, any more
// than a redirect to another host (the origin is scheme, host and port).
func TestHygieneRedirectDowngrade(t *testing.T) {
	t.Parallel()
	script := &hygScriptedTransport{location: map[string]string{
		"https://api.example.com/v1/me": "http://api.example.com/v1/me",
	}}
	api := hygStaticSource(t).HTTPClient(script)
	hygMustGet(t, api, "https://api.example.com/v1/me", "GET with a downgrade redirect")
	for _, r := range script.requests() {
		if strings.HasPrefix(r.url, "http:") && r.authorization != "" {
			t.Errorf("%s: Authorization %q sent over plain http after a redirect", r.url, r.authorization)
		}
	}
}

// TestHygieneTokenRequestRedirect: a token endpoint that redirects with 307
// or 308 makes net/http send the form again, client secret, password and
// refresh token included, to the new location. It must never go to another
// host, nor over plain http.
func TestHygieneTokenRequestRedirect(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"https://evil.example.com/token", "http://auth.example.com/token"} {
		script := &hygScriptedTransport{location: map[string]string{"https://auth.example.com/token": target}}
		c, err := New(Config{TokenURL: "https://auth.example.com/token", ClientID: "client", ClientSecret: hygDaxiumSecret,
			HTTPClient: &http.Client{Transport: script}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Token(context.Background(), PasswordGrant(hygUser, hygDaxiumPassword))
		if err == nil {
			t.Errorf("redirect to %s: the token request succeeded; want an error", target)
		}
		for _, r := range script.requests()[1:] {
			if strings.Contains(r.body, hygDaxiumSecret) || strings.Contains(r.body, hygDaxiumPassword) {
				t.Errorf("redirect to %s: credentials re-sent to %s", target, r.url)
			}
		}
	}
}

// TestHygienePlainHTTPRefused: endpoints over plain http are refused
// unless the host is loopback or AllowInsecureHTTP is set.
func TestHygienePlainHTTPRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"https://auth.example.com/token", false, true},
		{"http://auth.example.com/token", false, false},
		{"HTTP://auth.example.com/token", false, false},
		{"http://auth.example.com/token", true, true},
		{"http://127.0.0.1:8080/token", false, true},
		{"http://127.8.9.10/token", false, true},
		{"http://[::1]:8080/token", false, true},
		{"http://localhost:8080/token", false, true},
		{"http://LOCALHOST/token", false, true},
		{"http://auth.localhost/token", false, false}, // resolved through DNS
		{"http://auth.localhost/token", true, true},
		{"http://localhost./token", false, false},
		{"http://127.0.0.2/token", false, true},
		{"http://localhost.example.com/token", false, false},
		{"http://127.0.0.1.nip.io/token", false, false},
		{"http://0.0.0.0/token", false, false},
		{"http://10.0.0.1/token", false, false},
		{"http://2130706433/token", false, false},
		{"http://[::ffff:10.0.0.1]/token", false, false},
		{"ftp://auth.example.com/token", true, false},
		{"//auth.example.com/token", true, false},
		{"/token", true, false},
		{"https://user:" + hygDaxiumSecret + "@auth.example.com/token", false, false},
	}
	for _, tt := range tests {
		for _, field := range []string{"TokenURL", "AuthURL"} {
			cfg := Config{TokenURL: "https://auth.example.com/token", ClientID: "client", AllowInsecureHTTP: tt.insecure}
			if field == "TokenURL" {
				cfg.TokenURL = tt.url
			} else {
				cfg.AuthURL = tt.url
			}
			_, err := New(cfg)
			if (err == nil) != tt.ok {
				t.Errorf("%s %q (AllowInsecureHTTP %v): err = %v; want ok %v", field, tt.url, tt.insecure, err, tt.ok)
			}
			if err != nil && strings.Contains(fmt.Sprint(err), hygDaxiumSecret) {
				t.Errorf("%s %q: error %q repeats the password of the URL", field, tt.url, err)
			}
		}
	}
}

// TestHygieneTokenURLQuery: a TokenURL may carry a key in its query (some
// gateways want one); network errors must not repeat it.
func TestHygieneTokenURLQuery(t *testing.T) {
	t.Parallel()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	var logs syncBuffer
	c, err := New(Config{TokenURL: downURL + "/token?api_key=" + hygAssertion, ClientID: "client",
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Token(context.Background(), ClientCredentialsGrant())
	if err == nil {
		t.Fatal("token request to a closed server succeeded")
	}
	for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), logs.String()} {
		if strings.Contains(out, hygAssertion) {
			t.Errorf("the TokenURL's query reached %q", out)
		}
	}
}
