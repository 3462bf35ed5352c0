package tokenkeeper

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	base := func() Config {
		return Config{TokenURL: "https://auth.example.com/oauth/token", ClientID: "client-1"}
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr []string // substrings of the error; none means New succeeds
	}{
		{name: "valid https", edit: func(*Config) {}},
		{name: "empty TokenURL", edit: func(c *Config) { c.TokenURL = "" }, wantErr: []string{"TokenURL is empty"}},
		{name: "relative path", edit: func(c *Config) { c.TokenURL = "/oauth/token" }, wantErr: []string{`TokenURL "/oauth/token" is not an absolute URL`}},
		{name: "relative host-less", edit: func(c *Config) { c.TokenURL = "auth.example.com/oauth/token" }, wantErr: []string{"is not an absolute URL"}},
		{name: "scheme without host", edit: func(c *Config) { c.TokenURL = "https:///oauth/token" }, wantErr: []string{"is not an absolute URL"}},
		{name: "unparsable", edit: func(c *Config) { c.TokenURL = "https://auth.example.com/%zz" }, wantErr: []string{"TokenURL is not a URL"}},
		{name: "ftp", edit: func(c *Config) { c.TokenURL = "ftp://auth.example.com/token" }, wantErr: []string{`has scheme "ftp"; want https`}},
		{name: "user info", edit: func(c *Config) { c.TokenURL = "https://user:pw@auth.example.com/token" }, wantErr: []string{"TokenURL must not carry user information"}},
		{name: "http on a public host", edit: func(c *Config) { c.TokenURL = "http://auth.example.com/token" }, wantErr: []string{"plain http", "AllowInsecureHTTP"}},
		{name: "http on a private address", edit: func(c *Config) { c.TokenURL = "http://10.0.0.1/token" }, wantErr: []string{"plain http"}},
		{name: "http allowed by AllowInsecureHTTP", edit: func(c *Config) {
			c.TokenURL = "http://auth.internal/token"
			c.AllowInsecureHTTP = true
		}},
		{name: "http on 127.0.0.1", edit: func(c *Config) { c.TokenURL = "http://127.0.0.1:8080/token" }},
		{name: "http on 127.0.0.53", edit: func(c *Config) { c.TokenURL = "http://127.0.0.53/token" }},
		{name: "http on [::1]", edit: func(c *Config) { c.TokenURL = "http://[::1]:8080/token" }},
		{name: "http on localhost", edit: func(c *Config) { c.TokenURL = "http://localhost:8080/token" }},
		{name: "http on LOCALHOST", edit: func(c *Config) { c.TokenURL = "http://LOCALHOST/token" }},
		{name: "http on a .localhost name", edit: func(c *Config) { c.TokenURL = "http://auth.localhost/token" }, wantErr: []string{"plain http"}},
		{name: "http on a .localhost name, allowed", edit: func(c *Config) { c.TokenURL = "http://auth.localhost/token"; c.AllowInsecureHTTP = true }},
		{name: "http on an IPv6 loopback", edit: func(c *Config) { c.TokenURL = "http://[::1]:8080/token" }},
		{name: "http on a name merely starting with localhost", edit: func(c *Config) { c.TokenURL = "http://localhost.example.com/token" }, wantErr: []string{"plain http"}},
		{name: "valid AuthURL", edit: func(c *Config) { c.AuthURL = "https://auth.example.com/authorize" }},
		{name: "AuthURL ftp", edit: func(c *Config) { c.AuthURL = "ftp://auth.example.com/authorize" }, wantErr: []string{`AuthURL "ftp://auth.example.com/authorize" has scheme "ftp"`}},
		{name: "AuthURL plain http", edit: func(c *Config) { c.AuthURL = "http://auth.example.com/authorize" }, wantErr: []string{"AuthURL", "plain http"}},
		{name: "AuthURL relative", edit: func(c *Config) { c.AuthURL = "/authorize" }, wantErr: []string{"AuthURL", "not an absolute URL"}},
		{name: "empty ClientID", edit: func(c *Config) { c.ClientID = "" }, wantErr: []string{"ClientID is empty"}},
		{name: "blank ClientID", edit: func(c *Config) { c.ClientID = " \t" }, wantErr: []string{"ClientID is empty"}},
		{name: "AuthBasic without secret", edit: func(c *Config) { c.AuthStyle = AuthBasic }, wantErr: []string{"ClientSecret", "AuthBasic"}},
		{name: "AuthBasic with secret", edit: func(c *Config) {
			c.AuthStyle = AuthBasic
			c.ClientSecret = "s"
		}},
		{name: "AuthNone with secret", edit: func(c *Config) {
			c.AuthStyle = AuthNone
			c.ClientSecret = "s"
		}, wantErr: []string{"ClientSecret", "AuthNone"}},
		{name: "AuthNone without secret", edit: func(c *Config) { c.AuthStyle = AuthNone }},
		{name: "unknown AuthStyle", edit: func(c *Config) { c.AuthStyle = AuthStyle(7) }, wantErr: []string{"unknown AuthStyle 7"}},
		{name: "header name with space", edit: func(c *Config) { c.Header = http.Header{"X Bad": {"v"}} }, wantErr: []string{`"X Bad"`, "header name"}},
		{name: "header name with colon", edit: func(c *Config) { c.Header = http.Header{"X-Bad:": {"v"}} }, wantErr: []string{`"X-Bad:"`, "header name"}},
		{name: "empty header name", edit: func(c *Config) { c.Header = http.Header{"": {"v"}} }, wantErr: []string{`""`, "header name"}},
		{name: "header name non-ASCII", edit: func(c *Config) { c.Header = http.Header{"X-Ünicode": {"v"}} }, wantErr: []string{`"X-Ünicode"`, "header name"}},
		{name: "header value with CRLF", edit: func(c *Config) {
			c.Header = http.Header{"X-Tenant": {"ok", "a\r\nX-Injected: 1"}}
		}, wantErr: []string{`"X-Tenant"`, "control characters"}},
		{name: "header value with LF", edit: func(c *Config) { c.Header = http.Header{"X-Tenant": {"a\nb"}} }, wantErr: []string{"control characters"}},
		{name: "header value with NUL", edit: func(c *Config) { c.Header = http.Header{"X-Tenant": {"a\x00b"}} }, wantErr: []string{"control characters"}},
		{name: "header value with DEL", edit: func(c *Config) { c.Header = http.Header{"X-Tenant": {"a\x7fb"}} }, wantErr: []string{"control characters"}},
		{name: "header value with tab", edit: func(c *Config) { c.Header = http.Header{"X-Tenant": {"a\tb"}} }},
		{name: "UserAgent with CRLF", edit: func(c *Config) { c.UserAgent = "ua\r\nX: y" }, wantErr: []string{"UserAgent has control characters"}},
		{name: "Credential header invalid", edit: func(c *Config) { c.Credential = Credential{Header: "X Api Key"} }, wantErr: []string{`Credential.Header "X Api Key" is not a valid header name`}},
		{name: "Credential raw and scheme", edit: func(c *Config) { c.Credential = Credential{Raw: true, Scheme: "Token"} }, wantErr: []string{"Credential has both Raw and a Scheme"}},
		{name: "Credential scheme with space", edit: func(c *Config) { c.Credential = Credential{Scheme: "My Token"} }, wantErr: []string{"Credential.Scheme", "spaces or control characters"}},
		{name: "Credential scheme with CRLF", edit: func(c *Config) { c.Credential = Credential{Scheme: "T\r\nX:"} }, wantErr: []string{"Credential.Scheme"}},
		{name: "Credential scheme with NUL", edit: func(c *Config) { c.Credential = Credential{Scheme: "T\x00"} }, wantErr: []string{"Credential.Scheme"}},
		{name: "Credential custom header and scheme", edit: func(c *Config) { c.Credential = Credential{Header: "X-Api-Token", Scheme: "Token", IDToken: true} }},
		{name: "every problem at once", edit: func(c *Config) {
			c.TokenURL = ""
			c.ClientID = ""
			c.AuthStyle = AuthBasic
		}, wantErr: []string{"TokenURL is empty", "ClientID is empty", "AuthBasic"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base()
			tt.edit(&cfg)
			c, err := New(cfg)
			if len(tt.wantErr) == 0 {
				require.NoError(t, err, "New(%v)", cfg)
				require.NotNil(t, c)
				return
			}
			require.Error(t, err, "New(%v) succeeded; want an error", cfg)
			assert.Nil(t, c, "New returned a Client along with an error")
			assert.True(t, strings.HasPrefix(err.Error(), "tokenkeeper: invalid Config: "), "error %q lacks the package prefix", err)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestNewDefaultsAndFreezes(t *testing.T) {
	t.Parallel()
	header := http.Header{"X-Tenant": {"t1"}}
	cfg := Config{
		TokenURL:   "https://auth.example.com/oauth/token",
		ClientID:   "client-1",
		Header:     header,
		Credential: Credential{Header: "x-api-token"},
	}
	c, err := New(cfg)
	require.NoError(t, err)

	require.NotNil(t, c.hc, "default HTTP client")
	assert.Equal(t, defaultTimeout, c.hc.Timeout, "default HTTP client timeout")
	assert.Nil(t, c.hc.Transport, "default HTTP client must use http.DefaultTransport")
	assert.Equal(t, systemClock{}, c.clock, "default clock")
	now := time.Now()
	got := c.now()
	assert.WithinDuration(t, now, got, time.Minute, "system clock")
	assert.Equal(t, "X-Api-Token", c.credential.Header, "Credential header is canonicalized")

	// Changing the Config afterwards changes nothing.
	header.Set("X-Tenant", "t2")
	cfg.Header.Add("X-Other", "o")
	assert.Equal(t, http.Header{"X-Tenant": {"t1"}}, c.header, "Client header after the Config changed")

	def, err := New(Config{TokenURL: "https://auth.example.com/t", ClientID: "c"})
	require.NoError(t, err)
	assert.Equal(t, Credential{Header: "Authorization"}, def.credential, "zero Credential")
}

func TestAuthStyleString(t *testing.T) {
	t.Parallel()
	for style, want := range map[AuthStyle]string{
		AuthInBody:    "in-body",
		AuthBasic:     "basic",
		AuthNone:      "none",
		AuthStyle(42): "AuthStyle(42)",
	} {
		if got := style.name(); got != want {
			t.Errorf("AuthStyle(%d).name() = %q; want %q", int(style), got, want)
		}
	}
}

// TestTokenRequestShape checks the exact form and headers of every grant
// for every preset.
func TestTokenRequestShape(t *testing.T) {
	t.Parallel()
	const (
		daxiumURL    = "https://api.daxium-air.com/oauth/v2/token"
		transiteoURL = "https://auth.transiteo.io/oauth2/token"
		auth0URL     = "https://tenant.eu.auth0.com/oauth/token"
	)
	auth0 := func(id, secret string) Config { return Auth0("tenant.eu.auth0.com", id, secret) }
	withStyle := func(cfg Config, s AuthStyle) Config {
		cfg.AuthStyle = s
		return cfg
	}
	withUA := func(cfg Config, ua string, h http.Header) Config {
		cfg.UserAgent = ua
		cfg.Header = h
		return cfg
	}
	tests := []struct {
		name       string
		cfg        Config
		tokenURL   string
		grant      Grant
		wantForm   url.Values
		wantHeader map[string]string // exact values; "" means absent
		wantMulti  map[string][]string
	}{
		{
			name:     "Daxium password",
			cfg:      DaxiumAir("daxium-id", "daxium-secret"),
			tokenURL: daxiumURL,
			grant:    PasswordGrant("jane@example.com", "pa ss&word="),
			wantForm: url.Values{
				"grant_type":    {"password"},
				"username":      {"jane@example.com"},
				"password":      {"pa ss&word="},
				"client_id":     {"daxium-id"},
				"client_secret": {"daxium-secret"},
			},
			wantHeader: map[string]string{"X-Accept-Version": "v1.3", "Authorization": ""},
		},
		{
			name:     "Daxium password with scope",
			cfg:      DaxiumAir("daxium-id", "daxium-secret"),
			tokenURL: daxiumURL,
			grant:    PasswordGrant("jane@example.com", "pw", Param("scope", "read write")),
			wantForm: url.Values{
				"grant_type":    {"password"},
				"username":      {"jane@example.com"},
				"password":      {"pw"},
				"scope":         {"read write"},
				"client_id":     {"daxium-id"},
				"client_secret": {"daxium-secret"},
			},
			wantHeader: map[string]string{"X-Accept-Version": "v1.3"},
		},
		{
			name:     "Daxium refresh",
			cfg:      DaxiumAir("daxium-id", "daxium-secret"),
			tokenURL: daxiumURL,
			grant:    RefreshTokenGrant("daxium-refresh"),
			wantForm: url.Values{
				"grant_type":    {"refresh_token"},
				"refresh_token": {"daxium-refresh"},
				"client_id":     {"daxium-id"},
				"client_secret": {"daxium-secret"},
			},
			wantHeader: map[string]string{"X-Accept-Version": "v1.3", "Authorization": ""},
		},
		{
			name:     "Transiteo refresh without secret",
			cfg:      Transiteo("transiteo-id"),
			tokenURL: transiteoURL,
			grant:    RefreshTokenGrant("console-refresh"),
			wantForm: url.Values{
				"grant_type":    {"refresh_token"},
				"refresh_token": {"console-refresh"},
				"client_id":     {"transiteo-id"},
			},
			wantHeader: map[string]string{"Authorization": "", "X-Accept-Version": ""},
		},
		{
			name:     "refresh narrowing the scope",
			cfg:      auth0("auth0-id", "auth0-secret"),
			tokenURL: auth0URL,
			grant:    RefreshTokenGrant("rt", Param("scope", "openid")),
			wantForm: url.Values{
				"grant_type":    {"refresh_token"},
				"refresh_token": {"rt"},
				"scope":         {"openid"},
				"client_id":     {"auth0-id"},
				"client_secret": {"auth0-secret"},
			},
		},
		{
			name:     "Auth0 code with secret in body",
			cfg:      auth0("auth0-id", "auth0-secret"),
			tokenURL: auth0URL,
			grant:    AuthorizationCodeGrant("code-1", "https://app.example.com/callback", ""),
			wantForm: url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {"code-1"},
				"redirect_uri":  {"https://app.example.com/callback"},
				"client_id":     {"auth0-id"},
				"client_secret": {"auth0-secret"},
			},
			wantHeader: map[string]string{"Authorization": ""},
		},
		{
			name:     "Auth0 code without secret in body",
			cfg:      auth0("auth0-id", ""),
			tokenURL: auth0URL,
			grant:    AuthorizationCodeGrant("code-1", "https://app.example.com/callback", ""),
			wantForm: url.Values{
				"grant_type":   {"authorization_code"},
				"code":         {"code-1"},
				"redirect_uri": {"https://app.example.com/callback"},
				"client_id":    {"auth0-id"},
			},
			wantHeader: map[string]string{"Authorization": ""},
		},
		{
			name:     "Auth0 code with HTTP Basic",
			cfg:      withStyle(auth0("my client:1", "p@ss/w=rd+ é"), AuthBasic),
			tokenURL: auth0URL,
			grant:    AuthorizationCodeGrant("code-1", "https://app.example.com/callback", ""),
			wantForm: url.Values{
				"grant_type":   {"authorization_code"},
				"code":         {"code-1"},
				"redirect_uri": {"https://app.example.com/callback"},
			},
			// RFC 6749, section 2.3.1: each part form-encoded, then Basic.
			wantHeader: map[string]string{"Authorization": basicAuth("my+client%3A1", "p%40ss%2Fw%3Drd%2B+%C3%A9")},
		},
		{
			name:     "Auth0 code public client with PKCE",
			cfg:      withStyle(auth0("native-id", ""), AuthNone),
			tokenURL: auth0URL,
			grant:    AuthorizationCodeGrant("code-2", "http://127.0.0.1:4242/cb", "verifier-abc"),
			wantForm: url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {"code-2"},
				"redirect_uri":  {"http://127.0.0.1:4242/cb"},
				"code_verifier": {"verifier-abc"},
				"client_id":     {"native-id"},
			},
			wantHeader: map[string]string{"Authorization": ""},
		},
		{
			name:     "code without optional fields",
			cfg:      auth0("auth0-id", "auth0-secret"),
			tokenURL: auth0URL,
			grant:    AuthorizationCodeGrant("code-3", "", ""),
			wantForm: url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {"code-3"},
				"client_id":     {"auth0-id"},
				"client_secret": {"auth0-secret"},
			},
		},
		{
			name:     "client credentials with audience",
			cfg:      auth0("m2m-id", "m2m-secret"),
			tokenURL: auth0URL,
			grant:    ClientCredentialsGrant(Param("scope", "read:orders"), Param("audience", "https://api.example.com/")),
			wantForm: url.Values{
				"grant_type":    {"client_credentials"},
				"audience":      {"https://api.example.com/"},
				"scope":         {"read:orders"},
				"client_id":     {"m2m-id"},
				"client_secret": {"m2m-secret"},
			},
		},
		{
			name:     "client credentials with Basic and no options",
			cfg:      withStyle(auth0("m2m-id", "m2m-secret"), AuthBasic),
			tokenURL: auth0URL,
			grant:    ClientCredentialsGrant(),
			wantForm: url.Values{"grant_type": {"client_credentials"}},
			wantHeader: map[string]string{
				"Authorization": basicAuth("m2m-id", "m2m-secret"),
			},
		},
		{
			name:     "extra Params cannot override client or grant fields",
			cfg:      DaxiumAir("daxium-id", "daxium-secret"),
			tokenURL: daxiumURL,
			grant:    PasswordGrant("jane@example.com", "pw", Param("client_id", "evil-id"), Param("client_secret", "evil-secret"), Param("grant_type", "client_credentials"), Param("password", "other"), Param("device", "d1"), Param("device", "d2")),
			wantForm: url.Values{
				"grant_type":    {"password"},
				"username":      {"jane@example.com"},
				"password":      {"pw"},
				"device":        {"d1", "d2"},
				"client_id":     {"daxium-id"},
				"client_secret": {"daxium-secret"},
			},
		},
		{
			name:     "Params client_id dropped with Basic",
			cfg:      withStyle(auth0("auth0-id", "auth0-secret"), AuthBasic),
			tokenURL: auth0URL,
			grant:    RefreshTokenGrant("rt", Param("client_id", "evil-id"), Param("client_secret", "evil-secret"), Param("resource", "r1")),
			wantForm: url.Values{
				"grant_type":    {"refresh_token"},
				"refresh_token": {"rt"},
				"resource":      {"r1"},
			},
			wantHeader: map[string]string{"Authorization": basicAuth("auth0-id", "auth0-secret")},
		},
		{
			name:     "Params client_secret dropped for a public client",
			cfg:      Transiteo("transiteo-id"),
			tokenURL: transiteoURL,
			grant:    RefreshTokenGrant("rt", Param("client_secret", "evil")),
			wantForm: url.Values{
				"grant_type":    {"refresh_token"},
				"refresh_token": {"rt"},
				"client_id":     {"transiteo-id"},
			},
		},
		{
			name:     "code and client credentials Params",
			cfg:      auth0("auth0-id", "auth0-secret"),
			tokenURL: auth0URL,
			grant:    AuthorizationCodeGrant("c", "", "", Param("code", "other"), Param("organization", "org_1")),
			wantForm: url.Values{
				"grant_type":    {"authorization_code"},
				"code":          {"c"},
				"organization":  {"org_1"},
				"client_id":     {"auth0-id"},
				"client_secret": {"auth0-secret"},
			},
		},
		{
			name:     "client credentials Params",
			cfg:      auth0("auth0-id", "auth0-secret"),
			tokenURL: auth0URL,
			grant:    ClientCredentialsGrant(Param("organization", "org_1"), Param("client_id", "x")),
			wantForm: url.Values{
				"grant_type":    {"client_credentials"},
				"organization":  {"org_1"},
				"client_id":     {"auth0-id"},
				"client_secret": {"auth0-secret"},
			},
		},
		{
			name:     "extension grant",
			cfg:      auth0("auth0-id", "auth0-secret"),
			tokenURL: auth0URL,
			grant:    ExtensionGrant("urn:ietf:params:oauth:grant-type:token-exchange", Param("subject_token", "st"), Param("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"), Param("grant_type", "password"), Param("client_secret", "evil")),
			wantForm: url.Values{
				"grant_type":         {"urn:ietf:params:oauth:grant-type:token-exchange"},
				"subject_token":      {"st"},
				"subject_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
				"client_id":          {"auth0-id"},
				"client_secret":      {"auth0-secret"},
			},
		},
		{
			name:     "user agent and extra headers",
			cfg:      withUA(DaxiumAir("daxium-id", "daxium-secret"), "my-sdk/1.2 (+https://example.com)", http.Header{"X-Tenant": {"a", "b"}, "X-Accept-Version": {"v1.3"}}),
			tokenURL: daxiumURL,
			grant:    RefreshTokenGrant("rt"),
			wantForm: url.Values{
				"grant_type":    {"refresh_token"},
				"refresh_token": {"rt"},
				"client_id":     {"daxium-id"},
				"client_secret": {"daxium-secret"},
			},
			wantHeader: map[string]string{"User-Agent": "my-sdk/1.2 (+https://example.com)", "X-Accept-Version": "v1.3"},
			wantMulti:  map[string][]string{"X-Tenant": {"a", "b"}},
		},
		{
			name:     "extra headers cannot change the content type",
			cfg:      withUA(auth0("auth0-id", "s"), "", http.Header{"Content-Type": {"application/json"}, "Accept": {"text/html"}}),
			tokenURL: auth0URL,
			grant:    ClientCredentialsGrant(),
			wantForm: url.Values{
				"grant_type":    {"client_credentials"},
				"client_id":     {"auth0-id"},
				"client_secret": {"s"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hc, requests := mockTokenEndpoint(t, tt.tokenURL)
			cfg := tt.cfg
			cfg.HTTPClient = hc
			c, err := New(cfg)
			require.NoError(t, err, "New")

			tok, err := c.Token(context.Background(), tt.grant)
			require.NoError(t, err, "Token")
			assert.Equal(t, "mock-access", tok.AccessToken)

			reqs := requests()
			require.Len(t, reqs, 1, "token requests sent")
			r := reqs[0]
			assert.Equal(t, http.MethodPost, r.Method, "method")
			assert.Equal(t, tt.tokenURL, r.URL, "URL")
			assert.Equal(t, tt.wantForm, r.Form, "form body")
			wantHeader := map[string]string{
				"Content-Type": "application/x-www-form-urlencoded",
				"Accept":       "application/json",
				"User-Agent":   "",
			}
			for k, v := range tt.wantHeader {
				wantHeader[k] = v
			}
			for k, want := range wantHeader {
				if want == "" {
					assert.Empty(t, r.Header.Values(k), "header %s must be absent", k)
					continue
				}
				assert.Equal(t, []string{want}, r.Header.Values(k), "header %s", k)
			}
			for k, want := range tt.wantMulti {
				assert.Equal(t, want, r.Header.Values(k), "header %s", k)
			}
		})
	}
}

func TestTokenDoesNotMutateGrantParams(t *testing.T) {
	t.Parallel()
	hc, requests := mockTokenEndpoint(t, "https://auth.example.com/token")
	c, err := New(Config{TokenURL: "https://auth.example.com/token", ClientID: "id", ClientSecret: "secret", HTTPClient: hc})
	require.NoError(t, err)
	params := url.Values{"device": {"d1"}, "client_id": {"x"}}
	g := PasswordGrant("u", "p", paramsOf(params)...)
	for range 2 {
		_, err := c.Token(context.Background(), g)
		require.NoError(t, err)
	}
	assert.Equal(t, url.Values{"device": {"d1"}, "client_id": {"x"}}, params, "caller's Params after two requests")
	reqs := requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, reqs[0].Form, reqs[1].Form, "the same grant sends the same form twice")
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	t.Run("keeps the refresh token when the response has none", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, func(w http.ResponseWriter, r *http.Request) {
			assert.Equal(t, "console-refresh", r.PostFormValue("refresh_token"))
			assert.Equal(t, "refresh_token", r.PostFormValue("grant_type"))
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id_token":"id-1","access_token":"at-1","expires_in":"3600","token_type":"Bearer"}`)
		}, Transiteo("transiteo-id"))
		tok, err := c.refresh(context.Background(), "console-refresh")
		require.NoError(t, err)
		assert.Equal(t, "console-refresh", tok.RefreshToken)
		assert.Equal(t, "id-1", tok.IDToken)
		assert.Equal(t, testEpoch.Add(time.Hour), tok.Expiry)
	})
	t.Run("takes a rotated refresh token", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, reply(http.StatusOK, "application/json",
			`{"access_token":"at-2","refresh_token":"rt-2","expires_in":3600,"token_type":"bearer"}`), Config{ClientSecret: "s"})
		tok, err := c.refresh(context.Background(), "rt-1")
		require.NoError(t, err)
		assert.Equal(t, "rt-2", tok.RefreshToken)
	})
	t.Run("error", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, reply(http.StatusBadRequest, "application/json", `{"error":"invalid_grant"}`), Config{})
		tok, err := c.refresh(context.Background(), "rt-1")
		assert.Nil(t, tok)
		require.ErrorIs(t, err, ErrInvalidGrant)
	})
	t.Run("empty refresh token", func(t *testing.T) {
		t.Parallel()
		c, err := New(Config{TokenURL: "https://auth.example.com/t", ClientID: "c", HTTPClient: &http.Client{Transport: httpmock.NewMockTransport()}})
		require.NoError(t, err)
		_, err = c.refresh(context.Background(), "")
		require.ErrorIs(t, err, ErrLoginRequired)
		assert.EqualError(t, err, "tokenkeeper: refresh_token grant: the refresh token is empty: a new login is needed")
	})
}

func TestTokenRejectsIncompleteGrants(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	c, err := New(Config{TokenURL: "https://auth.example.com/t", ClientID: "c", HTTPClient: &http.Client{Transport: mt}})
	require.NoError(t, err)
	tests := []struct {
		name  string
		grant Grant
		want  string
	}{
		{"nil grant", nil, "tokenkeeper: nil Grant"},
		{"password without username", PasswordGrant("", "p"), "tokenkeeper: password grant: username and password"},
		{"password without password", PasswordGrant("u", ""), "tokenkeeper: password grant: username and password"},
		{"refresh without token", RefreshTokenGrant("", Param("scope", "s")), "tokenkeeper: refresh_token grant: the refresh token is empty: a new login is needed"},
		{"code without code", AuthorizationCodeGrant("", "https://app/cb", ""), "tokenkeeper: authorization_code grant: "},
		{"extension without type", ExtensionGrant("", Param("a", "b")), "tokenkeeper: extension grant: the grant type is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := c.Token(context.Background(), tt.grant)
			assert.Nil(t, tok)
			require.Error(t, err)
			assert.Contains(t, strings.ToLower(err.Error()), strings.ToLower(tt.want))
		})
	}
	assert.Zero(t, mt.GetTotalCallCount(), "no request may be sent for an incomplete grant")
}

func TestTokenNetworkFailure(t *testing.T) {
	t.Parallel()
	t.Run("closed server", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		tokenURL := srv.URL + "/token"
		srv.Close()
		c, err := New(Config{TokenURL: tokenURL, ClientID: "c", Clock: stoppedClock{testEpoch}})
		require.NoError(t, err)
		_, err = c.Token(context.Background(), ClientCredentialsGrant())
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "tokenkeeper: client_credentials grant: "), "error %q", err)
		assert.True(t, IsRetryable(err), "IsRetryable(%v) = false; want true for a refused connection", err)
		var pe *Error
		assert.False(t, errors.As(err, &pe), "a network failure is not a provider *Error")
	})
	t.Run("query stripped from the URL in errors", func(t *testing.T) {
		t.Parallel()
		mt := httpmock.NewMockTransport()
		mt.RegisterNoResponder(httpmock.NewErrorResponder(errors.New("connection reset by peer")))
		c, err := New(Config{TokenURL: "https://auth.example.com/token?api_key=query-secret-9", ClientID: "c", HTTPClient: &http.Client{Transport: mt}})
		require.NoError(t, err)
		_, err = c.Token(context.Background(), ClientCredentialsGrant())
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "query-secret-9")
		assert.Contains(t, err.Error(), "https://auth.example.com/token")
		assert.Contains(t, err.Error(), "connection reset by peer")
	})
	t.Run("connection reset", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if !assert.NoError(t, err, "Hijack") {
				return
			}
			if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
				tc.SetLinger(0) // close with a reset
			}
			conn.Close()
		}, Config{})
		_, err := c.Token(context.Background(), ClientCredentialsGrant())
		require.Error(t, err)
		assert.True(t, IsRetryable(err), "IsRetryable(%v) = false; want true for a reset connection", err)
	})
	t.Run("body cut short", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, `{"access_token":"at`)
		}, Config{})
		tok, err := c.Token(context.Background(), ClientCredentialsGrant())
		assert.Nil(t, tok)
		require.ErrorIs(t, err, ErrMalformedResponse)
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		var pe *Error
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, http.StatusOK, pe.StatusCode)
		assert.True(t, IsRetryable(err), "a body cut short is worth a retry")
	})
	t.Run("error body cut short", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"error":"server_error"}`)
		}, Config{})
		_, err := c.Token(context.Background(), ClientCredentialsGrant())
		var pe *Error
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, http.StatusBadGateway, pe.StatusCode)
		assert.Equal(t, "server_error", pe.Code, "what was read is still decoded")
		assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.True(t, IsRetryable(err))
	})
}

func TestTokenContext(t *testing.T) {
	t.Parallel()
	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, reply(http.StatusOK, "application/json", `{"access_token":"a"}`), Config{})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Token(ctx, ClientCredentialsGrant())
		require.ErrorIs(t, err, context.Canceled)
		assert.False(t, IsRetryable(err), "IsRetryable(%v) = true; want false for the caller's cancellation", err)
	})
	t.Run("caller's deadline", func(t *testing.T) {
		t.Parallel()
		// The deadline passes once the server holds the request, so the
		// failure is the caller's deadline and never a dial timeout.
		ctx := expiringContext{Context: context.Background(), expired: make(chan struct{})}
		release := make(chan struct{})
		c, _ := serveTokens(t, func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			close(ctx.expired)
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}, Config{})
		defer close(release)
		_, err := c.Token(ctx, ClientCredentialsGrant())
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.False(t, IsRetryable(err), "IsRetryable(%v) = true; want false for the caller's deadline", err)
	})
	t.Run("HTTP client timeout", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		hc := srv.Client()
		hc.Timeout = 20 * time.Millisecond
		c, err := New(Config{TokenURL: srv.URL, ClientID: "c", HTTPClient: hc})
		require.NoError(t, err)
		_, err = c.Token(context.Background(), ClientCredentialsGrant())
		require.Error(t, err)
		assert.True(t, IsRetryable(err), "IsRetryable(%v) = false; want true for a network timeout", err)
	})
	t.Run("nil context", func(t *testing.T) {
		t.Parallel()
		c, err := New(Config{TokenURL: "https://auth.example.com/t", ClientID: "c", HTTPClient: &http.Client{Transport: httpmock.NewMockTransport()}})
		require.NoError(t, err)
		var noContext context.Context
		_, err = c.Token(noContext, ClientCredentialsGrant())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "tokenkeeper: building token request")
	})
}

// expiringContext is a context whose deadline passes when expired is
// closed.
type expiringContext struct {
	context.Context
	expired chan struct{}
}

func (c expiringContext) Done() <-chan struct{} { return c.expired }

func (c expiringContext) Err() error {
	select {
	case <-c.expired:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// TestClientConcurrentUse runs one Client from many goroutines at once; run
// it with -race.
func TestClientConcurrentUse(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	c, _ := serveTokens(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"at-%s","refresh_token":"rt-%s","token_type":"bearer","expires_in":60}`,
			r.PostForm.Get("username"), r.PostForm.Get("username"))
	}, Config{ClientSecret: "s", Header: http.Header{"X-Accept-Version": {"v1.3"}}})

	const callers = 100
	var wg sync.WaitGroup
	errs := make([]error, callers)
	toks := make([]*Token, callers)
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			toks[i], errs[i] = c.Token(context.Background(), PasswordGrant(fmt.Sprintf("user%d", i), "pw"))
		})
	}
	close(start)
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i], "caller %d", i)
		assert.Equal(t, fmt.Sprintf("at-user%d", i), toks[i].AccessToken, "caller %d got another caller's token", i)
		assert.Equal(t, testEpoch.Add(time.Minute), toks[i].Expiry, "caller %d expiry", i)
	}
	assert.Equal(t, int64(callers), served.Load(), "requests served")
}

func TestClientFormat(t *testing.T) {
	t.Parallel()
	c, err := New(Config{TokenURL: "https://auth.example.com/token", ClientID: "client-1", ClientSecret: "top-secret", AuthStyle: AuthBasic})
	require.NoError(t, err)
	want := `tokenkeeper.Client{TokenURL:"https://auth.example.com/token" ClientID:"client-1" AuthStyle:basic}`
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.Equal(t, want, fmt.Sprintf(verb, c), "Sprintf(%q, client)", verb)
		assert.Equal(t, want, fmt.Sprintf(verb, *c), "Sprintf(%q, *client)", verb)
	}
	var nilClient *Client
	assert.Equal(t, "<nil>", fmt.Sprint(nilClient), "a nil *Client prints without panicking")

	cfg := Config{TokenURL: "https://auth.example.com/token", AuthURL: "https://auth.example.com/authorize", ClientID: "client-1", ClientSecret: "top-secret"}
	assert.Equal(t,
		`tokenkeeper.Config{TokenURL:"https://auth.example.com/token" AuthURL:"https://auth.example.com/authorize" ClientID:"client-1" ClientSecret:REDACTED AuthStyle:in-body}`,
		fmt.Sprint(cfg))
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.JSONEq(t, fmt.Sprintf("%q", fmt.Sprint(cfg)), string(b), "Config as JSON")
	cfg.ClientSecret = ""
	assert.Contains(t, fmt.Sprint(cfg), "ClientSecret:none")
}

func TestValidHeader(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"X-Tenant", "x_y", "A1!#$%&'*+-.^_`|~"} {
		assert.True(t, validHeaderName(name), "validHeaderName(%q)", name)
	}
	for _, name := range []string{"", "a b", "a:b", "a\r\n", "é", "a\x7f", "(x)", "a/b"} {
		assert.False(t, validHeaderName(name), "validHeaderName(%q)", name)
	}
	for _, v := range []string{"", "plain", "with space", "tab\there", "ünï"} {
		assert.True(t, validHeaderValue(v), "validHeaderValue(%q)", v)
	}
	for _, v := range []string{"a\r", "a\n", "a\x00", "a\x7f", "\x1b[31m"} {
		assert.False(t, validHeaderValue(v), "validHeaderValue(%q)", v)
	}
}

func TestRedactEchoes(t *testing.T) {
	t.Parallel()
	c, err := New(Config{TokenURL: "https://auth.example.com/t", ClientID: "client-1", ClientSecret: "client-secret-value"})
	require.NoError(t, err)
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {"client-1"},
		"username":      {"jane"},
		"scope":         {"read"},
		"refresh_token": {"refresh-token-value"},
		"pin":           {"123"},
	}
	e := &Error{
		Code:       "invalid_grant",
		Message:    "refresh-token-value of client-1 (jane, read, pin 123) rejected for client-secret-value",
		URL:        "https://doc.example.com/?t=refresh-token-value",
		APIVersion: "v1.3 refresh-token-value",
		Body:       []byte("refresh-token-value"),
	}
	c.redactEchoes(e, form)
	assert.Equal(t, "invalid_grant", e.Code, "a standard code is never rewritten")
	assert.Equal(t, "REDACTED of client-1 (jane, read, pin 123) rejected for REDACTED", e.Message,
		"credentials are redacted; public values and values too short to matter are kept")
	assert.Equal(t, "https://doc.example.com/?t=REDACTED", e.URL)
	assert.Equal(t, "v1.3 REDACTED", e.APIVersion)
	assert.Equal(t, "refresh-token-value", string(e.Body), "Body is left as received")
	assert.ErrorIs(t, e, ErrInvalidGrant)

	odd := &Error{Code: "bad refresh-token-value"}
	c.redactEchoes(odd, form)
	assert.Equal(t, "bad REDACTED", odd.Code, "a non-standard code is redacted")
}

func TestTokenRequestsNeverFollowRedirects(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	t.Cleanup(other.Close)
	caller := &http.Client{Timeout: 5 * time.Second}
	c, _ := serveTokens(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}, Config{ClientSecret: "SECRET-CLIENT", HTTPClient: caller})

	_, err := c.Token(context.Background(), PasswordGrant("u", "SECRET-PASSWORD"))
	var pe *Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, http.StatusTemporaryRedirect, pe.StatusCode, "a 3xx is the answer, not followed")
	assert.Zero(t, elsewhere.Load(), "the form was re-posted to the redirect target")
	assert.Nil(t, caller.CheckRedirect, "the caller's http.Client was changed")
	assert.Equal(t, 5*time.Second, c.hc.Timeout, "the caller's timeout is kept")
}

// A redirect from the token endpoint is an error that says so, names where
// it points without its query, and is not worth retrying.
func TestTokenRedirectError(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			c, _ := serveTokens(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "https://user:pw@login.example.com/oauth/token?session=SECRET-SESSION#frag")
				w.WriteHeader(status)
			}, Config{})
			_, err := c.Token(context.Background(), PasswordGrant("u", "p"))
			var pe *Error
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, status, pe.StatusCode)
			msg := err.Error()
			assert.Contains(t, msg, "redirects to https://login.example.com/oauth/token;")
			assert.Contains(t, msg, "token requests do not follow redirects")
			for _, hidden := range []string{"SECRET-SESSION", "session=", "user:pw", "frag"} {
				assert.NotContains(t, msg, hidden)
			}
			assert.False(t, IsRetryable(err), "a redirect is permanent")
			assert.False(t, errors.Is(err, ErrMalformedResponse))
		})
	}
	t.Run("relative Location, or none", func(t *testing.T) {
		t.Parallel()
		c, srv := serveTokens(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/oauth/token" {
				w.Header().Set("Location", "/v2/token?x=1")
			}
			w.WriteHeader(http.StatusFound)
		}, Config{})
		_, err := c.Token(context.Background(), PasswordGrant("u", "p"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "redirects to "+srv.URL+"/v2/token;")

		c2, _ := serveTokens(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusFound) }, Config{})
		_, err = c2.Token(context.Background(), PasswordGrant("u", "p"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "redirects to no Location")
	})
}

// New reports each problem on a line of its own, each with the prefix.
func TestNewReportsEachProblemOnItsLine(t *testing.T) {
	t.Parallel()
	_, err := New(Config{TokenURL: "http://auth.example.com/token", AuthStyle: AuthBasic})
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 3, "error:\n%s", err)
	for _, l := range lines {
		assert.True(t, strings.HasPrefix(l, "tokenkeeper: invalid Config: "), "line %q lacks the prefix", l)
		assert.Equal(t, 1, strings.Count(l, "tokenkeeper:"), "line %q repeats the prefix", l)
	}
	assert.Contains(t, lines[0], "plain http")
	assert.Contains(t, lines[1], "ClientID is empty")
	assert.Contains(t, lines[2], "no ClientSecret")
}

// ctxKey marks a caller's context in TestClientLogging.
type ctxKey struct{}

// recordHandler is a slog.Handler that keeps each record's message,
// attribute keys and the value its context carries under ctxKey.
type recordHandler struct {
	mu   sync.Mutex
	recs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(ctx context.Context, r slog.Record) error {
	keys := []string{}
	r.Attrs(func(a slog.Attr) bool { keys = append(keys, a.Key); return true })
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, fmt.Sprintf("%s %v ctx=%v", r.Message, keys, ctx.Value(ctxKey{})))
	return nil
}

// The Client logs each token request with the caller's context and the
// package prefix, and logs nothing without a Logger.
func TestClientLogging(t *testing.T) {
	t.Parallel()
	h := &recordHandler{}
	c, _ := serveTokens(t, reply(http.StatusOK, "application/json", `{"access_token":"at"}`), Config{Logger: slog.New(h)})
	ctx := context.WithValue(context.Background(), ctxKey{}, "request-42")
	_, err := c.Token(ctx, ClientCredentialsGrant())
	require.NoError(t, err)
	down, err := New(Config{TokenURL: "http://127.0.0.1:1/token", ClientID: "id", Logger: slog.New(h)})
	require.NoError(t, err)
	_, err = down.Token(ctx, ClientCredentialsGrant())
	require.Error(t, err)
	assert.Equal(t, []string{
		"tokenkeeper: token response [grant_type status elapsed] ctx=request-42",
		"tokenkeeper: token request failed [grant_type elapsed error] ctx=request-42",
	}, h.recs)

	quiet, _ := serveTokens(t, reply(http.StatusOK, "application/json", `{"access_token":"at"}`), Config{})
	assert.Nil(t, quiet.logger, "no Logger, no logging")
	_, err = quiet.Token(ctx, ClientCredentialsGrant())
	require.NoError(t, err)
}

// A Config marshals to its redacted description, which does not read
// back: the round trip fails loudly instead of losing the secret. A
// configuration file in JSON still reads into a Config.
func TestConfigJSON(t *testing.T) {
	t.Parallel()
	cfg := DaxiumAir("id", "SECRET-CLIENT")
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "SECRET-CLIENT")
	var back Config
	require.Error(t, json.Unmarshal(b, &back), "a marshaled Config reads back")

	var fromFile Config
	require.NoError(t, json.Unmarshal([]byte(`{"TokenURL":"https://auth.example.com/token","ClientID":"id","ClientSecret":"s"}`), &fromFile))
	assert.Equal(t, "s", fromFile.ClientSecret)
}

// New keeps Config.Header under canonical names, merging the values of
// names that differ only in case, so that no request canonicalizes them.
func TestNewCanonicalHeader(t *testing.T) {
	t.Parallel()
	c, err := New(Config{TokenURL: "https://auth.example.com/token", ClientID: "id",
		Header: http.Header{"x-tenant": {"a"}, "X-TENANT": {"b"}, "X-Other": {"o"}}})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a", "b"}, c.header["X-Tenant"])
	assert.Equal(t, []string{"o"}, c.header["X-Other"])
	assert.Len(t, c.header, 2)
}
