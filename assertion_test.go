package tokenkeeper

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Keys of the assertion tests, made once: RSA key generation is slow.
var (
	asRSA, _     = rsa.GenerateKey(rand.Reader, 2048)
	asEC, _      = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, asEd, _   = ed25519.GenerateKey(rand.Reader)
	asOtherEC, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
)

// asAuth0 starts an Auth0 fake provider on a fake clock with the client's
// public key registered (none when pub is nil).
func asAuth0(t *testing.T, pub crypto.PublicKey) (*oauthtest.Clock, *oauthtest.Server) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	return clock, mtProvider(t, oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock, ClientKey: pub})
}

// asClient returns a Client of srv with cfg's authentication settings.
func asClient(t *testing.T, srv *oauthtest.Server, clock *oauthtest.Clock, cfg Config) *Client {
	t.Helper()
	cfg.TokenURL = srv.TokenURL()
	cfg.ClientID = oauthtest.DefaultClientID
	cfg.Clock = clock
	cfg.HTTPClient = srv.Client()
	c, err := New(cfg)
	require.NoError(t, err)
	return c
}

// asLogin is the client credentials grant the Auth0 fake accepts.
var asLogin = ClientCredentialsGrant(Param("audience", oauthtest.DefaultAudience))

func TestPrivateKeyJWTSignsEachRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"RS256", asRSA, ""},
		{"PS256", asRSA, "PS256"},
		{"ES256", asEC, ""},
		{"EdDSA", asEd, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock, srv := asAuth0(t, tc.key.Public())
			c := asClient(t, srv, clock, Config{AuthStyle: AuthJWT, ClientKey: tc.key, AssertionAlg: tc.alg, ClientKeyID: "k1"})
			for range 3 {
				_, err := c.Token(mtCtx(t), asLogin)
				require.NoError(t, err)
			}
			st := srv.Stats()
			assert.Equal(t, 3, st.Logins)
			assert.Zero(t, st.AssertionRefusals)
		})
	}
}

// TestPrivateKeyJWTSourceRenewals shows every renewal of a Source carrying
// a new assertion: a replayed jti would be refused.
func TestPrivateKeyJWTSourceRenewals(t *testing.T) {
	t.Parallel()
	clock, srv := asAuth0(t, asEC.Public())
	c := asClient(t, srv, clock, Config{AuthStyle: AuthJWT, ClientKey: asEC, AssertionAudience: srv.Issuer()})
	s := mtSource(t, c, SourceConfig{Login: asLogin})
	var last string
	for i := range 4 {
		tok, err := s.TokenContext(mtCtx(t))
		require.NoError(t, err, "renewal %d", i)
		assert.NotEqual(t, last, tok.AccessToken, "renewal %d served the old token", i)
		last = tok.AccessToken
		clock.Advance(2 * time.Hour)
	}
	st := srv.Stats()
	assert.Equal(t, 4, st.Logins)
	assert.Zero(t, st.AssertionRefusals)
}

func TestClientSecretJWT(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"", "HS384", "HS512"} {
		t.Run("alg="+alg, func(t *testing.T) {
			t.Parallel()
			clock, srv := asAuth0(t, nil)
			c := asClient(t, srv, clock, Config{AuthStyle: AuthJWT, ClientSecret: oauthtest.DefaultClientSecret, AssertionAlg: alg})
			_, err := c.Token(mtCtx(t), asLogin)
			require.NoError(t, err)
			bad := asClient(t, srv, clock, Config{AuthStyle: AuthJWT, ClientSecret: "not-the-secret"})
			_, err = bad.Token(mtCtx(t), asLogin)
			assert.ErrorIs(t, err, ErrInvalidClient)
		})
	}
}

// asSigned returns an assertion for the fake provider's client, signed by
// key, with claims changed by edit.
func asSigned(t *testing.T, srv *oauthtest.Server, clock *oauthtest.Clock, key crypto.Signer, edit func(*assertionClaims)) string {
	t.Helper()
	s, err := newJWTSigner(key, "", "", "")
	require.NoError(t, err)
	now := clock.Now()
	c := assertionClaims{Iss: oauthtest.DefaultClientID, Sub: oauthtest.DefaultClientID, Aud: srv.TokenURL(),
		Jti: randomString(16), Iat: now.Unix(), Exp: now.Add(time.Minute).Unix()}
	if edit != nil {
		edit(&c)
	}
	a, err := s.sign(c, "")
	require.NoError(t, err)
	return a
}

// TestClientAssertionRefused shows each refusal of the provider as an
// *Error matching ErrInvalidClient, with no secret in its text.
func TestClientAssertionRefused(t *testing.T) {
	t.Parallel()
	clock, srv := asAuth0(t, asEC.Public())
	replayed := asSigned(t, srv, clock, asEC, nil)
	for _, tc := range []struct {
		name      string
		assertion string
	}{
		{"wrong key", asSigned(t, srv, clock, asOtherEC, nil)},
		{"replayed jti", replayed},
		{"expired", asSigned(t, srv, clock, asEC, func(c *assertionClaims) { c.Exp = clock.Now().Add(-time.Second).Unix() })},
		{"wrong audience", asSigned(t, srv, clock, asEC, func(c *assertionClaims) { c.Aud = "https://elsewhere.example" })},
		{"wrong subject", asSigned(t, srv, clock, asEC, func(c *assertionClaims) { c.Sub = "someone" })},
		{"too long", asSigned(t, srv, clock, asEC, func(c *assertionClaims) { c.Exp = clock.Now().Add(time.Hour).Unix() })},
	} {
		c := asClient(t, srv, clock, Config{AuthStyle: AuthJWT,
			ClientAssertion: func(context.Context) (string, error) { return tc.assertion, nil }})
		if tc.name == "replayed jti" {
			_, err := c.Token(mtCtx(t), asLogin)
			require.NoError(t, err, "first use of the assertion")
		}
		_, err := c.Token(mtCtx(t), asLogin)
		var pe *Error
		require.ErrorAs(t, err, &pe, tc.name)
		assert.ErrorIs(t, err, ErrInvalidClient, tc.name)
		assert.Equal(t, 401, pe.StatusCode, tc.name)
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			assert.NotContains(t, text, tc.assertion, tc.name)
		}
	}
	assert.Equal(t, 6, srv.Stats().AssertionRefusals)
}

// TestClientAssertionCallback shows the callback called with the request's
// context, and its failure returned without a request.
func TestClientAssertionCallback(t *testing.T) {
	t.Parallel()
	clock, srv := asAuth0(t, asEd.Public())
	type ctxKey struct{}
	var calls int
	c := asClient(t, srv, clock, Config{AuthStyle: AuthJWT, ClientAssertion: func(ctx context.Context) (string, error) {
		calls++
		if ctx.Value(ctxKey{}) != "request" {
			return "", errors.New("not the request's context")
		}
		return asSigned(t, srv, clock, asEd, nil), nil
	}})
	ctx := context.WithValue(mtCtx(t), ctxKey{}, "request")
	_, err := c.Token(ctx, asLogin)
	require.NoError(t, err)

	kms := errors.New("signing service unavailable")
	failing := asClient(t, srv, clock, Config{AuthStyle: AuthJWT,
		ClientAssertion: func(context.Context) (string, error) { return "", kms }})
	before := srv.Stats().TokenCallsTotal
	_, err = failing.Token(mtCtx(t), asLogin)
	assert.ErrorIs(t, err, kms)
	assert.Equal(t, before, srv.Stats().TokenCallsTotal, "a request was sent without an assertion")
	assert.Equal(t, 1, calls)
}

// TestPrivateKeyJWTSecretRefused shows a provider that registered the
// client's key refusing its secret.
func TestPrivateKeyJWTSecretRefused(t *testing.T) {
	t.Parallel()
	clock, srv := asAuth0(t, asEC.Public())
	c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret})
	_, err := c.Token(mtCtx(t), asLogin)
	assert.ErrorIs(t, err, ErrInvalidClient)
}

func TestAssertionConfig(t *testing.T) {
	t.Parallel()
	noop := func(context.Context) (string, error) { return "a", nil }
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for a valid Config
	}{
		{"rsa default", Config{AuthStyle: AuthJWT, ClientKey: asRSA}, ""},
		{"callback", Config{AuthStyle: AuthJWT, ClientAssertion: noop}, ""},
		{"issuer audience", Config{AuthStyle: AuthJWT, ClientKey: asEC, AssertionAudience: "https://issuer.example/"}, ""},
		{"no key", Config{AuthStyle: AuthJWT}, "needs a ClientKey, a ClientAssertion callback or a ClientSecret"},
		{"key and callback", Config{AuthStyle: AuthJWT, ClientKey: asEC, ClientAssertion: noop}, "both ClientAssertion"},
		{"secret with key", Config{AuthStyle: AuthJWT, ClientKey: asEC, ClientSecret: "s"}, "more than one is set"},
		{"alg mismatch", Config{AuthStyle: AuthJWT, ClientKey: asEC, AssertionAlg: "RS256"}, "does not fit"},
		{"P-384", Config{AuthStyle: AuthJWT, ClientKey: p384}, "want an RSA"},
		{"none", Config{AuthStyle: AuthJWT, ClientKey: asRSA, AssertionAlg: "none"}, "does not fit"},
		{"secret jwt RS256", Config{AuthStyle: AuthJWT, ClientSecret: "s", AssertionAlg: "RS256"}, "does not sign with a client secret"},
		{"secret jwt with callback", Config{AuthStyle: AuthJWT, ClientSecret: "s", ClientAssertion: noop}, "more than one is set"},
		{"key without style", Config{ClientKey: asEC}, "are for AuthJWT"},
		{"bad audience", Config{AuthStyle: AuthJWT, ClientKey: asEC, AssertionAudience: "issuer"}, "AssertionAudience"},
	} {
		tc.cfg.TokenURL, tc.cfg.ClientID = "https://auth.example/token", "c"
		_, err := New(tc.cfg)
		if tc.want == "" {
			assert.NoError(t, err, tc.name)
			continue
		}
		if assert.Error(t, err, tc.name) {
			assert.Contains(t, err.Error(), tc.want, tc.name)
		}
	}
}

// TestAssertionSecretsNeverPrinted shows a Config and a Client with a key
// or a callback printing neither.
func TestAssertionSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	cfg := Config{TokenURL: "https://auth.example/token", ClientID: "c", AuthStyle: AuthJWT, ClientSecret: "hyg-secret-jwt-9X2W"}
	c, err := New(cfg)
	require.NoError(t, err)
	kcfg := Config{TokenURL: "https://auth.example/token", ClientID: "c", AuthStyle: AuthJWT, ClientKey: asEd}
	kc, err := New(kcfg)
	require.NoError(t, err)
	seed := string(asEd.Seed())
	for _, v := range []any{cfg, c, *c, kcfg, kc, *kc} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, "hyg-secret-jwt-9X2W")
			assert.NotContains(t, out, seed)
			assert.False(t, strings.Contains(out, fmt.Sprint(asEd)), "the key printed with %s", verb)
		}
	}
}

func TestJWTBearerGrant(t *testing.T) {
	t.Parallel()
	clock, srv := asAuth0(t, asRSA.Public())
	// No client authentication: the grant's assertion is the client's.
	c := asClient(t, srv, clock, Config{AuthStyle: AuthNone})
	s := mtSource(t, c, SourceConfig{LoginFunc: func(ctx context.Context) (*Token, error) {
		a := asSigned(t, srv, clock, asRSA, func(c *assertionClaims) { c.Sub = oauthtest.DefaultUser })
		return c.Token(ctx, JWTBearerGrant(a, Param("scope", "read")))
	}})
	for i := range 3 {
		tok, err := s.TokenContext(mtCtx(t))
		require.NoError(t, err, "login %d", i)
		assert.Equal(t, "read", tok.Scope)
		clock.Advance(2 * time.Hour)
	}
	assert.Equal(t, 3, srv.Stats().TokenCalls[grantTypeJWT])

	replayed := asSigned(t, srv, clock, asRSA, nil)
	_, err := c.Token(mtCtx(t), JWTBearerGrant(replayed))
	require.NoError(t, err)
	_, err = c.Token(mtCtx(t), JWTBearerGrant(replayed))
	assert.ErrorIs(t, err, ErrInvalidGrant)
	assert.NotContains(t, err.Error(), replayed)

	// With client authentication too: private_key_jwt and the grant.
	pk := asClient(t, srv, clock, Config{AuthStyle: AuthJWT, ClientKey: asRSA})
	_, err = pk.Token(mtCtx(t), JWTBearerGrant(asSigned(t, srv, clock, asRSA, nil)))
	require.NoError(t, err)

	_, err = c.Token(mtCtx(t), JWTBearerGrant(""))
	assert.ErrorContains(t, err, "assertion is empty")
}

// TestPrivateKeyJWTRevoke shows the revocation endpoint authenticating the
// client by assertion too.
func TestPrivateKeyJWTRevoke(t *testing.T) {
	t.Parallel()
	clock, srv := asAuth0(t, asEC.Public())
	cfg := Config{AuthStyle: AuthJWT, ClientKey: asEC, RevocationURL: srv.RevocationURL()}
	c := asClient(t, srv, clock, cfg)
	tok, err := c.Token(mtCtx(t), asLogin)
	require.NoError(t, err)
	require.NoError(t, c.Revoke(mtCtx(t), tok.AccessToken, "access_token"))
	assert.Equal(t, 1, srv.Stats().Revocations)
	assert.Zero(t, srv.Stats().AssertionRefusals)
}
