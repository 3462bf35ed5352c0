package interop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/jwtbearer"
)

// The provider checks a JWT of client authentication and of the JWT bearer
// grant alike (op.VerifyJWTAssertion): aud must hold its issuer, iss and
// sub must be equal, and the header's kid and the iss name the key
// (GetKeyByIDAndClientID). It accepts RS256, ES256 and PS256.
//
// It takes private_key_jwt on the code exchange and the refresh grant
// only: its client credentials grant hands client_id and client_secret to
// the storage (op.AuthorizeClientCredentialsClient) and never looks at a
// client assertion. So the private_key_jwt client logs in with the code
// flow and is kept valid by refreshing.

// renewals is how many expiries the assertion tests span.
const renewals = 2

// The grant type of the JWT bearer grant (RFC 7523, section 2.1).
const grantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// bearerIssuer is the iss and sub of the JWT bearer grant's assertions:
// the example storage's service user.
const bearerIssuer = storage.ServiceUserID

// TestPrivateKeyJWT logs the private_key_jwt client in with the code flow,
// then keeps its token valid by refreshing over two expiries: once with an
// ECDSA key that tokenkeeper signs with, once with an assertion callback
// that signs with an RSA key elsewhere.
func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	t.Run("ClientKey", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowKeyJWT, tk)
		p := startOP(t)
		key := newECKey(t)
		p.registerKey(keyClientID, "ec-1", key.Public())
		cfg := keyClientConfig(t, p)
		cfg.ClientKey, cfg.ClientKeyID = key, "ec-1"
		keepRefreshed(t, c, p, cfg)
	})
	t.Run("ClientAssertion", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowKeyJWTFunc, tk)
		p := startOP(t)
		key := newRSAKey(t)
		p.registerKey(keyClientID, "rsa-1", key.Public())
		cfg := keyClientConfig(t, p)
		cfg.ClientAssertion = func(context.Context) (string, error) {
			return signRS256(key, "rsa-1", newClaims(keyClientID, p.Issuer))
		}
		keepRefreshed(t, c, p, cfg)
	})
	t.Run("x-oauth2", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowKeyJWT, xo)
		p := startOP(t)
		key := newRSAKey(t)
		p.registerKey(keyClientID, "rsa-1", key.Public())
		xRefreshWithoutAssertion(t, c, p, key, "rsa-1")
	})
}

// xRefreshWithoutAssertion shows what x/oauth2 can do for a private_key_jwt
// client: its code exchange takes an assertion made by hand as extra
// parameters, but its TokenSource refreshes with none.
func xRefreshWithoutAssertion(t *testing.T, c *cell, p *provider, key *rsa.PrivateKey, kid string) {
	t.Helper()
	ctx := xContext(t, 20*time.Second)
	cfg := p.xConfig(keyClientID, "", webRedirect, oauth2.AuthStyleInParams)
	verifier := oauth2.GenerateVerifier()
	q := p.authorize(t, cfg.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier)), webRedirect)
	a, err := signRS256(key, kid, newClaims(keyClientID, p.Issuer))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier),
		oauth2.SetAuthURLParam("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
		oauth2.SetAuthURLParam("client_assertion", a))
	if err != nil {
		t.Fatalf("code exchange with an assertion made by hand: %v", err)
	}
	tok.Expiry = time.Now().Add(-time.Second) // refresh at once
	_, err = cfg.TokenSource(ctx, tok).Token()
	sent := onlyExchange(t, p, "refresh_token")
	if err == nil || sent.Assertion != "" || sent.Status == 200 {
		t.Fatalf("refresh: error %v, assertion sent %v, status %d; want an error, false, not 200", err, sent.Assertion != "", sent.Status)
	}
	c.gapf("a code exchange takes an assertion made by hand as extra parameters; its TokenSource refreshes with none, and the provider answers %d %s",
		sent.Status, sent.Answer.Error)
}

// keyClientConfig returns the Config of the private_key_jwt client, with
// no key yet. The provider wants its issuer as the assertion's audience.
func keyClientConfig(t *testing.T, p *provider) tokenkeeper.Config {
	t.Helper()
	return tokenkeeper.Config{
		TokenURL:          p.TokenURL,
		AuthURL:           p.AuthURL,
		ClientID:          keyClientID,
		AuthStyle:         tokenkeeper.AuthJWT,
		AssertionAudience: p.Issuer,
		HTTPClient:        newHTTPClient(t),
	}
}

// keepRefreshed logs in with cfg, then asks a Source for a token every half
// second until it has refreshed over renewals expiries. Every token served
// must be unexpired, every request must carry a new client assertion and no
// secret.
func keepRefreshed(t *testing.T, c *cell, p *provider, cfg tokenkeeper.Config) {
	t.Helper()
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		t.Fatalf("tokenkeeper.New: %v", err)
	}
	seed := p.codeLogin(t, client)
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{Token: seed})
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	refreshed := spanned(func() bool { return len(p.wire.exchanges("refresh_token")) >= renewals })
	pollUntil(t, refreshed, func(ctx context.Context) error { return unexpired(src.TokenContext(ctx)) })
	tok, err := src.TokenContext(testContext(t, 10*time.Second))
	if err != nil {
		t.Fatalf("TokenContext: %v", err)
	}
	if sub := p.userinfo(t, tok.AccessToken); sub == "" {
		t.Errorf("userinfo with the last token: no subject; want the user's")
	}

	exchanges := append(p.wire.exchanges("authorization_code"), p.wire.exchanges("refresh_token")...)
	checkAssertions(t, exchanges)
	c.notef("the code exchange and every refresh with a new client assertion, no secret (the provider reads no assertion on its client credentials grant, so the login is the code flow)")
}

// spanned returns done, made to wait too until renewals token lifetimes
// have passed since it was called: so many expiries are crossed.
func spanned(done func() bool) func() bool {
	end := time.Now().Add(renewals * tokenLifetime)
	return func() bool { return done() && time.Now().After(end) }
}

// checkAssertions checks that every request succeeded, authenticated by
// an assertion never sent before, with no secret.
func checkAssertions(t *testing.T, exchanges []exchange) {
	t.Helper()
	sent := map[string]bool{}
	for i, e := range exchanges {
		if e.Status != 200 || e.Assertion == "" || sent[e.Assertion] || e.Basic || e.SecretInBody {
			t.Errorf("%s request %d: status %d, a new assertion %v, Basic %v, secret in body %v; want 200, true, false, false",
				e.GrantType, i+1, e.Status, e.Assertion != "" && !sent[e.Assertion], e.Basic, e.SecretInBody)
		}
		sent[e.Assertion] = true
	}
}

// unexpired passes on the error of a TokenContext call, or says that the
// token served had expired.
func unexpired(tok *tokenkeeper.Token, err error) error {
	if err == nil && !tok.Expiry.After(time.Now()) {
		err = errors.New("an expired token was served")
	}
	return err
}

// TestJWTBearerGrant gets the service user's tokens with the JWT bearer
// grant and an assertion signed by its registered RSA key, renewed over two
// expiries: with a jwtbearer Signer's LoginFunc as a Source's login, and
// with x/oauth2's jwt package.
func TestJWTBearerGrant(t *testing.T) {
	t.Parallel()
	t.Run("tokenkeeper", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowJWTBearer, tk)
		p := startOP(t)
		key := newRSAKey(t)
		p.registerKey(bearerIssuer, "svc-1", key.Public())
		src := bearerSource(t, p, key, "svc-1")
		logins := spanned(func() bool { return len(p.wire.exchanges(grantJWTBearer)) > renewals })
		pollUntil(t, logins, func(ctx context.Context) error { return unexpired(src.TokenContext(ctx)) })
		checkAssertions(t, p.wire.exchanges(grantJWTBearer))
		c.notef("renewed by its login, as no refresh token is issued; a new assertion for each grant")
	})
	t.Run("x-oauth2", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowJWTBearer, xo)
		p := startOP(t)
		key := newRSAKey(t)
		p.registerKey(bearerIssuer, "svc-1", key.Public())
		ts := xBearerConfig(t, p, key, "svc-1").TokenSource(xContext(t, 5*tokenLifetime))
		logins := spanned(func() bool { return len(p.wire.exchanges(grantJWTBearer)) > renewals })
		pollUntil(t, logins, func(context.Context) error {
			tok, err := ts.Token()
			if err == nil && !tok.Expiry.After(time.Now()) {
				err = errors.New("an expired token was served")
			}
			return err
		})
		checkAssertions(t, p.wire.exchanges(grantJWTBearer))
		c.notef("Audience set to the issuer and Subject to Email, as the provider requires")
	})
}

// bearerSource returns a Source whose login is the JWT bearer grant, with
// an assertion signed with key by jwtbearer for each login: iss and sub
// the service user, aud the issuer, as the provider wants.
func bearerSource(t *testing.T, p *provider, key *rsa.PrivateKey, kid string) *tokenkeeper.Source {
	t.Helper()
	client := p.tkClient(t, bearerIssuer, "", tokenkeeper.AuthNone)
	signer, err := jwtbearer.New(key, jwtbearer.Config{
		Issuer: bearerIssuer, Audience: p.Issuer, KeyID: kid, Lifetime: time.Minute,
	})
	if err != nil {
		t.Fatalf("jwtbearer.New: %v", err)
	}
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		LoginFunc: signer.LoginFunc(client, tokenkeeper.Param("scope", "openid")),
	})
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// xBearerConfig returns the x/oauth2 configuration of the same grant.
func xBearerConfig(t *testing.T, p *provider, key *rsa.PrivateKey, kid string) *jwt.Config {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &jwt.Config{
		Email: bearerIssuer, Subject: bearerIssuer, Audience: p.Issuer,
		PrivateKey:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		PrivateKeyID: kid,
		Scopes:       []string{"openid"},
		TokenURL:     p.TokenURL,
	}
}

// TestWrongSigningKey signs with a key other than the one registered under
// the key ID the JWT names, and once with the right key for the wrong
// audience. The provider answers invalid_grant for a client
// assertion as for a JWT bearer grant: it maps every failed JWT check to
// it (oidc.DefaultToServerError), where RFC 7523 would have invalid_client
// for client authentication.
func TestWrongSigningKey(t *testing.T) {
	t.Parallel()
	t.Run("tokenkeeper", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowWrongKey, tk)
		p := startOP(t)
		p.registerKey(keyClientID, "ec-1", newECKey(t).Public())
		cfg := keyClientConfig(t, p)
		cfg.ClientKey, cfg.ClientKeyID = newECKey(t), "ec-1"
		client, err := tokenkeeper.New(cfg)
		if err != nil {
			t.Fatalf("tokenkeeper.New: %v", err)
		}
		checkTKRejected(t, p, "refresh_token", client, tokenkeeper.SourceConfig{Token: &tokenkeeper.Token{RefreshToken: "any"}}, tokenkeeper.ErrInvalidGrant)
		noteAnswer(c, p, "private_key_jwt", onlyExchange(t, p, "refresh_token"))

		p.registerKey(bearerIssuer, "svc-1", newRSAKey(t).Public())
		src := bearerSource(t, p, newRSAKey(t), "svc-1")
		checkTKSourceRejected(t, p, grantJWTBearer, src, tokenkeeper.ErrInvalidGrant)
		noteAnswer(c, p, "JWT bearer grant", onlyExchange(t, p, grantJWTBearer))

		// The right key, and the aud tokenkeeper sends by default: the
		// token endpoint, where the provider wants its issuer.
		p = startOP(t)
		key := newECKey(t)
		p.registerKey(keyClientID, "ec-1", key.Public())
		cfg = keyClientConfig(t, p)
		cfg.ClientKey, cfg.ClientKeyID, cfg.AssertionAudience = key, "ec-1", ""
		if client, err = tokenkeeper.New(cfg); err != nil {
			t.Fatalf("tokenkeeper.New: %v", err)
		}
		checkTKRejected(t, p, "refresh_token", client, tokenkeeper.SourceConfig{Token: &tokenkeeper.Token{RefreshToken: "any"}}, tokenkeeper.ErrInvalidGrant)
		noteAnswer(c, p, "private_key_jwt with AssertionAudience left to the token URL (the provider wants its issuer)", onlyExchange(t, p, "refresh_token"))
	})
	t.Run("x-oauth2", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowWrongKey, xo)
		p := startOP(t)
		p.registerKey(bearerIssuer, "svc-1", newRSAKey(t).Public())
		_, err := xBearerConfig(t, p, newRSAKey(t), "svc-1").TokenSource(xContext(t, 10*time.Second)).Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) {
			t.Fatalf("Token error = %v (%T); want a *oauth2.RetrieveError", err, err)
		}
		sent := onlyExchange(t, p, grantJWTBearer)
		if re.Response.StatusCode != sent.Status || !strings.Contains(string(re.Body), sent.Answer.Error) {
			t.Errorf("RetrieveError: status %d, body holds %q: %v; want %d, true", re.Response.StatusCode,
				sent.Answer.Error, strings.Contains(string(re.Body), sent.Answer.Error), sent.Status)
		}
		c.notef("JWT bearer grant only (no private_key_jwt client authentication); the jwt package's RetrieveError has ErrorCode %q: the provider's code is only in its Body", re.ErrorCode)
	})
}

// noteAnswer records in the table what the provider answered, its issuer
// (a port that changes every run) written as <issuer>.
func noteAnswer(c *cell, p *provider, what string, e exchange) {
	desc := strings.ReplaceAll(e.Answer.ErrorDescription, p.Issuer, "<issuer>")
	c.notef("%s: the provider answered %d %s (%q)", what, e.Status, e.Answer.Error, desc)
}

// newClaims returns the claims of an assertion that iss makes about itself
// for aud, valid for a minute.
func newClaims(iss, aud string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": iss, "sub": iss, "aud": aud, "jti": rand.Text(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

// signRS256 signs claims as a compact JWS with RS256 (RFC 7515, RFC 7518
// section 3.3), kid in its header: a signer that tokenkeeper does not see.
func signRS256(key *rsa.PrivateKey, kid string, claims any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return input + "." + enc.EncodeToString(sig), nil
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
