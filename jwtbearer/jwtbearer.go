// Package jwtbearer signs the assertions of the JWT bearer grant (RFC 7523,
// section 2.1) and makes a tokenkeeper Source log in with a fresh one each
// time (SourceConfig.LoginFunc).
//
// A Signer holds a private key (any crypto.Signer, so the key may live in a
// KMS or an HSM) and the claims the provider wants: iss, sub and aud, with
// extra ones such as Google's scope. Each assertion gets a new random jti,
// iat now and a short exp.
package jwtbearer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenkeeper/tokenkeeper"
)

// Bounds of Config.Lifetime.
const (
	defaultLifetime = 5 * time.Minute
	maxLifetime     = time.Hour
)

// minRSABits is the smallest RSA key accepted.
const minRSABits = 2048

// registered are the claims a Signer sets itself; Config.Claims cannot.
var registered = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// Config describes the assertions a Signer signs. Only Issuer and Audience
// are required; every zero field takes the default given beside it.
type Config struct {
	// Issuer is the assertion's iss: who signs it, such as a service
	// account's client ID or e-mail. Required.
	Issuer string
	// Subject is the assertion's sub: whom the token is for. Empty: the
	// Issuer, as a service account acting for itself.
	Subject string
	// Audience is the assertion's aud: the token endpoint or the issuer
	// URL, as the provider asks. Required.
	Audience string
	// KeyID is the kid header naming the key registered with the provider.
	// Empty: no kid.
	KeyID string
	// Alg is the signing algorithm. Empty: RS256 for an RSA key, ES256
	// for ECDSA P-256 (ES384, ES512 for P-384, P-521), EdDSA for Ed25519.
	// An RSA key may also sign RS384, RS512, PS256, PS384 or PS512.
	Alg string
	// Lifetime is how long an assertion is valid after it is signed.
	// Zero: 5 minutes. At most an hour.
	Lifetime time.Duration
	// NotBefore adds an nbf claim equal to iat.
	NotBefore bool
	// Claims are extra claims, such as Google's "scope". They are copied
	// and must encode as JSON; they cannot set iss, sub, aud, exp, nbf,
	// iat or jti. Nil: none.
	Claims map[string]any
	// Clock tells the time of iat and exp. Nil: the system clock.
	Clock interface{ Now() time.Time }
}

// Signer signs JWT bearer assertions with one key. Build one with New: the
// zero Signer cannot sign. It is immutable and safe for concurrent use by multiple goroutines. It
// prints (with every fmt verb, and so in slog) its algorithm, kid and
// claims, never its key; encoding/json shows nothing of it.
type Signer struct {
	signer   jose.Signer
	alg      string
	kid      string
	iss      string
	sub      string
	aud      string
	lifetime time.Duration
	nbf      bool
	extra    map[string]json.RawMessage
	clock    interface{ Now() time.Time }
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// New checks cfg and key and returns a Signer: every problem is reported,
// joined in one error. key is an RSA key of at least 2048 bits, an ECDSA
// key on P-256, P-384 or P-521, or an Ed25519 key.
func New(key crypto.Signer, cfg Config) (*Signer, error) {
	s := &Signer{alg: cfg.Alg, kid: cfg.KeyID, iss: cfg.Issuer, sub: cfg.Subject, aud: cfg.Audience,
		lifetime: cfg.Lifetime, nbf: cfg.NotBefore, clock: cfg.Clock}
	if s.sub == "" {
		s.sub = s.iss
	}
	if s.lifetime == 0 {
		s.lifetime = defaultLifetime
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	var errs []error
	if cfg.Issuer == "" {
		errs = append(errs, errors.New("no Issuer"))
	}
	if cfg.Audience == "" {
		errs = append(errs, errors.New("no Audience: the token endpoint or the issuer, as the provider wants"))
	}
	if s.lifetime < time.Second || s.lifetime > maxLifetime {
		errs = append(errs, fmt.Errorf("the Lifetime %v is out of range; want 1s to %v", cfg.Lifetime, maxLifetime))
	}
	extra, err := extraClaims(cfg.Claims)
	if err != nil {
		errs = append(errs, err)
	}
	s.extra = extra
	if err := s.setKey(key); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("jwtbearer: %w", errors.Join(errs...))
	}
	return s, nil
}

// setKey checks that key is usable with s.alg, choosing the algorithm if
// none is set, and makes the JOSE signer.
func (s *Signer) setKey(key crypto.Signer) error {
	if key == nil {
		return errors.New("no key")
	}
	if k, ok := key.Public().(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		return fmt.Errorf("the RSA key has %d bits; want at least %d", k.N.BitLen(), minRSABits)
	}
	opaque := cryptosigner.Opaque(key)
	var algs []string
	for _, a := range opaque.Algs() {
		if !strings.HasPrefix(string(a), "ML-DSA") {
			algs = append(algs, string(a))
		}
	}
	if len(algs) == 0 {
		return fmt.Errorf("the key is a %T; want an RSA, ECDSA or Ed25519 key", key.Public())
	}
	if s.alg == "" {
		s.alg = algs[0]
	}
	if !slices.Contains(algs, s.alg) {
		return fmt.Errorf("the Alg %q does not fit the key; want one of %s", s.alg, strings.Join(algs, ", "))
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if s.kid != "" {
		opts = opts.WithHeader("kid", s.kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(s.alg), Key: opaque}, opts)
	if err != nil {
		return fmt.Errorf("the key cannot sign %s", s.alg)
	}
	s.signer = signer
	return nil
}

// extraClaims returns the JSON encoding of each claim of m.
func extraClaims(m map[string]any) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(m))
	for name, v := range m {
		if slices.Contains(registered, name) {
			return nil, fmt.Errorf("the Claims cannot set %q: the Signer does", name)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("claim %q does not encode as JSON: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// Sign returns a new assertion: a compact JWS with a random jti, iat now
// (whole seconds), exp Lifetime later and, with NotBefore, nbf equal to
// iat. ctx ends the call before signing only: a crypto.Signer takes none.
func (s *Signer) Sign(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("jwtbearer: %w", err)
	}
	now := s.clock.Now().Truncate(time.Second)
	claims := make(map[string]any, len(s.extra)+len(registered))
	for name, v := range s.extra {
		claims[name] = v
	}
	claims["iss"], claims["sub"], claims["aud"] = s.iss, s.sub, s.aud
	claims["jti"] = rand.Text()
	claims["iat"], claims["exp"] = now.Unix(), now.Add(s.lifetime).Unix()
	if s.nbf {
		claims["nbf"] = now.Unix()
	}
	a, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("jwtbearer: signing the assertion: %w", err)
	}
	return a, nil
}

// LoginFunc returns a function for tokenkeeper.SourceConfig.LoginFunc:
// each call signs a new assertion and presents it to client with
// tokenkeeper.JWTBearerGrant and opts (a scope, say); client must not be
// nil. The function is safe for concurrent use. A refusal of the
// provider is the Client's *tokenkeeper.Error, matching
// tokenkeeper.ErrInvalidGrant for a bad assertion.
func (s *Signer) LoginFunc(client *tokenkeeper.Client, opts ...tokenkeeper.GrantOption) func(context.Context) (*tokenkeeper.Token, error) {
	opts = slices.Clone(opts)
	return func(ctx context.Context) (*tokenkeeper.Token, error) {
		a, err := s.Sign(ctx)
		if err != nil {
			return nil, err
		}
		return client.Token(ctx, tokenkeeper.JWTBearerGrant(a, opts...))
	}
}

// Format prints the Signer's algorithm, kid and claims, whatever the verb:
// never its key.
func (s Signer) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "jwtbearer.Signer{alg=%s kid=%q iss=%q sub=%q aud=%q lifetime=%v}",
		s.alg, s.kid, s.iss, s.sub, s.aud, s.lifetime)
}
