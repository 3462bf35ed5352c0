package oauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// This file holds the Auth0 endpoints beyond /authorize and the token
// endpoint: discovery (RFC 8414, OpenID Connect Discovery), the JWKS and
// signed id_tokens, revocation (RFC 7009), device authorization (RFC 8628)
// and token exchange (RFC 8693). The faults of FailNext and its kin apply
// to every one of them, in the order requests arrive.

// Grant types and token types of the device and token exchange grants.
const (
	grantDevice   = "urn:ietf:params:oauth:grant-type:device_code"
	grantExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	typeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// Paths of the Auth0 endpoints served here.
const (
	pathDiscovery = "/.well-known/openid-configuration"
	pathMetadata  = "/.well-known/oauth-authorization-server"
	pathJWKS      = "/.well-known/jwks.json"
	pathRevoke    = "/oauth/revoke"
	pathDevice    = "/oauth/device/code"
)

// deviceLifetime is how long a device code can be redeemed, and
// deviceInterval the polling interval the server asks for.
const (
	deviceLifetime = 15 * time.Minute
	deviceInterval = 5 * time.Second
)

// protocol is the state of these endpoints, guarded by Server.mu.
type protocol struct {
	key     *ecdsa.PrivateKey // signs id_tokens (ES256)
	kid     string
	old     []jwk // keys retired by RotateSigningKey, still published
	devices map[string]*deviceRecord
	// slowDown is how many polls to answer slow_down next.
	slowDown int
}

// deviceState is where a device authorization stands.
type deviceState int

const (
	devicePending deviceState = iota
	deviceApproved
	deviceDenied
	deviceRedeemed
)

// deviceRecord is one device authorization.
type deviceRecord struct {
	userCode string
	scope    string
	expires  time.Time
	state    deviceState
}

// newProtocol returns the state with a new signing key.
func newProtocol() *protocol {
	p := &protocol{devices: make(map[string]*deviceRecord)}
	p.rotate()
	return p
}

// rotate replaces the signing key, keeping the old one published.
func (p *protocol) rotate() {
	if p.key != nil {
		p.old = append(p.old, p.jwk())
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic("oauthtest: generating a P-256 key: " + err.Error())
	}
	p.key, p.kid = key, "k"+rand.Text()[:8]
}

// jwk is a public key in JWK form (RFC 7517).
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

func (p *protocol) jwk() jwk {
	// The uncompressed point: 0x04, then X and Y on 32 bytes each.
	pt, err := p.key.PublicKey.Bytes()
	if err != nil || len(pt) != 65 {
		panic(fmt.Sprintf("oauthtest: encoding a P-256 key: %v", err))
	}
	b := base64.RawURLEncoding.EncodeToString
	return jwk{Kty: "EC", Crv: "P-256", X: b(pt[1:33]), Y: b(pt[33:]), Kid: p.kid, Use: "sig", Alg: "ES256"}
}

// sign returns a compact ES256 JWS of claims.
func (p *protocol) sign(claims map[string]any) string {
	header, _ := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": p.kid})
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(fmt.Sprintf("oauthtest: encoding claims: %v", err))
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, p.key, sum[:])
	if err != nil {
		panic("oauthtest: signing: " + err.Error())
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	return input + "." + enc.EncodeToString(sig)
}

// mountProtocol serves the endpoints of this file on mux.
func (s *Server) mountProtocol(mux *http.ServeMux) {
	mux.HandleFunc(pathDiscovery, s.handleDiscovery)
	mux.HandleFunc(pathMetadata, s.handleDiscovery)
	mux.HandleFunc(pathJWKS, s.handleJWKS)
	mux.HandleFunc(pathRevoke, func(w http.ResponseWriter, r *http.Request) { s.serveForm(w, r, s.revoke) })
	mux.HandleFunc(pathDevice, func(w http.ResponseWriter, r *http.Request) { s.serveForm(w, r, s.deviceCode) })
}

// Issuer returns the issuer identifier, the server's URL with a trailing
// slash as Auth0 writes it. Its discovery document is at
// Issuer()+".well-known/openid-configuration". Auth0 only; "" otherwise.
func (s *Server) Issuer() string {
	if s.opts.Preset != Auth0 {
		return ""
	}
	return s.ts.URL + "/"
}

// RevocationURL returns the Auth0 revocation endpoint, /oauth/revoke, and
// "" for the other presets.
func (s *Server) RevocationURL() string { return s.protoURL(pathRevoke) }

// DeviceAuthURL returns the Auth0 device authorization endpoint,
// /oauth/device/code, and "" for the other presets.
func (s *Server) DeviceAuthURL() string { return s.protoURL(pathDevice) }

// JWKSURL returns the Auth0 JWKS, /.well-known/jwks.json, and "" for the
// other presets.
func (s *Server) JWKSURL() string { return s.protoURL(pathJWKS) }

func (s *Server) protoURL(path string) string {
	if s.opts.Preset != Auth0 {
		return ""
	}
	return s.ts.URL + path
}

// handleDiscovery serves the metadata document (RFC 8414 and OpenID
// Connect Discovery share it here).
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	if !s.serveFaults(w, r) {
		return
	}
	u := s.ts.URL
	writeJSON(w, reply{status: http.StatusOK, body: map[string]any{
		"issuer":                                u + "/",
		"authorization_endpoint":                u + "/authorize",
		"token_endpoint":                        u + s.p.tokenPath(),
		"revocation_endpoint":                   u + pathRevoke,
		"device_authorization_endpoint":         u + pathDevice,
		"jwks_uri":                              u + pathJWKS,
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials", grantDevice, grantExchange},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "none"},
		"code_challenge_methods_supported":      []string{"S256"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
	}})
}

// handleJWKS serves the signing keys, the current one first.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if !s.serveFaults(w, r) {
		return
	}
	s.mu.Lock()
	keys := append([]jwk{s.proto.jwk()}, s.proto.old...)
	s.mu.Unlock()
	writeJSON(w, reply{status: http.StatusOK, body: map[string]any{"keys": keys}})
}

// serveFaults applies latency and the next fault; it reports whether the
// request is still to be answered.
func (s *Server) serveFaults(w http.ResponseWriter, r *http.Request) bool {
	if !s.delay(r) {
		abort(w)
		return false
	}
	if f, ok := s.nextFault(); ok {
		s.writeFault(w, r, f)
		return false
	}
	return true
}

// serveForm serves a POST endpoint that authenticates the client as the
// token endpoint does, then answers with handle.
func (s *Server) serveForm(w http.ResponseWriter, r *http.Request, handle func(url.Values) reply) {
	if !s.serveFaults(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, reply{status: http.StatusMethodNotAllowed, header: http.Header{"Allow": {http.MethodPost}},
			body: oauthError("invalid_request", "use POST")})
		return
	}
	form, perr := readForm(w, r)
	if perr != nil {
		writeJSON(w, s.fail(http.StatusBadRequest, *perr))
		return
	}
	if rep, ok := (auth0{}).authenticate(s, r, form); !ok {
		writeJSON(w, rep)
		return
	}
	writeJSON(w, handle(form))
}

// revoke serves RFC 7009: the token named is revoked, whichever kind it
// is; an unknown token is a success.
func (s *Server) revoke(form url.Values) reply {
	token := form.Get("token")
	if token == "" {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: "Missing required parameter: token"})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Revocations++
	if r := s.refresh[token]; r != nil {
		r.fam.revoked = true
	}
	for _, m := range []map[string]*grantRecord{s.access, s.idTokens} {
		if rec := m[token]; rec != nil {
			rec.revoked = true
		}
	}
	return reply{status: http.StatusOK, body: map[string]any{}}
}

// deviceCode serves the device authorization request (RFC 8628 3.1-3.2).
func (s *Server) deviceCode(form url.Values) reply {
	code, user := newToken("dc_"), strings.ToUpper(rand.Text()[:8])
	s.mu.Lock()
	s.proto.devices[code] = &deviceRecord{userCode: user, scope: form.Get("scope"), expires: s.now().Add(deviceLifetime)}
	s.mu.Unlock()
	verify := s.ts.URL + "/activate"
	return reply{status: http.StatusOK, body: map[string]any{
		"device_code":               code,
		"user_code":                 user,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?user_code=" + user,
		"expires_in":                int(deviceLifetime / time.Second),
		"interval":                  int(deviceInterval / time.Second),
	}}
}

// ApproveDevice approves the pending device authorization with userCode,
// as the user would on the verification page: the next poll gets tokens.
// It reports whether such an authorization was pending.
func (s *Server) ApproveDevice(userCode string) bool { return s.decideDevice(userCode, deviceApproved) }

// DenyDevice denies the pending device authorization with userCode: the
// next poll gets access_denied. It reports whether such an authorization
// was pending.
func (s *Server) DenyDevice(userCode string) bool { return s.decideDevice(userCode, deviceDenied) }

// SlowDownNext makes the next n polls of a device code answer slow_down,
// whatever their authorization's state.
func (s *Server) SlowDownNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proto.slowDown += n
}

func (s *Server) decideDevice(userCode string, st deviceState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.proto.devices {
		if d.userCode == userCode && d.state == devicePending {
			d.state = st
			return true
		}
	}
	return false
}

// pollDevice redeems a device code (RFC 8628 3.4-3.5). A device code
// expires deviceLifetime after it was issued, on the server clock.
func (s *Server) pollDevice(form url.Values) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.proto.devices[form.Get("device_code")]
	pending := func(code, desc string) reply {
		return s.fail(http.StatusBadRequest, problem{oauth: code, desc: desc})
	}
	switch {
	case d == nil || d.state == deviceRedeemed:
		return pending("invalid_grant", "Invalid or used device code")
	case s.proto.slowDown > 0:
		s.proto.slowDown--
		return pending("slow_down", "You are polling faster than allowed")
	case !s.now().Before(d.expires):
		return pending("expired_token", "The device code has expired")
	case d.state == deviceDenied:
		return pending("access_denied", "The user denied the request")
	case d.state == devicePending:
		return pending("authorization_pending", "The user has not yet approved")
	}
	d.state = deviceRedeemed
	s.stats.Logins++
	withRefresh, withID := (auth0{}).shape(d.scope)
	return s.ok(s.mintLocked(s.firstUser, d.scope, &family{}, withRefresh, withID))
}

// exchange serves token exchange (RFC 8693): a valid access token of this
// server as subject_token (and as actor_token, if one is given) gets a new
// access token for the same user, for the audience asked.
func (s *Server) exchange(form url.Values) reply {
	bad := func(code, desc string) reply {
		return s.fail(http.StatusBadRequest, problem{oauth: code, desc: desc})
	}
	if f := missing(form, "subject_token", "subject_token_type"); f != "" {
		return bad("invalid_request", "Missing required parameter: "+f)
	}
	if form.Get("subject_token_type") != typeAccess || form.Has("actor_token") && form.Get("actor_token_type") != typeAccess {
		return bad("invalid_request", "only access tokens can be exchanged")
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != typeAccess {
		return bad("invalid_request", "only access tokens are issued")
	}
	if aud := form.Get("audience"); aud != "" && aud != s.opts.Audience {
		return bad("invalid_target", "unknown audience "+aud)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.validLocked(s.access, form.Get("subject_token"))
	if _, actorOK := s.validLocked(s.access, form.Get("actor_token")); !ok || form.Has("actor_token") && !actorOK {
		return bad("invalid_grant", "invalid subject or actor token")
	}
	rep := s.ok(s.mintLocked(rec.user, form.Get("scope"), nil, false, false))
	if body, isMap := rep.body.(map[string]any); isMap {
		body["issued_token_type"] = typeAccess
	}
	return rep
}

// idTokenLocked returns a signed id_token for user; s.mu must be held.
func (s *Server) idTokenLocked(user, nonce string, now time.Time) string {
	claims := map[string]any{
		"iss": s.ts.URL + "/", "sub": user, "aud": s.opts.ClientID, "azp": s.opts.ClientID,
		"iat": now.Unix(), "exp": now.Add(s.opts.TokenLifetime).Unix(),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return s.proto.sign(claims)
}

// withNonceLocked signs t's id_token again with nonce; s.mu must be held.
func (s *Server) withNonceLocked(t *TokenResponse, user, nonce string) {
	if t.IDToken == "" || nonce == "" {
		return
	}
	rec := s.idTokens[t.IDToken]
	delete(s.idTokens, t.IDToken)
	t.IDToken = s.idTokenLocked(user, nonce, s.now())
	s.idTokens[t.IDToken] = rec
}

// SignIDToken signs claims, as they are, with the server's current key:
// a test builds id_tokens that are expired, for another audience, with a
// wrong nonce, and so on. The issuer a valid one carries is Issuer().
func (s *Server) SignIDToken(claims map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proto.sign(claims)
}

// RotateSigningKey signs the next id_tokens with a new key, under a new
// kid; the JWKS publishes it first, and the old ones after it.
func (s *Server) RotateSigningKey() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proto.rotate()
}
