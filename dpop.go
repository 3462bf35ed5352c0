package tokenkeeper

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// This file makes DPoP proofs (RFC 9449): a JWT signed with the client's
// proof key for one HTTP request, carrying the public key in its header.
// It signs with the code of the client assertions (assertion.go).

// dpopProofType is the typ header of a DPoP proof (RFC 9449, section 4.2).
const dpopProofType = "dpop+jwt"

// dpopProver signs the DPoP proofs of one Client and keeps the last nonce
// each server gave. It is safe for concurrent use.
type dpopProver struct {
	signer *jwtSigner
	jkt    string // RFC 7638 thumbprint of the public key

	mu     sync.Mutex
	nonces map[string]string // origin -> last DPoP-Nonce
}

// newDPoPProver returns the prover of key, or an error when the key cannot
// sign proofs: ES256 for P-256, RS256 for RSA, EdDSA for Ed25519.
func newDPoPProver(key crypto.Signer) (*dpopProver, error) {
	jwk, thumb, err := publicJWK(key.Public())
	if err != nil {
		return nil, err
	}
	s, err := newJWTSigner(key, "", "", "")
	if err != nil {
		return nil, errors.New("DPoPKey cannot sign DPoP proofs")
	}
	s.jwk = jwk
	sum := sha256.Sum256(thumb)
	return &dpopProver{signer: s, jkt: base64.RawURLEncoding.EncodeToString(sum[:]), nonces: make(map[string]string)}, nil
}

// publicJWK returns the JWK of a public key and the JSON its RFC 7638
// thumbprint hashes: the required members only, in lexicographic order.
func publicJWK(pub crypto.PublicKey) (jwk, thumb []byte, err error) {
	enc := base64.RawURLEncoding
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		b, err := k.Bytes() // uncompressed point: 0x04 || x || y
		if err != nil || len(b) != 65 {
			return nil, nil, errors.New("DPoPKey: want an ECDSA key on P-256")
		}
		thumb = fmt.Appendf(nil, `{"crv":"P-256","kty":"EC","x":%q,"y":%q}`, enc.EncodeToString(b[1:33]), enc.EncodeToString(b[33:]))
	case *rsa.PublicKey:
		e := big2bytes(k.E)
		thumb = fmt.Appendf(nil, `{"e":%q,"kty":"RSA","n":%q}`, enc.EncodeToString(e), enc.EncodeToString(k.N.Bytes()))
	case ed25519.PublicKey:
		thumb = fmt.Appendf(nil, `{"crv":"Ed25519","kty":"OKP","x":%q}`, enc.EncodeToString(k))
	default:
		return nil, nil, fmt.Errorf("DPoPKey is a %T; want an ECDSA P-256, RSA or Ed25519 key", pub)
	}
	return thumb, thumb, nil
}

// big2bytes is the big-endian form of a positive int, without leading zeros.
func big2bytes(v int) []byte {
	var out []byte
	for ; v > 0; v >>= 8 {
		out = append([]byte{byte(v)}, out...)
	}
	return out
}

// dpopClaims are the claims of a DPoP proof (RFC 9449, section 4.2).
type dpopClaims struct {
	Jti   string `json:"jti"`
	Htm   string `json:"htm"`
	Htu   string `json:"htu"`
	Iat   int64  `json:"iat"`
	Nonce string `json:"nonce,omitempty"`
	Ath   string `json:"ath,omitempty"`
}

// proof returns the DPoP proof of a request with method to u, signed at
// iat (Unix seconds), with the nonce last given by u's origin.
// With ath (resource requests), the proof carries the access token's hash.
func (p *dpopProver) proof(method string, u *url.URL, iat int64, ath string) (string, error) {
	if method == "" {
		method = http.MethodGet
	}
	htu := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return p.signer.sign(dpopClaims{
		Jti: randomString(16), Htm: method, Htu: htu.String(), Iat: iat,
		Nonce: p.nonce(u), Ath: ath,
	}, dpopProofType)
}

// origin is the key of a URL's nonce.
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// nonce returns the last nonce u's origin gave, or "".
func (p *dpopProver) nonce(u *url.URL) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nonces[origin(u)]
}

// keepNonce records the DPoP-Nonce of a response from u's origin, if any,
// and reports whether it is new.
func (p *dpopProver) keepNonce(u *url.URL, h http.Header) bool {
	n := h.Get("DPoP-Nonce")
	if n == "" || !validHeaderValue(n) {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	o := origin(u)
	if p.nonces[o] == n {
		return false
	}
	if len(p.nonces) >= maxDPoPOrigins {
		clear(p.nonces)
	}
	p.nonces[o] = n
	return true
}

// maxDPoPOrigins bounds the nonces kept, one per origin.
const maxDPoPOrigins = 64

// signDPoP sets the DPoP header of req, signed by p.
// With ath, the proof is a resource request's.
func (c *Client) signDPoP(p *dpopProver, req *http.Request, ath string) error {
	proof, err := p.proof(req.Method, req.URL, c.now().Unix(), ath)
	if err != nil {
		return fmt.Errorf("tokenkeeper: signing the DPoP proof: %w", err)
	}
	req.Header.Set("DPoP", proof)
	return nil
}

// wantsNonce reports whether a token endpoint's refusal asks for the
// DPoP nonce it sent (RFC 9449, section 8).
func wantsNonce(resp *http.Response, body []byte) bool {
	if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	var e struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &e) == nil && e.Error == "use_dpop_nonce"
}

// dpopATH returns the ath of t's access token (RFC 9449, section 4.2)
// when t is DPoP-bound and p, its proof key, is not nil, else "".
func (c *Client) dpopATH(p *dpopProver, t *Token) string {
	if p == nil || c.credential.IDToken || c.credential.Raw || !strings.EqualFold(t.TokenType, "DPoP") {
		return ""
	}
	sum := sha256.Sum256([]byte(t.AccessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sendDPoP sends r, the request req with the credential of st, with a
// DPoP proof. A 401 asking for a new nonce (use_dpop_nonce) is retried
// once with it, when the body of req can be replayed.
func (s *Source) sendDPoP(base http.RoundTripper, req, r *http.Request, st *state) (*http.Response, error) {
	if err := s.c.signDPoP(st.prover, r, st.ath); err != nil {
		closeBody(r)
		return nil, err
	}
	resp, err := base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if !st.prover.keepNonce(req.URL, resp.Header) || resp.StatusCode != http.StatusUnauthorized || !nonceChallenge(resp) {
		return resp, nil
	}
	body := req.Body
	if body != nil && body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	drainClose(resp.Body)
	r = s.authorize(req, st, body)
	if err := s.c.signDPoP(st.prover, r, st.ath); err != nil {
		closeBody(r)
		return nil, err
	}
	return base.RoundTrip(r)
}

// nonceChallenge reports whether a resource server's 401 asks for a DPoP
// nonce (RFC 9449, section 9).
func nonceChallenge(resp *http.Response) bool {
	return strings.Contains(resp.Header.Get("WWW-Authenticate"), "use_dpop_nonce")
}

// dpopKeyContext is the context key of a Source's own DPoP key (a
// *dpopProver) in the context of its token requests.
type dpopKeyContext struct{}

// withDPoPKey returns ctx carrying p, the key that signs the proofs of the
// token requests made with it, when the Client has no DPoPKey.
func withDPoPKey(ctx context.Context, p *dpopProver) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, dpopKeyContext{}, p)
}

// prover returns the key that signs the DPoP proofs of a token request
// made with ctx: the Client's DPoPKey, else the Source's key ctx carries,
// else nil (no proof).
func (c *Client) prover(ctx context.Context) *dpopProver {
	if c.dpop != nil || ctx == nil {
		return c.dpop
	}
	p, _ := ctx.Value(dpopKeyContext{}).(*dpopProver)
	return p
}

// newSourceKey generates the DPoP key of a Source: ECDSA on P-256 (ES256).
func newSourceKey() (*dpopProver, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tokenkeeper: generating a DPoP key: %w", err)
	}
	return newDPoPProver(key)
}

// encodeDPoPKey returns the stored form of p's key: PKCS#8, base64.
func encodeDPoPKey(p *dpopProver) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(p.signer.key)
	if err != nil {
		return "", errors.New("tokenkeeper: EncodeToken: the token's DPoP key cannot be stored")
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// decodeDPoPKey reads what encodeDPoPKey wrote. Its error holds no part of
// s.
func decodeDPoPKey(s string) (*dpopProver, error) {
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: the DPoP key is not base64", ErrCorruptStore)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: the DPoP key is not a PKCS #8 private key", ErrCorruptStore)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: the DPoP key cannot sign", ErrCorruptStore)
	}
	p, err := newDPoPProver(signer)
	if err != nil {
		return nil, fmt.Errorf("%w: the DPoP key cannot sign DPoP proofs", ErrCorruptStore)
	}
	// Only the form encodeDPoPKey writes, so that a record written back
	// is the record read.
	if again, err := encodeDPoPKey(p); err != nil || again != s {
		return nil, fmt.Errorf("%w: the DPoP key is not in its stored form", ErrCorruptStore)
	}
	return p, nil
}

// keyMismatch reports whether t has a key of its own that is not the key
// its DPoP-bound access token says it is bound to: the cnf.jkt claim of
// an access token that is a JWT (RFC 9449, section 6.1). Such a token
// cannot pass an API's binding check with the key it came with.
func keyMismatch(t *Token) bool {
	if t.dpop == nil || !strings.EqualFold(t.TokenType, "DPoP") {
		return false
	}
	jkt := boundJKT(t.AccessToken)
	return jkt != "" && jkt != t.dpop.jkt
}

// boundJKT returns the cnf.jkt claim of an access token that is a JWT, or
// "" for an opaque token or a JWT without one. The JWT is not verified:
// the claim only tells which key the token is meant for.
func boundJKT(accessToken string) string {
	header, rest, ok := strings.Cut(accessToken, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || header == "" || strings.Contains(sig, ".") || len(payload) > maxJWTPayload {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return c.Cnf.JKT
}

// maxJWTPayload bounds the payload of an access token read by boundJKT.
const maxJWTPayload = 64 << 10

// withoutForeignAccess returns t, or a copy of it without its access token
// when that token is bound to another key than t's own (keyMismatch): the
// key stored with a token wins, and such an access token is renewed, not
// served.
func withoutForeignAccess(t *Token) *Token {
	if t == nil || !keyMismatch(t) {
		return t
	}
	t = t.clone()
	t.AccessToken = ""
	return t
}
