package oauthtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file checks DPoP proofs at the token endpoint (RFC 9449) and binds
// the tokens it issues to the proof's key, for Auth0.

// Bounds of a DPoP proof's iat on the server clock.
const (
	// dpopMaxAge is how old a proof may be.
	dpopMaxAge = time.Minute
	// dpopLeeway is how far in the future its iat may be.
	dpopLeeway = 30 * time.Second
)

// dpopProofClaims are the claims checked in a DPoP proof.
type dpopProofClaims struct {
	Jti   string `json:"jti"`
	Htm   string `json:"htm"`
	Htu   string `json:"htu"`
	Iat   *int64 `json:"iat"`
	Nonce string `json:"nonce"`
	Ath   string `json:"ath"`
}

// checkDPoP checks the DPoP proof of a token request. It returns the JWK
// thumbprint of the proof's key ("" without a proof, when Options.DPoP
// allows that), or the refusal to send.
func (s *Server) checkDPoP(r *http.Request) (string, reply, bool) {
	proofs := r.Header.Values("DPoP")
	if len(proofs) == 0 && !s.opts.DPoP {
		return "", reply{}, true
	}
	if len(proofs) != 1 {
		return "", s.dpopFail("exactly one DPoP proof is required"), false
	}
	jkt, c, err := verifyDPoP(proofs[0])
	if err != nil {
		return "", s.dpopFail(err.Error()), false
	}
	if why := s.dpopClaimsProblem(r, c); why != "" {
		return "", s.dpopFail(why), false
	}
	if s.opts.DPoPNonce && c.Nonce != s.DPoPNonce() {
		rep := s.fail(http.StatusBadRequest, problem{oauth: "use_dpop_nonce", desc: "Authorization server requires nonce in DPoP proof"})
		rep.header = http.Header{"Dpop-Nonce": {s.DPoPNonce()}}
		return "", rep, false
	}
	return jkt, reply{}, true
}

// dpopFail is the refusal of a bad proof.
func (s *Server) dpopFail(why string) reply {
	return s.fail(http.StatusBadRequest, problem{oauth: "invalid_dpop_proof", desc: why})
}

// verifyDPoP checks a proof's header and signature with the key it
// carries, and returns the key's RFC 7638 thumbprint and the claims.
func verifyDPoP(proof string) (string, *dpopProofClaims, error) {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 || len(proof) > maxAssertionBytes {
		return "", nil, errors.New("the DPoP proof is not a compact JWS")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return "", nil, errors.New("the DPoP proof's header is not base64url")
	}
	var h struct {
		Typ string          `json:"typ"`
		JWK json.RawMessage `json:"jwk"`
	}
	if json.Unmarshal(hb, &h) != nil || h.Typ != "dpop+jwt" {
		return "", nil, errors.New("the DPoP proof's typ is not dpop+jwt")
	}
	pub, thumb, err := parseJWK(h.JWK)
	if err != nil {
		return "", nil, err
	}
	var c dpopProofClaims
	if err := verifyJWS(proof, pub, "", &c); err != nil {
		return "", nil, errors.New("the DPoP proof's signature does not verify with its jwk")
	}
	sum := sha256.Sum256(thumb)
	return base64.RawURLEncoding.EncodeToString(sum[:]), &c, nil
}

// jwkMembers are the members of a JWK this server reads.
type jwkMembers struct {
	Kty, Crv, X, Y, N, E, D string
}

// parseJWK decodes a public JWK (EC P-256, RSA or Ed25519, no private
// members) and returns the key and the JSON its thumbprint hashes.
func parseJWK(raw []byte) (crypto.PublicKey, []byte, error) {
	var k jwkMembers
	if json.Unmarshal(raw, &k) != nil || k.D != "" {
		return nil, nil, errors.New("the DPoP proof's jwk is not a public key")
	}
	var pub crypto.PublicKey
	var thumb []byte
	switch {
	case k.Kty == "EC" && k.Crv == "P-256":
		pub, thumb = ecJWK(k)
	case k.Kty == "RSA":
		pub, thumb = rsaJWK(k)
	case k.Kty == "OKP" && k.Crv == "Ed25519":
		if x, err := base64.RawURLEncoding.DecodeString(k.X); err == nil && len(x) == ed25519.PublicKeySize {
			pub, thumb = ed25519.PublicKey(x), fmt.Appendf(nil, `{"crv":"Ed25519","kty":"OKP","x":%q}`, k.X)
		}
	}
	if pub == nil {
		return nil, nil, errors.New("the DPoP proof's jwk is not a supported public key")
	}
	return pub, thumb, nil
}

// ecJWK decodes a P-256 JWK, or returns nil.
func ecJWK(k jwkMembers) (crypto.PublicKey, []byte) {
	x, err1 := base64.RawURLEncoding.DecodeString(k.X)
	y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		return nil, nil
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, nil
	}
	return pub, fmt.Appendf(nil, `{"crv":"P-256","kty":"EC","x":%q,"y":%q}`, k.X, k.Y)
}

// rsaJWK decodes an RSA JWK of at least 2048 bits, or returns nil.
func rsaJWK(k jwkMembers) (crypto.PublicKey, []byte) {
	n, err1 := base64.RawURLEncoding.DecodeString(k.N)
	e, err2 := base64.RawURLEncoding.DecodeString(k.E)
	if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
		return nil, nil
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	return pub, fmt.Appendf(nil, `{"e":%q,"kty":"RSA","n":%q}`, k.E, k.N)
}

// dpopClaimsProblem says why the claims of a proof of r are refused, or
// returns "". A good proof's jti is remembered, so it is never accepted
// twice.
func (s *Server) dpopClaimsProblem(r *http.Request, c *dpopProofClaims) string {
	now := s.now()
	switch {
	case c.Jti == "" || len(c.Jti) > 256:
		return "the DPoP proof has no jti"
	case c.Htm != r.Method:
		return "the DPoP proof's htm is not the request's method"
	case c.Htu != s.URL()+r.URL.Path:
		return "the DPoP proof's htu is not the request's URL"
	case c.Iat == nil:
		return "the DPoP proof has no iat"
	case time.Unix(*c.Iat, 0).Before(now.Add(-dpopMaxAge)) || time.Unix(*c.Iat, 0).After(now.Add(dpopLeeway)):
		return "the DPoP proof's iat is outside the accepted window"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := "dpop " + c.Jti
	if exp, seen := s.jtis[key]; seen && now.Before(exp) {
		return "the DPoP proof's jti was used before"
	}
	s.jtis[key] = time.Unix(*c.Iat, 0).Add(dpopMaxAge + dpopLeeway)
	return ""
}

// bindDPoP makes the tokens of a successful reply DPoP-bound to the key of
// thumbprint jkt (cnf.jkt, RFC 9449, section 6): token_type DPoP. A public
// client's refresh token is bound too (section 5); a confidential
// client's is bound to the client by its authentication already.
func (s *Server) bindDPoP(rep reply, jkt string) reply {
	body, ok := rep.body.(map[string]any)
	if jkt == "" || rep.status != http.StatusOK || !ok {
		return rep
	}
	body["token_type"] = "DPoP"
	at, _ := body["access_token"].(string)
	rt, _ := body["refresh_token"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.access[at]; rec != nil {
		rec.jkt = jkt
	}
	if rec := s.refresh[rt]; rec != nil && s.opts.PublicClient {
		rec.jkt = jkt
	}
	return rep
}

// checkRefreshBinding refuses a refresh_token grant whose refresh token is
// bound to a DPoP key (a public client's) when the request's proof, of
// thumbprint jkt ("" without one), is not made with that key (RFC 9449,
// section 5): invalid_grant, as for a refresh token issued to another
// client (RFC 6749, section 5.2). It is refused before it is redeemed, so
// the refresh token is neither rotated nor taken for a reused one.
func (s *Server) checkRefreshBinding(form url.Values, jkt string) (reply, bool) {
	if form.Get("grant_type") != "refresh_token" {
		return reply{}, true
	}
	s.mu.Lock()
	rec := s.refresh[form.Get("refresh_token")]
	bound := rec != nil && rec.jkt != "" && rec.jkt != jkt
	s.mu.Unlock()
	if bound {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_grant",
			desc: "The refresh token is bound to another DPoP key."}), false
	}
	return reply{}, true
}

// DPoPNonce returns the nonce the server demands in DPoP proofs with
// Options.DPoPNonce.
func (s *Server) DPoPNonce() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dpopNonce
}

// RotateDPoPNonce replaces the DPoP nonce: proofs with the old one are
// refused with use_dpop_nonce and the new one.
func (s *Server) RotateDPoPNonce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dpopNonce = rand.Text()
}

// dpopCredential checks a request to the API with a DPoP-bound token
// (Authorization: DPoP): its proof (as at the token endpoint), the proof's
// ath (the token's hash), that the token is bound to the proof's key, and
// the nonce with Options.DPoPNonce.
func (s *Server) dpopCredential(r *http.Request) (*grantRecord, *reply) {
	_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return nil, dpopRefusal("invalid_dpop_proof", "exactly one DPoP proof is required")
	}
	jkt, c, err := verifyDPoP(proofs[0])
	if err != nil {
		return nil, dpopRefusal("invalid_dpop_proof", err.Error())
	}
	if why := s.dpopClaimsProblem(r, c); why != "" {
		return nil, dpopRefusal("invalid_dpop_proof", why)
	}
	if c.Ath != s256(token) {
		return nil, dpopRefusal("invalid_dpop_proof", "the DPoP proof's ath is not the access token's hash")
	}
	if s.opts.DPoPNonce && c.Nonce != s.DPoPNonce() {
		rep := dpopRefusal("use_dpop_nonce", "Resource server requires nonce in DPoP proof")
		rep.header.Set("DPoP-Nonce", s.DPoPNonce())
		return nil, rep
	}
	s.mu.Lock()
	rec, valid := s.validLocked(s.access, token)
	s.mu.Unlock()
	if !valid || rec.jkt != jkt {
		return nil, dpopRefusal("invalid_token", "invalid, expired or revoked access token, or not bound to the proof's key")
	}
	return rec, nil
}

// dpopRefusal is a 401 of the API to a DPoP request (RFC 9449, section 7.1).
func dpopRefusal(code, desc string) *reply {
	return &reply{
		status: http.StatusUnauthorized,
		header: http.Header{"Www-Authenticate": {`DPoP algs="ES256 RS256 EdDSA", error="` + code + `", error_description=` + strconv.Quote(desc)}},
		body:   oauthError(code, desc),
	}
}
