package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// This file checks JWT client assertions (private_key_jwt and
// client_secret_jwt: RFC 7523, section 2.2; OpenID Connect Core, section 9)
// and serves the JWT bearer grant (RFC 7523, section 2.1), for Auth0.

// Client assertion type and JWT bearer grant type of RFC 7523.
const (
	assertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	grantJWTBearer   = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// Bounds of an assertion the server accepts, on its clock.
const (
	// maxAssertionLife is the longest exp - iat accepted.
	maxAssertionLife = 10 * time.Minute
	// assertionLeeway is how far in the future an iat may be.
	assertionLeeway = 30 * time.Second
	// maxAssertionBytes bounds an assertion's length.
	maxAssertionBytes = 16 << 10
)

// jwtClaims are the claims checked in an assertion.
type jwtClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Jti string          `json:"jti"`
	Iat *int64          `json:"iat"`
	Exp *int64          `json:"exp"`
	Nbf *int64          `json:"nbf"`
}

// verifyJWS checks the compact JWS token with pub (a public key) or, when
// pub is nil, with the HMAC secret, and decodes its claims into claims.
// The algorithm must fit the key; "none" never does.
func verifyJWS(token string, pub crypto.PublicKey, secret string, claims any) error {
	if len(token) > maxAssertionBytes {
		return errors.New("the assertion is too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("the assertion is not a compact JWS")
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	pb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return errors.New("the assertion is not base64url")
	}
	var header struct {
		Alg  string `json:"alg"`
		Crit any    `json:"crit"`
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		return errors.New("the assertion's header is not JSON")
	}
	if header.Crit != nil {
		return errors.New("the assertion has critical header parameters")
	}
	input := []byte(parts[0] + "." + parts[1])
	if !checkSignature(header.Alg, pub, secret, input, sig) {
		return errors.New("the assertion's signature does not verify with the registered key (alg " + safeAlg(header.Alg) + ")")
	}
	if err := json.Unmarshal(pb, claims); err != nil {
		return errors.New("the assertion's claims are not a JSON object")
	}
	return nil
}

// safeAlg returns alg for an error message, when it is short and plain.
func safeAlg(alg string) string {
	if len(alg) > 8 || strings.ContainsFunc(alg, func(r rune) bool { return r < '0' || r > 'z' }) {
		return "?"
	}
	return alg
}

// checkSignature reports whether sig is a valid alg signature of input.
func checkSignature(alg string, pub crypto.PublicKey, secret string, input, sig []byte) bool {
	if pub == nil {
		h := hmacHash(alg)
		if h == nil || secret == "" {
			return false
		}
		m := hmac.New(h, []byte(secret))
		m.Write(input)
		return hmac.Equal(m.Sum(nil), sig)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		h, pss, ok := rsaHash(alg)
		if !ok {
			return false
		}
		d := h.New()
		d.Write(input)
		if pss {
			return rsa.VerifyPSS(k, h, d.Sum(nil), sig, nil) == nil
		}
		return rsa.VerifyPKCS1v15(k, h, d.Sum(nil), sig) == nil
	case *ecdsa.PublicKey:
		if alg != "ES256" || len(sig) != 64 {
			return false
		}
		d := sha256.Sum256(input)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k, d[:], r, s)
	case ed25519.PublicKey:
		return alg == "EdDSA" && ed25519.Verify(k, input, sig)
	}
	return false
}

// rsaHash returns the hash of an RSA algorithm and whether it is PSS.
func rsaHash(alg string) (crypto.Hash, bool, bool) {
	switch alg {
	case "RS256", "PS256":
		return crypto.SHA256, alg[0] == 'P', true
	case "RS384", "PS384":
		return crypto.SHA384, alg[0] == 'P', true
	case "RS512", "PS512":
		return crypto.SHA512, alg[0] == 'P', true
	}
	return 0, false, false
}

// hmacHash returns the hash of an HMAC algorithm, or nil.
func hmacHash(alg string) func() hash.Hash {
	switch alg {
	case "HS256":
		return sha256.New
	case "HS384":
		return sha512.New384
	case "HS512":
		return sha512.New
	}
	return nil
}

// checkAssertion verifies a JWT of the client (a client assertion, or the
// assertion of a JWT bearer grant), signed by Options.ClientKey or, without
// one, with the client secret. It checks iss (the client ID), aud (the
// token endpoint or the issuer), exp, iat, nbf and that its jti was never
// seen, and returns its claims, or why it is refused.
func (s *Server) checkAssertion(token string) (*jwtClaims, string) {
	var c jwtClaims
	secret := s.opts.ClientSecret
	if s.opts.ClientKey != nil || s.opts.PublicClient {
		secret = ""
	}
	if err := verifyJWS(token, s.opts.ClientKey, secret, &c); err != nil {
		return nil, err.Error()
	}
	now := s.now()
	if why := s.claimsProblem(&c, now); why != "" {
		return nil, why
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for jti, exp := range s.jtis {
		if !now.Before(exp) {
			delete(s.jtis, jti)
		}
	}
	if _, seen := s.jtis[c.Jti]; seen {
		return nil, "the assertion's jti was used before"
	}
	s.jtis[c.Jti] = time.Unix(*c.Exp, 0)
	return &c, ""
}

// claimsProblem says why the claims c of an assertion are refused at now,
// or returns "".
func (s *Server) claimsProblem(c *jwtClaims, now time.Time) string {
	switch {
	case c.Iss != s.opts.ClientID:
		return "the assertion's iss is not the client ID"
	case c.Jti == "":
		return "the assertion has no jti"
	case !s.audienceOK(c.Aud):
		return "the assertion's aud is neither the token endpoint nor the issuer"
	case c.Exp == nil || !now.Before(time.Unix(*c.Exp, 0)):
		return "the assertion has expired"
	case c.Iat == nil || time.Unix(*c.Iat, 0).After(now.Add(assertionLeeway)):
		return "the assertion's iat is missing or in the future"
	case time.Unix(*c.Exp, 0).Sub(time.Unix(*c.Iat, 0)) > maxAssertionLife:
		return "the assertion is valid for too long"
	case c.Nbf != nil && time.Unix(*c.Nbf, 0).After(now.Add(assertionLeeway)):
		return "the assertion is not valid yet"
	}
	return ""
}

// audienceOK reports whether aud (a string or an array of strings) names
// the token endpoint or the issuer.
func (s *Server) audienceOK(raw json.RawMessage) bool {
	var one string
	var many []string
	if json.Unmarshal(raw, &one) == nil {
		many = []string{one}
	} else if json.Unmarshal(raw, &many) != nil {
		return false
	}
	for _, a := range many {
		if a == s.TokenURL() || a == s.Issuer() || a+"/" == s.Issuer() {
			return true
		}
	}
	return false
}

// assertionClient authenticates a request that carries a client assertion:
// the assertion's sub must be the client, and a client_id, if given, too.
func (s *Server) assertionClient(form url.Values) (reply, bool) {
	if form.Get("client_assertion_type") != assertionTypeJWT {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: "client_assertion_type must be " + assertionTypeJWT}), false
	}
	c, why := s.checkAssertion(form.Get("client_assertion"))
	switch {
	case c == nil:
	case c.Sub != s.opts.ClientID:
		why = "the assertion's sub is not the client ID"
	case form.Has("client_id") && form.Get("client_id") != s.opts.ClientID:
		why = "client_id does not match the assertion"
	}
	if why != "" {
		s.countAssertionRefusal()
		return s.fail(http.StatusUnauthorized, problem{oauth: "invalid_client", desc: why}), false
	}
	return reply{}, true
}

// countAssertionRefusal counts a refused client assertion.
func (s *Server) countAssertionRefusal() {
	s.mu.Lock()
	s.stats.AssertionRefusals++
	s.mu.Unlock()
}

// jwtBearer serves the JWT bearer grant: an assertion signed like a client
// assertion, whose sub is a user of Options.Users or the client itself.
func (s *Server) jwtBearer(form url.Values) reply {
	if missing(form, "assertion") != "" {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: "Missing required parameter: assertion"})
	}
	c, why := s.checkAssertion(form.Get("assertion"))
	if c != nil && c.Sub != s.opts.ClientID {
		if _, ok := s.opts.Users[c.Sub]; !ok {
			why = "the assertion's sub is not a known user"
		}
	}
	if why != "" {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_grant", desc: why})
	}
	user := c.Sub
	if user == s.opts.ClientID {
		user = s.opts.ClientID + "@clients"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Logins++
	return s.ok(s.mintLocked(user, form.Get("scope"), nil, false, false))
}

// supportedKey reports whether key is a public key assertions can be
// checked with.
func supportedKey(key crypto.PublicKey) bool {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return true
	case *ecdsa.PublicKey:
		return k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return len(k) == ed25519.PublicKeySize
	}
	return false
}

// authenticateJWT authenticates a request by client assertion, when it
// carries one or the client has a registered key (done), or when it is a
// JWT bearer grant with no client credentials at all, which the grant's
// own assertion then authenticates (RFC 7523, section 3.1).
func (s *Server) authenticateJWT(r *http.Request, form url.Values) (rep reply, done, ok bool) {
	hasAssertion := form.Has("client_assertion") || form.Has("client_assertion_type")
	_, _, basic := r.BasicAuth()
	otherAuth := basic || form.Has("client_secret") || r.Header.Get("Authorization") != ""
	switch {
	case hasAssertion && otherAuth:
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request",
			desc: "client authentication must use only one method"}), true, false
	case hasAssertion:
		rep, ok := s.assertionClient(form)
		return rep, true, ok
	case form.Get("grant_type") == grantJWTBearer && !otherAuth:
		return reply{}, true, true
	case s.opts.ClientKey != nil:
		s.countAssertionRefusal()
		return s.fail(http.StatusUnauthorized, problem{oauth: "invalid_client",
			desc: "the client authenticates with private_key_jwt"}), true, false
	}
	return reply{}, false, false
}
