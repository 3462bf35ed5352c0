package jwtbearer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/jwtbearer"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

const grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// decode returns the header and the claims of a compact JWS, unverified.
func decode(t *testing.T, jws string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("assertion has %d parts; want 3", len(parts))
	}
	for i, out := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// TestSourceLogsInWithFreshAssertions shows a Source whose login is the
// Signer's LoginFunc renewing its token over three expiries, each login
// with a new assertion: the fake refuses a jti it has seen.
func TestSourceLogsInWithFreshAssertions(t *testing.T) {
	t.Parallel()
	clock, srv := provider(t, ecKey().Public())
	c := client(t, srv, clock)
	s := signer(t, srv, clock, ecKey(), nil)
	src, err := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{
		LoginFunc: s.LoginFunc(c, tokenkeeper.Param("scope", "read")),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	var last string
	for i := range 4 {
		tok, err := src.TokenContext(testCtx(t))
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if tok.AccessToken == last {
			t.Fatalf("login %d served the previous token", i)
		}
		last = tok.AccessToken
		if tok.Scope != "read" {
			t.Errorf("Scope = %q; want %q", tok.Scope, "read")
		}
		clock.Advance(2 * time.Hour)
	}
	st := srv.Stats()
	if got := st.TokenCalls[grantJWTBearer]; got != 4 {
		t.Errorf("JWT bearer grants = %d; want 4", got)
	}
	if st.Logins != 4 {
		t.Errorf("Logins = %d; want 4", st.Logins)
	}
}

// TestKeys shows each kind of key accepted by the provider, with the
// default algorithm and the kid in the header.
func TestKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, alg string
		key       func() crypto.Signer
	}{
		{"RSA", "", rsaKey},
		{"RSA-PS256", "PS256", rsaKey},
		{"ECDSA-P256", "", ecKey},
		{"Ed25519", "", edKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock, srv := provider(t, tc.key().Public())
			s := signer(t, srv, clock, tc.key(), func(cfg *jwtbearer.Config) { cfg.Alg = tc.alg })
			a, err := s.Sign(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			header, claims := decode(t, a)
			want := map[string]string{"RSA": "RS256", "RSA-PS256": "PS256", "ECDSA-P256": "ES256", "Ed25519": "EdDSA"}[tc.name]
			if header["alg"] != want || header["kid"] != "key-1" || header["typ"] != "JWT" {
				t.Errorf("header = %v; want alg %s, kid key-1, typ JWT", header, want)
			}
			if claims["iss"] != oauthtest.DefaultClientID || claims["sub"] != oauthtest.DefaultUser || claims["aud"] != srv.TokenURL() {
				t.Errorf("claims = %v; want iss, sub, aud of the fake", claims)
			}
			if claims["iat"] != float64(t0.Unix()) || claims["exp"] != float64(t0.Add(5*time.Minute).Unix()) {
				t.Errorf("iat, exp = %v, %v; want %d, %d", claims["iat"], claims["exp"], t0.Unix(), t0.Add(5*time.Minute).Unix())
			}
			if _, ok := claims["nbf"]; ok {
				t.Errorf("nbf = %v; want none without NotBefore", claims["nbf"])
			}
			c := client(t, srv, clock)
			if _, err := c.Token(testCtx(t), tokenkeeper.JWTBearerGrant(a)); err != nil {
				t.Fatalf("Token: %v", err)
			}
		})
	}
}

// TestClaims shows NotBefore, a Lifetime, extra claims and a Subject that
// defaults to the Issuer, and two assertions never sharing a jti.
func TestClaims(t *testing.T) {
	t.Parallel()
	clock, srv := provider(t, edKey().Public())
	s := signer(t, srv, clock, edKey(), func(cfg *jwtbearer.Config) {
		cfg.Subject = ""
		cfg.NotBefore = true
		cfg.Lifetime = time.Minute
		cfg.Claims = map[string]any{"scope": "read write"}
	})
	a1, err := s.Sign(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	a2, err := s.Sign(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	_, c1 := decode(t, a1)
	_, c2 := decode(t, a2)
	if c1["jti"] == c2["jti"] || c1["jti"] == "" {
		t.Errorf("jti = %v and %v; want two different ones", c1["jti"], c2["jti"])
	}
	if c1["sub"] != oauthtest.DefaultClientID || c1["scope"] != "read write" || c1["nbf"] != c1["iat"] {
		t.Errorf("claims = %v; want sub the issuer, scope, nbf = iat", c1)
	}
	if c1["exp"] != float64(t0.Add(time.Minute).Unix()) {
		t.Errorf("exp = %v; want %d", c1["exp"], t0.Add(time.Minute).Unix())
	}
	// sub the client itself: the fake issues the client's own token.
	if _, err := client(t, srv, clock).Token(testCtx(t), tokenkeeper.JWTBearerGrant(a1)); err != nil {
		t.Fatalf("Token: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Sign(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Sign with a canceled context = %v; want context.Canceled", err)
	}
}

// TestRefused shows the provider's refusals as a *tokenkeeper.Error
// matching ErrInvalidGrant: a key it does not know, an assertion expired
// or issued in the future on its clock, an unknown subject, another
// audience.
func TestRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  func() crypto.Signer
		skew time.Duration // the signer's clock minus the server's
		edit func(*jwtbearer.Config)
		want string
	}{
		{"wrong key", otherECKey, 0, nil, "signature"},
		{"expired", ecKey, -6 * time.Minute, nil, "expired"},
		{"iat in the future", ecKey, time.Minute, nil, "iat"},
		{"unknown user", ecKey, 0, func(c *jwtbearer.Config) { c.Subject = "nobody" }, "not a known user"},
		{"wrong audience", ecKey, 0, func(c *jwtbearer.Config) { c.Audience = "https://elsewhere.example" }, "aud"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock, srv := provider(t, ecKey().Public())
			own := oauthtest.NewClock(t0.Add(tc.skew))
			s := signer(t, srv, own, tc.key(), func(cfg *jwtbearer.Config) {
				cfg.Clock = own
				if tc.edit != nil {
					tc.edit(cfg)
				}
			})
			_, err := s.LoginFunc(client(t, srv, clock))(testCtx(t))
			if !errors.Is(err, tokenkeeper.ErrInvalidGrant) {
				t.Fatalf("err = %v; want ErrInvalidGrant", err)
			}
			var pe *tokenkeeper.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %T; want a *tokenkeeper.Error", err)
			}
			if !strings.Contains(pe.Message, tc.want) {
				t.Errorf("Message = %q; want it to contain %q", pe.Message, tc.want)
			}
		})
	}
}

// TestNewRefuses shows each configuration New refuses, with its reason.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ok := jwtbearer.Config{Issuer: "svc", Audience: "https://auth.example/token"}
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		edit func(*jwtbearer.Config)
		want string
	}{
		{"no key", nil, nil, "no key"},
		{"no issuer", ecKey(), func(c *jwtbearer.Config) { c.Issuer = "" }, "no Issuer"},
		{"no audience", ecKey(), func(c *jwtbearer.Config) { c.Audience = "" }, "no Audience"},
		{"negative lifetime", ecKey(), func(c *jwtbearer.Config) { c.Lifetime = -time.Minute }, "Lifetime -1m0s is out of range"},
		{"long lifetime", ecKey(), func(c *jwtbearer.Config) { c.Lifetime = 2 * time.Hour }, "out of range"},
		{"alg for another key", ecKey(), func(c *jwtbearer.Config) { c.Alg = "RS256" }, `Alg "RS256" does not fit the key; want one of ES256`},
		{"HMAC alg", rsaKey(), func(c *jwtbearer.Config) { c.Alg = "HS256" }, `Alg "HS256" does not fit`},
		{"none alg", edKey(), func(c *jwtbearer.Config) { c.Alg = "none" }, `Alg "none" does not fit`},
		{"weak RSA key", weak, nil, "1024 bits"},
		{"P-224 key", p224, nil, "want an RSA, ECDSA or Ed25519 key"},
		{"registered claim", ecKey(), func(c *jwtbearer.Config) { c.Claims = map[string]any{"exp": 1} }, `cannot set "exp"`},
		{"claim not JSON", ecKey(), func(c *jwtbearer.Config) { c.Claims = map[string]any{"f": func() {}} }, `claim "f" does not encode`},
	} {
		cfg := ok
		if tc.edit != nil {
			tc.edit(&cfg)
		}
		_, err := jwtbearer.New(tc.key, cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "jwtbearer: ") {
			t.Errorf("%s: New = %v; want a jwtbearer error containing %q", tc.name, err, tc.want)
		}
	}
	_, err = jwtbearer.New(nil, jwtbearer.Config{Lifetime: -1})
	for _, want := range []string{"no key", "no Issuer", "no Audience", "Lifetime"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(nil, Config{}) = %v; want every problem, %q among them", err, want)
		}
	}
}

// TestConcurrentSign signs from many goroutines at once: every assertion
// gets its own jti.
func TestConcurrentSign(t *testing.T) {
	t.Parallel()
	clock, srv := provider(t, edKey().Public())
	s := signer(t, srv, clock, edKey(), nil)
	const callers, each = 8, 20
	assertions := make(chan string, callers*each)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range each {
				a, err := s.Sign(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				assertions <- a
			}
		})
	}
	wg.Wait()
	close(assertions)
	seen := map[any]bool{}
	for a := range assertions {
		_, claims := decode(t, a)
		if seen[claims["jti"]] {
			t.Fatalf("jti %v given twice", claims["jti"])
		}
		seen[claims["jti"]] = true
	}
	if len(seen) != callers*each {
		t.Errorf("%d assertions; want %d", len(seen), callers*each)
	}
}
