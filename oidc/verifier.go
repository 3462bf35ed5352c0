// Package oidc validates OpenID Connect id_tokens (OpenID Connect Core
// 1.0, section 3.1.3.7): the signature with a key of the provider's JWKS,
// the algorithm against a pinned list, and the iss, aud, azp, exp, iat and
// nonce claims. It is opt-in, and apart from the tokenkeeper core so that
// only programs that validate id_tokens compile its JOSE dependency.
//
// A Transiteo id_token is the API credential itself; an Auth0 id_token
// says who signed in. Validate either with a Verifier built once per
// provider and client:
//
//	v, err := oidc.NewVerifier(oidc.Config{
//		Issuer:   "https://example.eu.auth0.com/",
//		ClientID: clientID,
//		JWKSURL:  "https://example.eu.auth0.com/.well-known/jwks.json",
//	})
//	...
//	id, err := v.Verify(ctx, tok.IDToken, flow.Nonce)
package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxTokenBytes caps the id_token Verify reads: a larger one is refused
// before it is split or decoded.
const MaxTokenBytes = 16 << 10

// Defaults of Config.
const (
	DefaultIssuedAtLeeway  = time.Minute
	DefaultRefetchInterval = 5 * time.Minute
)

// Config configures a Verifier. Issuer, ClientID and JWKSURL are
// required; the zero value of every other field is documented beside it.
type Config struct {
	// Issuer is the iss the tokens must carry, exactly (Auth0's ends
	// with a slash).
	Issuer string
	// ClientID is the client the tokens are for: aud must hold it and,
	// when aud holds several audiences, azp must be it.
	ClientID string
	// JWKSURL is the provider's JSON Web Key Set (discovery's jwks_uri).
	// It must be https, unless on a loopback host or AllowInsecureHTTP.
	JWKSURL string
	// Algorithms are the signature algorithms accepted, such as "RS256"
	// or "ES256". Empty means RS256 only (OpenID Connect's default).
	// Only asymmetric algorithms: none and the HMAC algorithms are
	// refused by NewVerifier, since the keys come from a public JWKS.
	Algorithms []string
	// ExpiryLeeway is how long after exp a token is still accepted, for
	// clock skew. Zero: none.
	ExpiryLeeway time.Duration
	// IssuedAtLeeway is how far in the future iat may be, for clock
	// skew. Zero means DefaultIssuedAtLeeway; negative means none.
	IssuedAtLeeway time.Duration
	// RefetchInterval spaces the fetches of the JWKS: after a fetch for
	// a token whose kid was unknown (a key rotation), or after a failed
	// fetch, the next waits this long, and unknown kids meanwhile are
	// ErrUnknownKey. Zero means DefaultRefetchInterval.
	RefetchInterval time.Duration
	// HTTPClient fetches the JWKS; nil means http.DefaultClient.
	HTTPClient *http.Client
	// AllowInsecureHTTP allows a plain http JWKSURL on any host.
	AllowInsecureHTTP bool
	// Now is the clock; nil means time.Now. Tests inject a fake one.
	Now func() time.Time
}

// Verifier validates the id_tokens of one provider for one client. It
// caches the provider's keys. A Verifier is safe for concurrent use by
// multiple goroutines.
type Verifier struct {
	issuer, clientID string
	algs             []jose.SignatureAlgorithm
	expLeeway        time.Duration
	iatLeeway        time.Duration
	now              func() time.Time
	keys             *keySet
}

// NewVerifier checks cfg and returns a Verifier. It fetches nothing: the
// key set is fetched by the first Verify.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.JWKSURL == "" {
		return nil, errors.New("oidc: Config.Issuer, ClientID and JWKSURL are required")
	}
	if err := checkURL(cfg.JWKSURL, cfg.AllowInsecureHTTP); err != nil {
		return nil, fmt.Errorf("oidc: Config.JWKSURL: %w", err)
	}
	algs, err := algorithms(cfg.Algorithms)
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		issuer: cfg.Issuer, clientID: cfg.ClientID, algs: algs,
		expLeeway: max(cfg.ExpiryLeeway, 0), iatLeeway: cfg.IssuedAtLeeway, now: cfg.Now,
	}
	if v.iatLeeway == 0 {
		v.iatLeeway = DefaultIssuedAtLeeway
	}
	v.iatLeeway = max(v.iatLeeway, 0)
	if v.now == nil {
		v.now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	interval := cfg.RefetchInterval
	if interval <= 0 {
		interval = DefaultRefetchInterval
	}
	v.keys = &keySet{url: cfg.JWKSURL, client: client, minInterval: interval, now: v.now}
	return v, nil
}

// algorithms returns the pinned list, refusing none, HMAC and unknown
// algorithms.
func algorithms(names []string) ([]jose.SignatureAlgorithm, error) {
	if len(names) == 0 {
		return []jose.SignatureAlgorithm{jose.RS256}, nil
	}
	algs := make([]jose.SignatureAlgorithm, 0, len(names))
	for _, n := range names {
		if algFamily(n) == "" {
			return nil, fmt.Errorf("oidc: Config.Algorithms: %q is not an asymmetric signature algorithm", n)
		}
		algs = append(algs, jose.SignatureAlgorithm(n))
	}
	return algs, nil
}

// IDToken is a validated id_token's claims. It holds no secret; it is a
// plain value, safe for concurrent use.
type IDToken struct {
	Issuer          string
	Subject         string
	Audience        []string
	AuthorizedParty string
	Nonce           string
	Expiry          time.Time
	IssuedAt        time.Time
	// claims is the payload, for Claims.
	claims []byte
}

// Claims decodes every claim of the token into v, as json.Unmarshal does:
// for the provider's own claims (email, name, ...).
func (t *IDToken) Claims(v any) error {
	return json.Unmarshal(t.claims, v)
}

// Verify validates rawIDToken: its size and form, its algorithm, its
// signature with the key of its kid (fetching the key set when the kid is
// new, at a bounded rate), and its claims. nonce is the one sent in the
// authorization request; when empty, the token's nonce is not checked.
// Every error is an *Error that matches one of the Err* reasons with
// errors.Is.
func (v *Verifier) Verify(ctx context.Context, rawIDToken, nonce string) (*IDToken, error) {
	jws, err := parse(rawIDToken, v.algs)
	if err != nil {
		return nil, err
	}
	header := jws.Signatures[0].Header
	key, err := v.keys.key(ctx, header.KeyID)
	if err != nil {
		return nil, err
	}
	if algFamily(header.Algorithm) != family(key.Key) || key.Algorithm != "" && key.Algorithm != header.Algorithm {
		return nil, refuse(ErrAlgorithm, fmt.Sprintf("%s with the key of kid %q", header.Algorithm, key.KeyID), nil)
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, refuse(ErrSignature, "", nil)
	}
	return v.check(payload, nonce)
}

// parse caps and splits the token, and parses it as a compact JWS signed
// with one of algs.
func parse(raw string, algs []jose.SignatureAlgorithm) (*jose.JSONWebSignature, error) {
	if len(raw) > MaxTokenBytes {
		return nil, refuse(ErrMalformed, fmt.Sprintf("longer than %d bytes", MaxTokenBytes), nil)
	}
	if strings.Count(raw, ".") != 2 {
		return nil, refuse(ErrMalformed, "not three dot-separated parts", nil)
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	if err != nil {
		if alg := headerAlg(raw); alg != "" && !slices.Contains(algs, jose.SignatureAlgorithm(alg)) {
			return nil, refuse(ErrAlgorithm, fmt.Sprintf("%q", alg), nil)
		}
		return nil, refuse(ErrMalformed, "", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, refuse(ErrMalformed, "not one signature", nil)
	}
	return jws, nil
}

// headerAlg returns the alg of a compact JWS's header, unverified, or "".
func headerAlg(raw string) string {
	var h struct {
		Alg string `json:"alg"`
	}
	head, _, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil || json.Unmarshal(data, &h) != nil {
		return ""
	}
	return h.Alg
}

// claims are the claims Verify checks.
type claims struct {
	Iss   string       `json:"iss"`
	Sub   string       `json:"sub"`
	Aud   audience     `json:"aud"`
	Azp   string       `json:"azp"`
	Nonce string       `json:"nonce"`
	Exp   *json.Number `json:"exp"`
	Iat   *json.Number `json:"iat"`
}

// audience is aud: one string or an array of them.
type audience []string

func (a *audience) UnmarshalJSON(data []byte) error {
	var one string
	if json.Unmarshal(data, &one) == nil {
		*a = audience{one}
		return nil
	}
	return json.Unmarshal(data, (*[]string)(a))
}

// check validates the claims of a verified payload.
func (v *Verifier) check(payload []byte, nonce string) (*IDToken, error) {
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, refuse(ErrMalformed, "claims", err)
	}
	exp, iat := seconds(c.Exp), seconds(c.Iat)
	now := v.now()
	switch {
	case c.Iss != v.issuer:
		return nil, refuse(ErrIssuer, fmt.Sprintf("%q", c.Iss), nil)
	case !slices.Contains(c.Aud, v.clientID):
		return nil, refuse(ErrAudience, fmt.Sprintf("aud %q", []string(c.Aud)), nil)
	case (len(c.Aud) > 1 || c.Azp != "") && c.Azp != v.clientID:
		return nil, refuse(ErrAudience, fmt.Sprintf("azp %q", c.Azp), nil)
	case exp.IsZero() || !now.Before(exp.Add(v.expLeeway)):
		return nil, refuse(ErrExpired, "exp "+stamp(exp), nil)
	case iat.IsZero() || iat.After(now.Add(v.iatLeeway)):
		return nil, refuse(ErrIssuedAt, "iat "+stamp(iat), nil)
	case nonce != "" && subtle.ConstantTimeCompare([]byte(nonce), []byte(c.Nonce)) != 1:
		return nil, refuse(ErrNonce, "", nil)
	}
	return &IDToken{
		Issuer: c.Iss, Subject: c.Sub, Audience: c.Aud, AuthorizedParty: c.Azp,
		Nonce: c.Nonce, Expiry: exp, IssuedAt: iat, claims: payload,
	}, nil
}

// seconds is a NumericDate claim as a time; zero when missing or absurd.
func seconds(n *json.Number) time.Time {
	if n == nil {
		return time.Time{}
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1<<40 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "missing"
	}
	return t.UTC().Format(time.RFC3339)
}

func checkURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return err
	case !u.IsAbs() || u.Host == "" || u.User != nil:
		return fmt.Errorf("%q is not an absolute URL", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (insecure || loopback(u.Hostname())):
		return nil
	}
	return fmt.Errorf("%q is not https", raw)
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
}
