package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
	"github.com/tokenkeeper/tokenkeeper/oidc"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is an Auth0 fake on a fake clock, and a Verifier that counts
// its fetches of the fake's JWKS.
type fixture struct {
	srv     *oauthtest.Server
	clock   *oauthtest.Clock
	v       *oidc.Verifier
	fetches atomic.Int32
}

// countJWKS counts the requests for the JWKS before passing them on.
type countJWKS struct {
	base http.RoundTripper
	n    *atomic.Int32
	path string
}

func (c countJWKS) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == c.path {
		c.n.Add(1)
	}
	return c.base.RoundTrip(r)
}

func newFixture(t *testing.T, edit func(*oidc.Config)) *fixture {
	t.Helper()
	f := &fixture{clock: oauthtest.NewClock(start)}
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	f.srv = srv
	base := srv.Client()
	client := &http.Client{Transport: countJWKS{base: base.Transport, n: &f.fetches, path: "/.well-known/jwks.json"}}
	cfg := oidc.Config{
		Issuer: srv.Issuer(), ClientID: oauthtest.DefaultClientID, JWKSURL: srv.JWKSURL(),
		Algorithms: []string{"ES256"}, HTTPClient: client, Now: f.clock.Now,
		RefetchInterval: time.Minute,
	}
	if edit != nil {
		edit(&cfg)
	}
	f.v, err = oidc.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// claims are valid claims for the fake's client, at the clock's time.
func (f *fixture) claims() map[string]any {
	now := f.clock.Now()
	return map[string]any{
		"iss": f.srv.Issuer(), "sub": "alice", "aud": oauthtest.DefaultClientID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": "n-0S6_WzA2Mj",
		"email": "alice@example.com",
	}
}

func (f *fixture) sign(edit func(map[string]any)) string {
	c := f.claims()
	if edit != nil {
		edit(c)
	}
	return f.srv.SignIDToken(c)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestVerifyValid(t *testing.T) {
	f := newFixture(t, nil)
	id, err := f.v.Verify(ctx(t), f.sign(nil), "n-0S6_WzA2Mj")
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "alice" || id.Issuer != f.srv.Issuer() || !id.Expiry.Equal(start.Add(time.Hour)) || !id.IssuedAt.Equal(start) {
		t.Fatalf("claims: %+v", id)
	}
	var extra struct {
		Email string `json:"email"`
	}
	if err := id.Claims(&extra); err != nil || extra.Email != "alice@example.com" {
		t.Fatalf("Claims: %v %q", err, extra.Email)
	}
	if f.fetches.Load() != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", f.fetches.Load())
	}
}

// Each claim that OpenID Connect Core 3.1.3.7 checks refuses the token
// with its own reason; the leeways for exp and iat are separate.
func TestVerifyClaims(t *testing.T) {
	f := newFixture(t, func(c *oidc.Config) { c.ExpiryLeeway = 30 * time.Second; c.IssuedAtLeeway = 10 * time.Second })
	now := f.clock.Now()
	cases := []struct {
		name  string
		edit  func(map[string]any)
		nonce string
		want  error
	}{
		{"issuer", func(c map[string]any) { c["iss"] = "https://evil.example/" }, "", oidc.ErrIssuer},
		{"no issuer", func(c map[string]any) { delete(c, "iss") }, "", oidc.ErrIssuer},
		{"audience", func(c map[string]any) { c["aud"] = "other" }, "", oidc.ErrAudience},
		{"audiences without azp", func(c map[string]any) { c["aud"] = []string{"other", oauthtest.DefaultClientID} }, "", oidc.ErrAudience},
		{"azp of another", func(c map[string]any) { c["azp"] = "other" }, "", oidc.ErrAudience},
		{"audiences with azp", func(c map[string]any) {
			c["aud"] = []string{"other", oauthtest.DefaultClientID}
			c["azp"] = oauthtest.DefaultClientID
		}, "", nil},
		{"nonce", nil, "another nonce", oidc.ErrNonce},
		{"no nonce in token", func(c map[string]any) { delete(c, "nonce") }, "n-0S6_WzA2Mj", oidc.ErrNonce},
		{"nonce not asked", nil, "", nil},
		{"expired", func(c map[string]any) { c["exp"] = now.Add(-31 * time.Second).Unix() }, "", oidc.ErrExpired},
		{"expired within leeway", func(c map[string]any) { c["exp"] = now.Add(-29 * time.Second).Unix() }, "", nil},
		{"no exp", func(c map[string]any) { delete(c, "exp") }, "", oidc.ErrExpired},
		{"iat in future", func(c map[string]any) { c["iat"] = now.Add(11 * time.Second).Unix() }, "", oidc.ErrIssuedAt},
		{"iat within leeway", func(c map[string]any) { c["iat"] = now.Add(9 * time.Second).Unix() }, "", nil},
		{"no iat", func(c map[string]any) { delete(c, "iat") }, "", oidc.ErrIssuedAt},
		{"claims not an object", func(c map[string]any) { c["aud"] = map[string]int{"x": 1} }, "", oidc.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.v.Verify(ctx(t), f.sign(tc.edit), tc.nonce)
			checkReason(t, err, tc.want)
		})
	}
}

func checkReason(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var e *oidc.Error
	if !errors.As(err, &e) || !errors.Is(err, want) {
		t.Fatalf("err = %v, want an *oidc.Error for %v", err, want)
	}
}

// Tokens that are not signed, signed with an algorithm not pinned, with a
// key that does not fit, or altered, are refused before their claims are
// read.
func TestVerifySignature(t *testing.T) {
	f := newFixture(t, func(c *oidc.Config) { c.Algorithms = []string{"ES256", "RS256"} })
	good := f.sign(nil)
	head, rest, _ := strings.Cut(good, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	kid := headerKid(t, head)
	enc := base64.RawURLEncoding.EncodeToString
	cases := []struct {
		name, token string
		want        error
	}{
		{"none", enc([]byte(`{"alg":"none"}`)) + "." + payload + ".", oidc.ErrAlgorithm},
		{"HS256", enc([]byte(`{"alg":"HS256","kid":"`+kid+`"}`)) + "." + payload + "." + sig, oidc.ErrAlgorithm},
		{"ES384 not pinned", enc([]byte(`{"alg":"ES384","kid":"`+kid+`"}`)) + "." + payload + "." + sig, oidc.ErrAlgorithm},
		{"RS256 with an EC key", enc([]byte(`{"alg":"RS256","kid":"`+kid+`"}`)) + "." + payload + "." + sig, oidc.ErrAlgorithm},
		{"tampered signature", head + "." + payload + "." + flip(sig), oidc.ErrSignature},
		{"tampered claims", head + "." + enc([]byte(`{"iss":"x"}`)) + "." + sig, oidc.ErrSignature},
		{"two parts", head + "." + payload, oidc.ErrMalformed},
		{"a million dots", strings.Repeat(".", 1_000_000), oidc.ErrMalformed},
		{"empty", "", oidc.ErrMalformed},
		{"header not JSON", enc([]byte("{")) + "." + payload + "." + sig, oidc.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.v.Verify(ctx(t), tc.token, "")
			checkReason(t, err, tc.want)
			if err != nil && strings.Contains(err.Error(), payload) {
				t.Fatalf("the error prints the token: %v", err)
			}
		})
	}
}

func headerKid(t *testing.T, head string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(head+".e30.AA", []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Header.KeyID
}

// flip changes the first character of a base64url string.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

// A rotated key is fetched once, when the first token signed with it
// arrives; the next tokens use the cache.
func TestVerifyKeyRotation(t *testing.T) {
	f := newFixture(t, nil)
	if _, err := f.v.Verify(ctx(t), f.sign(nil), ""); err != nil {
		t.Fatal(err)
	}
	f.srv.RotateSigningKey()
	for range 3 {
		if _, err := f.v.Verify(ctx(t), f.sign(nil), ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.fetches.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", n)
	}
}

// Unknown kids fetch the key set again at most once per RefetchInterval.
func TestVerifyRefetchRate(t *testing.T) {
	f := newFixture(t, nil)
	stranger := strangerToken(t, f.claims())
	steps := []struct {
		advance time.Duration
		token   string
		want    error
		fetches int32
	}{
		{0, f.sign(nil), nil, 1},
		{0, stranger, oidc.ErrUnknownKey, 2},
		{0, stranger, oidc.ErrUnknownKey, 2},
		{59 * time.Second, stranger, oidc.ErrUnknownKey, 2},
		{time.Second, stranger, oidc.ErrUnknownKey, 3},
		{0, f.sign(nil), nil, 3},
	}
	for i, s := range steps {
		f.clock.Advance(s.advance)
		_, err := f.v.Verify(ctx(t), s.token, "")
		checkReason(t, err, s.want)
		if n := f.fetches.Load(); n != s.fetches {
			t.Fatalf("step %d: JWKS fetched %d times, want %d", i, n, s.fetches)
		}
	}
}

// strangerToken signs claims with a key the provider never published.
func strangerToken(t *testing.T, claims map[string]any) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "stranger"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Many callers at once on a new Verifier share one fetch of the key set.
func TestVerifyOneFlight(t *testing.T) {
	f := newFixture(t, nil)
	token := f.sign(nil)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := f.v.Verify(ctx(t), token, "")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
}

// A key set that cannot be fetched is ErrKeySet, and counts against the
// refetch rate.
func TestVerifyKeySetDown(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.FailNext(1, http.StatusServiceUnavailable)
	_, err := f.v.Verify(ctx(t), f.sign(nil), "")
	checkReason(t, err, oidc.ErrKeySet)
	_, err = f.v.Verify(ctx(t), f.sign(nil), "")
	checkReason(t, err, oidc.ErrUnknownKey)
	f.clock.Advance(time.Minute)
	_, err = f.v.Verify(ctx(t), f.sign(nil), "")
	checkReason(t, err, nil)
}

func TestNewVerifierRefuses(t *testing.T) {
	ok := oidc.Config{Issuer: "https://op.example/", ClientID: "c", JWKSURL: "https://op.example/jwks"}
	cases := map[string]func(*oidc.Config){
		"none":          func(c *oidc.Config) { c.Algorithms = []string{"none"} },
		"HS256":         func(c *oidc.Config) { c.Algorithms = []string{"RS256", "HS256"} },
		"unknown alg":   func(c *oidc.Config) { c.Algorithms = []string{"XX1"} },
		"plain http":    func(c *oidc.Config) { c.JWKSURL = "http://op.example/jwks" },
		"no issuer":     func(c *oidc.Config) { c.Issuer = "" },
		"no client":     func(c *oidc.Config) { c.ClientID = "" },
		"relative JWKS": func(c *oidc.Config) { c.JWKSURL = "/jwks" },
	}
	for name, edit := range cases {
		cfg := ok
		edit(&cfg)
		if _, err := oidc.NewVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := oidc.NewVerifier(ok); err != nil {
		t.Fatal(err)
	}
}
