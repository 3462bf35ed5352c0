package tokenkeeper

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// pkceVerifier matches an RFC 7636 code verifier: 43 to 128 unreserved
// characters.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// challengeOf computes the S256 challenge independently of the package.
func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func newAuthClient(t *testing.T, authURL string) *Client {
	t.Helper()
	c, err := New(Config{
		TokenURL: "https://tenant.auth0.com/oauth/token",
		AuthURL:  authURL,
		ClientID: "spa-id",
	})
	require.NoError(t, err)
	return c
}

func TestAuthCodeURL(t *testing.T) {
	t.Parallel()
	t.Run("every parameter", func(t *testing.T) {
		t.Parallel()
		c := newAuthClient(t, "https://tenant.auth0.com/authorize?connection=google-oauth2")
		flow, err := c.AuthCodeURL(AuthCodeRequest{
			RedirectURI: "http://127.0.0.1:4242/callback",
			Scope:       "openid offline_access",
			State:       "state-1",
			Nonce:       "nonce-1",
			Audience:    "https://api.example.com/",
			Params: url.Values{
				"prompt":        {"login"},
				"response_type": {"token"},
				"client_id":     {"evil"},
				"state":         {"evil"},
				"nonce":         {"evil"},
			},
		})
		require.NoError(t, err)
		u, err := url.Parse(flow.URL)
		require.NoError(t, err)
		assert.Equal(t, "https", u.Scheme)
		assert.Equal(t, "tenant.auth0.com", u.Host)
		assert.Equal(t, "/authorize", u.Path)
		q := u.Query()
		require.True(t, pkceVerifier.MatchString(flow.Verifier), "verifier %q is not an RFC 7636 verifier", flow.Verifier)
		assert.Equal(t, url.Values{
			"connection":            {"google-oauth2"},
			"prompt":                {"login"},
			"response_type":         {"code"},
			"client_id":             {"spa-id"},
			"redirect_uri":          {"http://127.0.0.1:4242/callback"},
			"scope":                 {"openid offline_access"},
			"state":                 {"state-1"},
			"nonce":                 {"nonce-1"},
			"audience":              {"https://api.example.com/"},
			"code_challenge":        {challengeOf(flow.Verifier)},
			"code_challenge_method": {"S256"},
		}, q, "authorization URL query")
		assert.Equal(t, "state-1", flow.State)
		assert.Equal(t, "nonce-1", flow.Nonce)
		assert.Equal(t, "http://127.0.0.1:4242/callback", flow.RedirectURI)
	})
	t.Run("generated state and minimal query", func(t *testing.T) {
		t.Parallel()
		c := newAuthClient(t, "https://tenant.auth0.com/authorize")
		f1, err := c.AuthCodeURL(AuthCodeRequest{})
		require.NoError(t, err)
		f2, err := c.AuthCodeURL(AuthCodeRequest{})
		require.NoError(t, err)
		assert.Regexp(t, `^[A-Za-z0-9_-]{32,}$`, f1.State, "generated state")
		assert.NotEqual(t, f1.State, f2.State, "two flows share a state")
		assert.Regexp(t, `^[A-Za-z0-9_-]{32,}$`, f1.Nonce, "generated nonce")
		assert.NotEqual(t, f1.Nonce, f2.Nonce, "two flows share a nonce")
		assert.NotEqual(t, f1.State, f1.Nonce, "the nonce is the state")
		assert.NotEqual(t, f1.Verifier, f2.Verifier, "two flows share a verifier")
		u, err := url.Parse(f1.URL)
		require.NoError(t, err)
		assert.Equal(t, url.Values{
			"response_type":         {"code"},
			"client_id":             {"spa-id"},
			"state":                 {f1.State},
			"nonce":                 {f1.Nonce},
			"code_challenge":        {challengeOf(f1.Verifier)},
			"code_challenge_method": {"S256"},
		}, u.Query(), "empty optional fields are left out")
	})
	t.Run("PKCE disabled", func(t *testing.T) {
		t.Parallel()
		c := newAuthClient(t, "https://tenant.auth0.com/authorize")
		flow, err := c.AuthCodeURL(AuthCodeRequest{RedirectURI: "https://app.example.com/cb", State: "s", Nonce: "n", DisablePKCE: true})
		require.NoError(t, err)
		assert.Empty(t, flow.Verifier)
		u, err := url.Parse(flow.URL)
		require.NoError(t, err)
		assert.Equal(t, url.Values{
			"response_type": {"code"},
			"client_id":     {"spa-id"},
			"redirect_uri":  {"https://app.example.com/cb"},
			"state":         {"s"},
			"nonce":         {"n"},
		}, u.Query())
		g, err := flow.Callback(url.Values{"state": {"s"}, "code": {"code"}})
		require.NoError(t, err)
		form, err := g.form()
		require.NoError(t, err)
		assert.Empty(t, form.Get("code_verifier"), "no verifier sent without PKCE")
	})
	t.Run("no AuthURL", func(t *testing.T) {
		t.Parallel()
		c := newAuthClient(t, "")
		flow, err := c.AuthCodeURL(AuthCodeRequest{State: "s"})
		assert.Nil(t, flow)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "AuthURL is empty")
	})
}

// Each flow gets a new RFC 7636 verifier, and its challenge is the S256
// of that verifier.
func TestAuthCodeURLVerifier(t *testing.T) {
	t.Parallel()
	c := newAuthClient(t, "https://tenant.auth0.com/authorize")
	seen := map[string]bool{}
	for range 3 {
		flow, err := c.AuthCodeURL(AuthCodeRequest{RedirectURI: "https://app.example.com/cb"})
		require.NoError(t, err)
		assert.True(t, pkceVerifier.MatchString(flow.Verifier), "Verifier = %q", flow.Verifier)
		assert.False(t, seen[flow.Verifier], "a verifier was reused")
		seen[flow.Verifier] = true
		u, err := url.Parse(flow.URL)
		require.NoError(t, err)
		assert.Equal(t, challengeOf(flow.Verifier), u.Query().Get("code_challenge"))
		assert.Equal(t, "S256", u.Query().Get("code_challenge_method"))
	}
}

func TestCallback(t *testing.T) {
	t.Parallel()
	flow := &AuthCodeFlow{State: "state-1", Verifier: "verifier-1", RedirectURI: "https://app.example.com/cb"}
	tests := []struct {
		name     string
		query    url.Values
		wantCode string
		wantErr  error
		wantPE   *Error
	}{
		{name: "success", query: url.Values{"state": {"state-1"}, "code": {"code-1"}}, wantCode: "code-1"},
		{name: "state mismatch", query: url.Values{"state": {"state-2"}, "code": {"code-1"}}, wantErr: errStateMismatch},
		{name: "state prefix", query: url.Values{"state": {"state-"}, "code": {"code-1"}}, wantErr: errStateMismatch},
		{name: "missing state", query: url.Values{"code": {"code-1"}}, wantErr: errStateMismatch},
		{name: "provider error", query: url.Values{
			"state": {"state-1"}, "error": {"access_denied"}, "error_description": {"User did not consent"}, "error_uri": {"https://auth.example.com/e"},
		}, wantPE: &Error{Code: "access_denied", Message: "User did not consent", URL: "https://auth.example.com/e"}},
		{name: "provider error with a wrong state", query: url.Values{"state": {"evil"}, "error": {"access_denied"}}, wantErr: errStateMismatch},
		{name: "missing code", query: url.Values{"state": {"state-1"}}, wantErr: errMissingCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := flow.Callback(tt.query)
			switch {
			case tt.wantPE != nil:
				assert.Nil(t, g)
				var pe *Error
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tt.wantPE.Code, pe.Code)
				assert.Equal(t, tt.wantPE.Message, pe.Message)
				assert.Equal(t, tt.wantPE.URL, pe.URL)
				assert.Zero(t, pe.StatusCode)
				assert.Equal(t, "tokenkeeper: authorization error: access_denied: User did not consent", pe.Error())
				assert.False(t, IsRetryable(err))
			case tt.wantErr != nil:
				assert.Nil(t, g)
				require.ErrorIs(t, err, tt.wantErr)
				require.ErrorIs(t, err, ErrBadCallback)
				var pe *Error
				assert.False(t, errors.As(err, &pe), "a local check is not a provider *Error")
			default:
				require.NoError(t, err)
				assert.Equal(t, AuthorizationCodeGrant(tt.wantCode, flow.RedirectURI, flow.Verifier), g)
			}
		})
	}
	t.Run("flow without state", func(t *testing.T) {
		t.Parallel()
		_, err := (&AuthCodeFlow{}).Callback(url.Values{"state": {""}, "code": {"c"}})
		require.Error(t, err, "an empty state must never match")
	})
}

// TestAuthCodeFlowEndToEnd goes from the authorization URL to the code
// exchange and checks that the verifier sent matches the challenge.
func TestAuthCodeFlowEndToEnd(t *testing.T) {
	t.Parallel()
	const tokenURL = "https://tenant.auth0.com/oauth/token"
	hc, requests := mockTokenEndpoint(t, tokenURL)
	c, err := New(Config{
		TokenURL:   tokenURL,
		AuthURL:    "https://tenant.auth0.com/authorize",
		ClientID:   "native-id",
		AuthStyle:  AuthNone,
		HTTPClient: hc,
	})
	require.NoError(t, err)
	flow, err := c.AuthCodeURL(AuthCodeRequest{RedirectURI: "http://127.0.0.1:4242/cb", Scope: "openid"})
	require.NoError(t, err)
	u, err := url.Parse(flow.URL)
	require.NoError(t, err)
	challenge := u.Query().Get("code_challenge")

	g, err := flow.Callback(url.Values{"state": {u.Query().Get("state")}, "code": {"code-xyz"}})
	require.NoError(t, err)
	assert.Equal(t, AuthorizationCodeGrant("code-xyz", "http://127.0.0.1:4242/cb", flow.Verifier), g)

	_, err = c.Token(context.Background(), g)
	require.NoError(t, err)
	reqs := requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {"code-xyz"},
		"redirect_uri":  {"http://127.0.0.1:4242/cb"},
		"code_verifier": {flow.Verifier},
		"client_id":     {"native-id"},
	}, reqs[0].Form)
	assert.Equal(t, challenge, challengeOf(reqs[0].Form.Get("code_verifier")), "the verifier sent does not match the challenge")
}

func TestGrantTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		g    Grant
		want string
	}{
		{PasswordGrant("", ""), "password"},
		{RefreshTokenGrant(""), "refresh_token"},
		{AuthorizationCodeGrant("", "", ""), "authorization_code"},
		{ClientCredentialsGrant(), "client_credentials"},
		{ExtensionGrant("urn:x"), "urn:x"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.g.grantType(), "%T", tt.g)
	}
}

func TestGrantFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		g    Grant
		want string
	}{
		{PasswordGrant("jane", "pw", Param("scope", "s")), `tokenkeeper.Grant{grant_type="password" password=REDACTED scope="s" username="jane"}`},
		{PasswordGrant("jane", ""), `tokenkeeper.Grant{grant_type="password" username="jane"}`},
		{RefreshTokenGrant("rt", Param("scope", "s")), `tokenkeeper.Grant{grant_type="refresh_token" refresh_token=REDACTED scope="s"}`},
		{AuthorizationCodeGrant("c", "https://app/cb", "v"), `tokenkeeper.Grant{code=REDACTED code_verifier=REDACTED grant_type="authorization_code" redirect_uri="https://app/cb"}`},
		{AuthorizationCodeGrant("c", "", ""), `tokenkeeper.Grant{code=REDACTED grant_type="authorization_code"}`},
		{ExtensionGrant("urn:x", Param("a", "1"), Param("b", "2")), `tokenkeeper.Grant{a=REDACTED b=REDACTED grant_type="urn:x"}`},
		{ClientCredentialsGrant(Param("scope", "s"), Param("audience", "https://api/"), Param("client_assertion", "jwt")), `tokenkeeper.Grant{audience="https://api/" client_assertion=REDACTED grant_type="client_credentials" scope="s"}`},
	}
	for _, tt := range tests {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			assert.Equal(t, tt.want, fmt.Sprintf(verb, tt.g), "Sprintf(%q, %v)", verb, tt.g)
		}
		b, err := json.Marshal(tt.g)
		require.NoError(t, err)
		assert.JSONEq(t, fmt.Sprintf("%q", tt.want), string(b), "json.Marshal(%v)", tt.g)
	}
}

// An AuthCodeFlow prints without its state, nonce and verifier, and refuses to be
// written as JSON rather than write a text that cannot be read back.
func TestAuthCodeFlowFormat(t *testing.T) {
	t.Parallel()
	flow := AuthCodeFlow{URL: "https://a/authorize?state=s", State: "s", Nonce: "n", Verifier: "v", RedirectURI: "https://app/cb"}
	want := `tokenkeeper.AuthCodeFlow{RedirectURI:"https://app/cb" State:REDACTED Nonce:REDACTED Verifier:REDACTED}`
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.Equal(t, want, fmt.Sprintf(verb, flow), "Sprintf(%q, flow)", verb)
	}
	_, err := json.Marshal(flow)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PKCE verifier")
}

// A Param prints its value only for a public parameter.
func TestParamFormat(t *testing.T) {
	t.Parallel()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.Equal(t, `tokenkeeper.Param("client_assertion"=REDACTED)`, fmt.Sprintf(verb, Param("client_assertion", "jwt-secret")))
		assert.Equal(t, `tokenkeeper.Param("scope"="api")`, fmt.Sprintf(verb, Param("scope", "api")))
	}
	b, err := json.Marshal(Param("client_assertion", "jwt-secret"))
	require.NoError(t, err)
	assert.NotContains(t, string(b), "jwt-secret")
}

// A Param never overrides the grant's own parameters, nor the client
// authentication that the Client owns; repeated keys add values.
func TestParam(t *testing.T) {
	t.Parallel()
	g := RefreshTokenGrant("rt", Param("refresh_token", "other"), Param("client_id", "x"), Param("client_secret", "y"),
		Param("resource", "https://a/"), Param("resource", "https://b/"), nil)
	form, err := g.form()
	require.NoError(t, err)
	assert.Equal(t, url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {"rt"},
		"resource":      {"https://a/", "https://b/"},
	}, form)
	form.Set("refresh_token", "changed")
	again, err := g.form()
	require.NoError(t, err)
	assert.Equal(t, "rt", again.Get("refresh_token"), "form returns a copy")
}

// paramsOf turns a form into grant options, one Param per value.
func paramsOf(v url.Values) []GrantOption {
	var opts []GrantOption
	for k, vs := range v {
		for _, s := range vs {
			opts = append(opts, Param(k, s))
		}
	}
	return opts
}

// Token exchange (RFC 8693) against the Auth0 fake: the subject and actor
// tokens with their types, the audience, and issued_token_type on the
// Token; a missing subject is refused before any request.
func TestTokenExchangeGrant(t *testing.T) {
	clock, srv, c := mtAuth0(t, oauthtest.Options{})
	ctx := mtCtx(t)
	const accessType = "urn:ietf:params:oauth:token-type:access_token"
	subject := srv.Issue("", "openid").AccessToken
	actor := srv.Issue("", "").AccessToken
	g := TokenExchangeGrant(subject, accessType,
		Param("actor_token", actor), Param("actor_token_type", accessType),
		Param("audience", oauthtest.DefaultAudience), Param("requested_token_type", accessType), Param("scope", "read"))
	if s := fmt.Sprint(g); strings.Contains(s, subject) || strings.Contains(s, actor) || !strings.Contains(s, "token-exchange") {
		t.Errorf("the grant prints %s; want its type and no token", s)
	}
	tok, err := c.Token(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.AccessToken == subject || tok.Extra("issued_token_type") != accessType {
		t.Errorf("token = %v, issued_token_type %v; want a new access token", tok, tok.Extra("issued_token_type"))
	}
	if !tok.Expiry.After(clock.Now()) {
		t.Errorf("expiry = %v; want in the future", tok.Expiry)
	}
	if _, err := c.Token(ctx, TokenExchangeGrant("not-a-token", accessType)); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("unknown subject: %v; want ErrInvalidGrant", err)
	}
	if _, err := c.Token(ctx, TokenExchangeGrant(subject, "")); err == nil || !strings.Contains(err.Error(), "subject token") {
		t.Errorf("no subject type: %v; want an error naming the subject token", err)
	}
}
