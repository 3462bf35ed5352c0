package tokenkeeper

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func TestCredentialValue(t *testing.T) {
	t.Parallel()
	full := &Token{AccessToken: "at-1", TokenType: "bearer", IDToken: "eyJ.id.sig"}
	tests := []struct {
		name    string
		cred    Credential
		tok     *Token
		want    string
		wantErr string
	}{
		{name: "Bearer access token", cred: Credential{}, tok: full, want: "Bearer at-1"},
		{name: "no token type", cred: Credential{}, tok: &Token{AccessToken: "at-1"}, want: "Bearer at-1"},
		{name: "other token type", cred: Credential{}, tok: &Token{AccessToken: "at-1", TokenType: "DPoP"}, want: "DPoP at-1"},
		{name: "Daxium", cred: DaxiumAir("id", "secret").Credential, tok: full, want: "Bearer at-1"},
		{name: "Transiteo raw id_token", cred: Transiteo("id").Credential, tok: full, want: "eyJ.id.sig"},
		{name: "Auth0", cred: Auth0("t.auth0.com", "id", "").Credential, tok: full, want: "Bearer at-1"},
		{name: "custom header and scheme", cred: Credential{Header: "X-Api-Token", Scheme: "Token"}, tok: full, want: "Token at-1"},
		{name: "scheme with id_token", cred: Credential{Scheme: "JWT", IDToken: true}, tok: full, want: "JWT eyJ.id.sig"},
		{name: "raw access token", cred: Credential{Raw: true}, tok: full, want: "at-1"},
		{name: "Transiteo without id_token", cred: Transiteo("id").Credential, tok: &Token{AccessToken: "at-1"}, wantErr: "tokenkeeper: the token has no id_token to send"},
		{name: "no access token", cred: Credential{}, tok: &Token{IDToken: "x"}, wantErr: "tokenkeeper: the token has no access_token to send"},
		{name: "nil token", cred: Credential{}, tok: nil, wantErr: "no token"},
		{name: "access token with CRLF", cred: Credential{}, tok: &Token{AccessToken: "at\r\nX-Injected: 1"}, wantErr: "access_token has characters not allowed in a header"},
		{name: "access token with LF", cred: Credential{Raw: true}, tok: &Token{AccessToken: "at\n"}, wantErr: "not allowed in a header"},
		{name: "access token with a space", cred: Credential{}, tok: &Token{AccessToken: "at 1"}, wantErr: "not allowed in a header"},
		{name: "id_token with CR", cred: Transiteo("id").Credential, tok: &Token{IDToken: "id\r"}, wantErr: "id_token has characters not allowed in a header"},
		{name: "id_token with NUL", cred: Transiteo("id").Credential, tok: &Token{IDToken: "id\x00"}, wantErr: "not allowed in a header"},
		{name: "token_type with CRLF", cred: Credential{}, tok: &Token{AccessToken: "at", TokenType: "Bearer\r\nX-Injected: 1"}, wantErr: "token_type has characters not allowed"},
		{name: "token_type with a space", cred: Credential{}, tok: &Token{AccessToken: "at", TokenType: "Bearer x"}, wantErr: "token_type has characters not allowed"},
		{name: "odd token_type ignored by a fixed scheme", cred: Credential{Scheme: "Bearer"}, tok: &Token{AccessToken: "at", TokenType: "a b"}, want: "Bearer at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.cred.value(tt.tok)
			if tt.wantErr != "" {
				require.Error(t, err, "value = %q", got)
				assert.Empty(t, got)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestPresetConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cfg    Config
		want   Config
		header string // Client credential header
	}{
		{
			name: "Daxium Air",
			cfg:  DaxiumAir("dax-id", "dax-secret"),
			want: Config{
				TokenURL:     "https://api.daxium-air.com/oauth/v2/token",
				ClientID:     "dax-id",
				ClientSecret: "dax-secret",
				AuthStyle:    AuthInBody,
				Header:       http.Header{"X-Accept-Version": {"v1.3"}},
			},
			header: "Authorization",
		},
		{
			name: "Transiteo",
			cfg:  Transiteo("tr-id"),
			want: Config{
				TokenURL:   "https://auth.transiteo.io/oauth2/token",
				ClientID:   "tr-id",
				AuthStyle:  AuthNone,
				Credential: Credential{Raw: true, IDToken: true},
			},
			header: "Authorization",
		},
		{
			name: "Auth0",
			cfg:  Auth0("tenant.eu.auth0.com", "a0-id", "a0-secret"),
			want: Config{
				TokenURL:     "https://tenant.eu.auth0.com/oauth/token",
				AuthURL:      "https://tenant.eu.auth0.com/authorize",
				ClientID:     "a0-id",
				ClientSecret: "a0-secret",
				AuthStyle:    AuthInBody,
			},
			header: "Authorization",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want.TokenURL, tt.cfg.TokenURL, "TokenURL")
			assert.Equal(t, tt.want.AuthURL, tt.cfg.AuthURL, "AuthURL")
			assert.Equal(t, tt.want.ClientID, tt.cfg.ClientID, "ClientID")
			assert.Equal(t, tt.want.ClientSecret, tt.cfg.ClientSecret, "ClientSecret")
			assert.Equal(t, tt.want.AuthStyle, tt.cfg.AuthStyle, "AuthStyle")
			assert.Equal(t, tt.want.Header, tt.cfg.Header, "Header")
			assert.Equal(t, tt.want.Credential, tt.cfg.Credential, "Credential")
			c, err := New(tt.cfg)
			require.NoError(t, err, "New with the preset's Config")
			assert.Equal(t, tt.header, c.credential.Header)
		})
	}

	t.Run("Transiteo refuses a secret", func(t *testing.T) {
		t.Parallel()
		cfg := Transiteo("tr-id")
		cfg.ClientSecret = "oops"
		_, err := New(cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "AuthNone")
	})
}

// Each preset call returns a new value: what one importer changes in it,
// its Header map and ClientErrorCodes included, no other call sees.
func TestPresetsAreFresh(t *testing.T) {
	t.Parallel()
	presets := []struct {
		name string
		get  func() Config
	}{
		{"DaxiumAir", func() Config { return DaxiumAir("id", "secret") }},
		{"Transiteo", func() Config { return Transiteo("id") }},
		{"Auth0", func() Config { return Auth0("tenant.eu.auth0.com", "id", "secret") }},
	}
	for _, tt := range presets {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := tt.get()
			wantHeader := want.Header.Clone()
			wantCodes := slices.Clone(want.ClientErrorCodes)

			p := tt.get()
			p.TokenURL = "https://attacker.example/token"
			p.AuthURL = "https://attacker.example/authorize"
			p.AuthStyle = AuthBasic
			p.Credential = Credential{Header: "X-Leak", Scheme: "Leak"}
			if p.Header == nil {
				p.Header = http.Header{}
			}
			p.Header.Set("X-Accept-Version", "v0")
			p.Header.Set("X-Injected", "yes")
			if len(p.ClientErrorCodes) > 0 {
				p.ClientErrorCodes[0] = "changed"
			}

			got := tt.get()
			assert.Equal(t, want.TokenURL, got.TokenURL, "TokenURL")
			assert.Equal(t, want.AuthURL, got.AuthURL, "AuthURL")
			assert.Equal(t, want.AuthStyle, got.AuthStyle, "AuthStyle")
			assert.Equal(t, want.Credential, got.Credential, "Credential")
			assert.Equal(t, wantHeader, got.Header, "Header")
			assert.Equal(t, wantHeader, want.Header, "Header of an earlier call")
			assert.Equal(t, wantCodes, got.ClientErrorCodes, "ClientErrorCodes")
		})
	}
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		cfg           Config
		base          string
		token, author string
	}{
		{"Daxium", DaxiumAir("id", "s"), "http://127.0.0.1:8080", "http://127.0.0.1:8080/oauth/v2/token", ""},
		{"trailing slash", DaxiumAir("id", "s"), "http://127.0.0.1:8080/", "http://127.0.0.1:8080/oauth/v2/token", ""},
		{"path prefix", Transiteo("id"), "http://127.0.0.1:8080/mock/", "http://127.0.0.1:8080/mock/oauth2/token", ""},
		{"Auth0 both endpoints", Auth0("tenant.auth0.com", "id", ""), "http://[::1]:9000", "http://[::1]:9000/oauth/token", "http://[::1]:9000/authorize"},
		{"endpoint without a path", Config{TokenURL: "https://auth.example.com", ClientID: "id"}, "http://localhost:1", "http://localhost:1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.BaseURL = tt.base
			c, err := New(cfg)
			require.NoError(t, err)
			assert.Equal(t, tt.token, c.tokenURL, "TokenURL")
			if tt.author == "" {
				assert.Nil(t, c.authURL, "AuthURL")
			} else {
				assert.Equal(t, tt.author, c.authURL.String(), "AuthURL")
			}
			assert.Equal(t, tt.cfg.ClientID, c.clientID, "ClientID")
			assert.Equal(t, tt.cfg.AuthStyle, c.style, "AuthStyle")
		})
	}
	t.Run("endpoint without a scheme kept", func(t *testing.T) {
		t.Parallel()
		got := Config{TokenURL: "relative/token", BaseURL: "http://localhost:1"}.rebased()
		assert.Equal(t, "relative/token", got.TokenURL)
	})
	t.Run("leaves the Config alone", func(t *testing.T) {
		t.Parallel()
		cfg := DaxiumAir("id", "s")
		cfg.BaseURL = "http://127.0.0.1:1"
		_, err := New(cfg)
		require.NoError(t, err)
		assert.Equal(t, "https://api.daxium-air.com/oauth/v2/token", cfg.TokenURL)
		assert.Contains(t, fmt.Sprint(cfg), `BaseURL:"http://127.0.0.1:1"`)
	})
	t.Run("a bad base is one error", func(t *testing.T) {
		t.Parallel()
		for _, base := range []string{"127.0.0.1:8080", "http://example.com", "ftp://127.0.0.1"} {
			cfg := DaxiumAir("id", "s")
			cfg.BaseURL = base
			_, err := New(cfg)
			require.Error(t, err, base)
			assert.Contains(t, err.Error(), "BaseURL", base)
			assert.NotContains(t, err.Error(), "TokenURL", base)
		}
	})
}

func TestAuth0(t *testing.T) {
	t.Parallel()
	for _, domain := range []string{"tenant.eu.auth0.com", "https://tenant.eu.auth0.com", "https://tenant.eu.auth0.com/"} {
		cfg := Auth0(domain, "id", "secret")
		assert.Equal(t, "https://tenant.eu.auth0.com/oauth/token", cfg.TokenURL, "Auth0(%q).TokenURL", domain)
		assert.Equal(t, "https://tenant.eu.auth0.com/authorize", cfg.AuthURL, "Auth0(%q).AuthURL", domain)
		assert.Equal(t, AuthInBody, cfg.AuthStyle, "Auth0(%q).AuthStyle", domain)
		assert.Equal(t, Credential{}, cfg.Credential, "Auth0(%q).Credential", domain)
		_, err := New(cfg)
		assert.NoError(t, err, "New(Auth0(%q))", domain)
	}
	_, err := New(Auth0("", "id", "secret"))
	assert.Error(t, err, "an empty domain gives an invalid Config")
}

// TestClientErrorCodesMatchInvalidClient: a preset's own code for a
// rejected client matches ErrInvalidClient, on the password and the
// refresh grant alike; a rejected grant does not.
func TestClientErrorCodesMatchInvalidClient(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	cfg := DaxiumAir(oauthtest.DefaultClientID, "wrong-secret")
	cfg.BaseURL = srv.URL()
	cfg.HTTPClient = srv.Client()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []Grant{mtDaxiumLogin, RefreshTokenGrant("some-refresh-token")} {
		_, err := c.Token(context.Background(), g)
		if !errors.Is(err, ErrInvalidClient) {
			t.Errorf("%s grant with a wrong secret: err = %v; want ErrInvalidClient", g.grantType(), err)
		}
	}
	good := mtDaxiumClient(t, srv.URL(), clock, srv.Client())
	_, err = good.Token(context.Background(), RefreshTokenGrant("unknown"))
	if err == nil || errors.Is(err, ErrInvalidClient) {
		t.Errorf("unknown refresh token: err = %v; want a rejection that is not ErrInvalidClient", err)
	}
}
