package oauthtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// codeLifetime is how long an Auth0 authorization code can be redeemed,
// on the server clock (RFC 6749 4.1.2 recommends at most ten minutes).
const codeLifetime = 10 * time.Minute

// authCode is an authorization code issued by /authorize.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string // S256 code_challenge, or "" without PKCE
	user        string
	scope       string
	nonce       string // OpenID Connect nonce, signed into the id_token
	expires     time.Time
	used        bool
}

// auth0 is the Auth0 preset.
type auth0 struct{}

func (auth0) tokenPath() string { return "/oauth/token" }
func (auth0) apiPath() string   { return "/api/me" }
func (auth0) tokenType() string { return "Bearer" }

// shape: a refresh token needs scope offline_access, an id_token openid.
func (auth0) shape(scope string) (refresh, id bool) {
	return hasScope(scope, "offline_access"), hasScope(scope, "openid")
}

func (auth0) errorBody(p problem, _ time.Time) any { return oauthError(p.oauth, p.desc) }

// oauthError is an RFC 6749 5.2 error body.
func oauthError(code, desc string) map[string]string {
	return map[string]string{"error": code, "error_description": desc}
}

func (auth0) tokenBody(t TokenResponse, expiresIn any) any {
	body := map[string]any{
		"access_token": t.AccessToken,
		"expires_in":   expiresIn,
		"token_type":   t.TokenType,
	}
	for k, v := range map[string]string{"refresh_token": t.RefreshToken, "id_token": t.IDToken, "scope": t.Scope} {
		if v != "" {
			body[k] = v
		}
	}
	return body
}

func hasScope(scope, want string) bool {
	return slices.Contains(strings.Fields(scope), want)
}

// authorize serves GET /authorize: it "logs in" at once and redirects back
// with a code, or with an error once redirect_uri is known to be good.
func (auth0) authorize(s *Server, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, reply{status: http.StatusMethodNotAllowed, header: http.Header{"Allow": {http.MethodGet}},
			body: oauthError("invalid_request", "method "+r.Method+" not allowed, use GET")})
		return
	}
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.ClientID {
		writeJSON(w, reply{status: http.StatusBadRequest,
			body: oauthError("invalid_request", "unknown client_id")})
		return
	}
	redirect := q.Get("redirect_uri")
	if !s.redirectAllowed(redirect) {
		writeJSON(w, reply{status: http.StatusBadRequest,
			body: oauthError("invalid_request", "redirect_uri is missing or not allowed")})
		return
	}
	back := func(params url.Values) {
		if st := q.Get("state"); st != "" {
			params.Set("state", st)
		}
		u, _ := url.Parse(redirect) // parsed by redirectAllowed
		v := u.Query()
		for k, vs := range params {
			v[k] = vs
		}
		u.RawQuery = v.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
	}
	fail := func(code, desc string) {
		back(url.Values{"error": {code}, "error_description": {desc}})
	}

	if code, desc := s.authorizeProblem(q); code != "" {
		fail(code, desc)
		return
	}
	user := s.firstUser
	if _, ok := s.opts.Users[q.Get("login_hint")]; ok {
		user = q.Get("login_hint")
	}
	code := newToken(prefixCode)
	s.mu.Lock()
	s.codes[code] = &authCode{
		clientID:    s.opts.ClientID,
		redirectURI: redirect,
		challenge:   q.Get("code_challenge"),
		user:        user,
		scope:       q.Get("scope"),
		nonce:       q.Get("nonce"),
		expires:     s.now().Add(codeLifetime),
	}
	s.mu.Unlock()
	back(url.Values{"code": {code}})
}

// authorizeProblem returns the error code and description an authorization
// request q gets, or "" when it is good.
func (s *Server) authorizeProblem(q url.Values) (code, desc string) {
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch aud := q.Get("audience"); {
	case q.Get("response_type") != "code":
		return "unsupported_response_type", "response_type must be code"
	case aud != "" && aud != s.opts.Audience:
		return "access_denied", "Service not found: " + aud
	case challenge == "" && s.opts.PublicClient:
		return "invalid_request", "code_challenge is required for public clients"
	case challenge == "" && method != "":
		return "invalid_request", "code_challenge_method without code_challenge"
	case challenge != "" && method != "S256":
		return "invalid_request", "code_challenge_method must be S256"
	case challenge != "" && !validPKCE(challenge, 43, 43):
		return "invalid_request", "code_challenge is not a base64url SHA-256"
	}
	return "", ""
}

// redirectAllowed checks raw against Options.RedirectURIs, or, without
// them, accepts any http loopback URL (RFC 8252 7.3).
func (s *Server) redirectAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Fragment != "" {
		return false
	}
	if len(s.opts.RedirectURIs) > 0 {
		return slices.Contains(s.opts.RedirectURIs, raw)
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
		return u.Scheme == "http"
	}
	return false
}

// validPKCE reports whether v is a code_verifier or code_challenge:
// min to max characters of the RFC 7636 unreserved set.
func validPKCE(v string, minLen, maxLen int) bool {
	if len(v) < minLen || len(v) > maxLen {
		return false
	}
	for _, c := range v {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	return true
}

func (a auth0) grant(s *Server, r *http.Request, form url.Values) reply {
	jkt, rep, ok := s.checkDPoP(r)
	if !ok {
		return rep
	}
	if rep, ok := s.checkRefreshBinding(form, jkt); !ok {
		return rep
	}
	return s.bindDPoP(s.bindCert(r, a.grantBearer(s, r, form)), jkt)
}

func (a auth0) grantBearer(s *Server, r *http.Request, form url.Values) reply {
	gt := form.Get("grant_type")
	switch gt {
	case "authorization_code", "refresh_token", "client_credentials", grantDevice, grantExchange, grantJWTBearer:
	case "":
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: "Missing required parameter: grant_type"})
	default:
		return s.fail(http.StatusBadRequest, problem{oauth: "unsupported_grant_type", desc: "Unsupported grant type: " + gt})
	}
	if rep, ok := a.authenticate(s, r, form); !ok {
		return rep
	}
	if gt == grantJWTBearer {
		return s.jwtBearer(form)
	}
	switch gt {
	case "authorization_code":
		return a.code(s, form)
	case "refresh_token":
		return a.refresh(s, form)
	case grantDevice:
		return s.pollDevice(form)
	case grantExchange:
		return s.exchange(form)
	}
	return a.clientCredentials(s, form)
}

// authenticate checks the client: by a client assertion (assertion.go), or
// by secret, or by TLS certificate with Options.MTLS (mtls.go).
func (a auth0) authenticate(s *Server, r *http.Request, form url.Values) (reply, bool) {
	if s.opts.MTLS != nil {
		return s.authenticateCert(r, form)
	}
	if rep, done, ok := s.authenticateJWT(r, form); done {
		return rep, ok
	}
	return a.authenticateSecret(s, r, form)
}

// authenticateSecret checks the client: a secret in the body or by HTTP
// Basic for a confidential client, never both; no secret at all for a
// public one.
func (auth0) authenticateSecret(s *Server, r *http.Request, form url.Values) (reply, bool) {
	id, bodySecret := form.Get("client_id"), form.Has("client_secret")
	secret := form.Get("client_secret")
	basicID, basicSecret, basic := r.BasicAuth()
	switch {
	case !basic && r.Header.Get("Authorization") != "":
		return s.fail(http.StatusUnauthorized, problem{oauth: "invalid_client", desc: "unsupported Authorization scheme"}), false
	case basic && bodySecret:
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request",
			desc: "client authentication must use only one method"}), false
	case basic:
		basicID, basicSecret = formUnescape(basicID), formUnescape(basicSecret)
		if id != "" && id != basicID {
			return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request",
				desc: "client_id does not match the Authorization header"}), false
		}
		id, secret = basicID, basicSecret
	}
	switch {
	case id == "":
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: "Missing required parameter: client_id"}), false
	case id != s.opts.ClientID:
		return s.fail(http.StatusUnauthorized, problem{oauth: "invalid_client", desc: "Unknown client."}), false
	case s.opts.PublicClient && (basic || bodySecret):
		return s.fail(http.StatusUnauthorized, problem{oauth: "invalid_client",
			desc: "A public client must not send a client secret."}), false
	case !s.opts.PublicClient && subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) != 1:
		return s.fail(http.StatusUnauthorized, problem{oauth: "invalid_client", desc: "Client authentication failed."}), false
	}
	return reply{}, true
}

// formUnescape undoes the form-encoding RFC 6749 2.3.1 applies to Basic
// credentials; a value that is not encoded is kept as is.
func formUnescape(v string) string {
	if u, err := url.QueryUnescape(v); err == nil {
		return u
	}
	return v
}

func (a auth0) code(s *Server, form url.Values) reply {
	if f := missing(form, "code", "redirect_uri"); f != "" {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: "Missing required parameter: " + f})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ac := s.codes[form.Get("code")]
	if ac == nil || ac.used || !s.now().Before(ac.expires) || ac.clientID != s.opts.ClientID {
		return s.fail(http.StatusForbidden, problem{oauth: "invalid_grant", desc: "Invalid authorization code"})
	}
	ac.used = true // single use, even when the redemption below fails
	if ac.redirectURI != form.Get("redirect_uri") {
		return s.fail(http.StatusForbidden, problem{oauth: "invalid_grant",
			desc: "The redirect_uri MUST match the one used in the authorization request"})
	}
	verifier := form.Get("code_verifier")
	if ac.challenge == "" && form.Has("code_verifier") ||
		ac.challenge != "" && (!validPKCE(verifier, 43, 128) || s256(verifier) != ac.challenge) {
		return s.fail(http.StatusForbidden, problem{oauth: "invalid_grant", desc: "Failed to verify code verifier"})
	}
	s.stats.Logins++
	withRefresh, withID := a.shape(ac.scope)
	t := s.mintLocked(ac.user, ac.scope, &family{}, withRefresh, withID)
	s.withNonceLocked(&t, ac.user, ac.nonce)
	return s.ok(t)
}

// s256 is the RFC 7636 S256 code challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (a auth0) refresh(s *Server, form url.Values) reply {
	if missing(form, "refresh_token") != "" {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: "Missing required parameter: refresh_token"})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.redeemRefreshLocked(form.Get("refresh_token"), s.opts.Rotation, s.opts.ReuseDetection)
	if !ok {
		return s.fail(http.StatusForbidden, problem{oauth: "invalid_grant", desc: "Unknown or invalid refresh token."})
	}
	_, withID := a.shape(rec.scope)
	return s.ok(s.mintLocked(rec.user, rec.scope, rec.fam, s.opts.Rotation, withID))
}

func (auth0) clientCredentials(s *Server, form url.Values) reply {
	if s.opts.PublicClient {
		return s.fail(http.StatusForbidden, problem{oauth: "unauthorized_client",
			desc: "Grant type 'client_credentials' not allowed for the client."})
	}
	switch aud := form.Get("audience"); aud {
	case s.opts.Audience:
	case "":
		return s.fail(http.StatusForbidden, problem{oauth: "access_denied",
			desc: "No audience parameter was provided, and no default audience has been configured"})
	default:
		return s.fail(http.StatusForbidden, problem{oauth: "access_denied", desc: "Service not found: " + aud})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Logins++
	return s.ok(s.mintLocked(s.opts.ClientID+"@clients", form.Get("scope"), nil, false, false))
}

func (auth0) credential(s *Server, r *http.Request) (*grantRecord, *reply) {
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "DPoP") {
		return s.dpopCredential(r)
	}
	token, ok := bearer(r)
	if ok {
		s.mu.Lock()
		rec, valid := s.validLocked(s.access, token)
		s.mu.Unlock()
		if valid && rec.jkt == "" {
			return certBinding(r, rec)
		}
	}
	desc := "invalid, expired or revoked access token"
	if !ok {
		desc = "missing bearer token"
	}
	return nil, &reply{
		status: http.StatusUnauthorized,
		header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token", error_description=` + strconv.Quote(desc)}},
		body:   oauthError("invalid_token", desc),
	}
}
