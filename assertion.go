package tokenkeeper

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"time"
)

// This file signs JSON Web Tokens for client authentication (RFC 7523,
// section 2.2; OpenID Connect Core, section 9) and for the JWT bearer
// grant (RFC 7523, section 2.1). It only signs, with the standard library:
// it never parses a token it did not make.

// Client assertion type and JWT bearer grant type of RFC 7523.
const (
	assertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	grantTypeJWT     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// assertionLifetime is how long a client assertion is valid after it is
// signed: one request's worth, with room for clocks a little apart.
const assertionLifetime = time.Minute

// jwtSigner signs JWTs with one key and algorithm. It is immutable and safe
// for concurrent use.
type jwtSigner struct {
	alg    string
	kid    string
	key    crypto.Signer // nil for HMAC
	secret []byte        // HMAC key, for client_secret_jwt
	jwk    []byte        // public JWK sent in the header (DPoP proofs), or nil
}

// newJWTSigner checks that alg fits key (or, with key nil, the HMAC
// secret) and returns the signer. An empty alg is chosen from the key:
// RS256, ES256 (P-256), EdDSA (Ed25519), or HS256 for a secret.
func newJWTSigner(key crypto.Signer, secret, alg, kid string) (*jwtSigner, error) {
	s := &jwtSigner{alg: alg, kid: kid, key: key}
	if key == nil {
		if secret == "" {
			return nil, errors.New("no ClientSecret to sign the client assertion with")
		}
		s.secret = []byte(secret)
		if s.alg == "" {
			s.alg = "HS256"
		}
		if hmacHash(s.alg) == nil {
			return nil, fmt.Errorf("AssertionAlg %q does not sign with a client secret; want HS256, HS384 or HS512", alg)
		}
		return s, nil
	}
	want := keyAlgs(key.Public())
	if len(want) == 0 {
		return nil, fmt.Errorf("ClientKey is a %T; want an RSA, ECDSA P-256 or Ed25519 key", key.Public())
	}
	if s.alg == "" {
		s.alg = want[0]
	}
	for _, a := range want {
		if a == s.alg {
			return s, nil
		}
	}
	return nil, fmt.Errorf("AssertionAlg %q does not fit a %s key; want one of %s", alg, keyKind(key.Public()), strings.Join(want, ", "))
}

// keyAlgs returns the algorithms a public key signs with, the default
// first.
func keyAlgs(pub crypto.PublicKey) []string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return []string{"ES256"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// keyKind names the type of a public key, for errors.
func keyKind(pub crypto.PublicKey) string {
	switch pub.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
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

// digest returns the hash an asymmetric algorithm signs.
func digest(alg string) crypto.Hash {
	switch alg {
	case "RS384", "PS384":
		return crypto.SHA384
	case "RS512", "PS512":
		return crypto.SHA512
	case "EdDSA":
		return 0 // Ed25519 signs the message itself
	}
	return crypto.SHA256
}

// sign returns the compact JWS of claims, with header typ (if any).
func (s *jwtSigner) sign(claims any, typ string) (string, error) {
	header := struct {
		Alg string          `json:"alg"`
		Typ string          `json:"typ,omitempty"`
		Kid string          `json:"kid,omitempty"`
		JWK json.RawMessage `json:"jwk,omitempty"`
	}{s.alg, typ, s.kid, s.jwk}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	sig, err := s.signature([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + enc.EncodeToString(sig), nil
}

// signature signs input with the key and algorithm.
func (s *jwtSigner) signature(input []byte) ([]byte, error) {
	if s.key == nil {
		m := hmac.New(hmacHash(s.alg), s.secret)
		m.Write(input)
		return m.Sum(nil), nil
	}
	h := digest(s.alg)
	msg := input
	if h != 0 {
		d := h.New()
		d.Write(input)
		msg = d.Sum(nil)
	}
	var opts crypto.SignerOpts = h
	if strings.HasPrefix(s.alg, "PS") {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	sig, err := s.key.Sign(rand.Reader, msg, opts)
	if err != nil {
		return nil, err
	}
	if s.alg == "ES256" {
		return fixedECDSA(sig, 32)
	}
	return sig, nil
}

// fixedECDSA turns the ASN.1 signature a crypto.Signer returns into the
// r||s form of JWS (RFC 7518, section 3.4), each on size bytes.
func fixedECDSA(der []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
		return nil, errors.New("the ECDSA signer returned a malformed signature")
	}
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > size*8 || rs.S.BitLen() > size*8 {
		return nil, errors.New("the ECDSA signer returned a signature out of range")
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}

// assertionClaims are the claims of a client assertion or of a JWT bearer
// grant's assertion (RFC 7523, section 3).
type assertionClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Aud string `json:"aud"`
	Jti string `json:"jti"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

// clientAssertion returns the client_assertion of one token request: the
// callback's, or one signed here with a fresh jti.
func (c *Client) clientAssertion(ctx context.Context) (string, error) {
	if c.assertionFunc != nil {
		a, err := c.assertionFunc(ctx)
		if err != nil {
			return "", fmt.Errorf("tokenkeeper: client assertion: %w", err)
		}
		if a == "" {
			return "", errors.New("tokenkeeper: client assertion: the ClientAssertion callback returned an empty assertion")
		}
		return a, nil
	}
	now := c.now()
	a, err := c.signer.sign(assertionClaims{
		Iss: c.clientID, Sub: c.clientID, Aud: c.assertionAud,
		Jti: randomString(16), Iat: now.Unix(), Exp: now.Add(assertionLifetime).Unix(),
	}, "")
	if err != nil {
		return "", fmt.Errorf("tokenkeeper: signing the client assertion: %w", err)
	}
	return a, nil
}

// assertionSigner returns the signer of client assertions (nil with a
// ClientAssertion callback, or for the styles without assertions), and
// every problem of c's assertion settings.
func (c Config) assertionSigner() (*jwtSigner, []error) {
	if c.AuthStyle != AuthJWT {
		if c.ClientKey != nil || c.ClientAssertion != nil || c.AssertionAlg != "" || c.AssertionAudience != "" {
			return nil, []error{fmt.Errorf("ClientKey, ClientAssertion, AssertionAlg and AssertionAudience are for AuthJWT, not AuthStyle %s", c.AuthStyle.name())}
		}
		return nil, nil
	}
	var errs []error
	if c.AssertionAudience != "" {
		if _, err := checkEndpoint("AssertionAudience", c.AssertionAudience, true); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.assertionConflict(); err != nil {
		return nil, append(errs, err)
	}
	if c.ClientAssertion != nil {
		return nil, errs
	}
	s, err := newJWTSigner(c.ClientKey, c.ClientSecret, c.AssertionAlg, c.ClientKeyID)
	if err != nil {
		errs = append(errs, err)
	}
	return s, errs
}

// assertionConflict reports settings of c, whose AuthStyle is AuthJWT,
// that contradict each other.
func (c Config) assertionConflict() error {
	switch {
	case c.ClientSecret != "" && (c.ClientKey != nil || c.ClientAssertion != nil):
		return errors.New("AuthJWT signs with one of ClientKey, ClientAssertion or ClientSecret: more than one is set")
	case c.ClientAssertion != nil && (c.ClientKey != nil || c.AssertionAlg != ""):
		return errors.New("both ClientAssertion and ClientKey (or AssertionAlg) are set")
	case c.ClientKey == nil && c.ClientAssertion == nil && c.ClientSecret == "":
		return errors.New("AuthJWT needs a ClientKey, a ClientAssertion callback or a ClientSecret")
	}
	return nil
}

// style returns the AuthStyle a Client built from c uses: AuthJWT with
// only a ClientSecret signs by HMAC.
func (c Config) style() AuthStyle {
	if c.AuthStyle == AuthJWT && c.ClientKey == nil && c.ClientAssertion == nil && c.ClientSecret != "" {
		return authSecretJWT
	}
	return c.AuthStyle
}
