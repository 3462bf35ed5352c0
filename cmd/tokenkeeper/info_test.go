package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func TestInfo(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Transiteo})
	c := newCLI(t, nil)
	c.setenv("TR_RT=" + srv.RefreshToken())
	writeProfiles(t, c, map[string]*profile{"tr": {
		Preset: "transiteo", ClientID: oauthtest.DefaultClientID,
		RefreshToken: secretRef{Env: "TR_RT"}, BaseURL: srv.URL(),
	}})
	h := c.run("header", "-p", "tr", "-value")
	require.Equal(t, exitOK, h.code, h.stderr)
	idToken := strings.TrimSpace(h.stdout)

	r := c.run("info", "-p", "tr")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"sub": "`+oauthtest.DefaultUser+`"`)
	assert.Contains(t, r.stdout, `"alg": "ES256"`)
	assert.Contains(t, r.stdout, `"expires_in": "59m`)
	assert.NotContains(t, r.stdout, idToken[strings.LastIndex(idToken, ".")+1:], "no signature")
	assert.NotContains(t, r.stdout, srv.RefreshToken())
}

// seed stores a token set issued by srv for scope in profile name's
// cache; expired makes its access token expired.
func seed(t *testing.T, c *cli, name string, srv *oauthtest.Server, scope string, expired bool) oauthtest.TokenResponse {
	t.Helper()
	tr := srv.Issue("", scope)
	tok := &tokenkeeper.Token{
		AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, IDToken: tr.IDToken,
		TokenType: tr.TokenType, Scope: tr.Scope,
		Expiry: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second),
	}
	if expired {
		tok.Expiry = time.Now().Add(-time.Minute)
	}
	st, err := store(c.dir, name)
	require.NoError(t, err)
	require.NoError(t, st.Save(context.Background(), tok))
	return tr
}

func TestInfoVerify(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Auth0})
	c := newCLI(t, nil)
	p := auth0Login(c, srv)
	withJWKS := *p
	withJWKS.JWKSURL = srv.JWKSURL()
	withJWKS.IDTokenAlgs = []string{"ES256"}
	writeProfiles(t, c, map[string]*profile{"a0": p, "jwks": &withJWKS, "forged": p, "noid": p})
	seed(t, c, "a0", srv, "openid", false)
	seed(t, c, "jwks", srv, "openid", false)
	seed(t, c, "noid", srv, "profile", false)

	for _, name := range []string{"a0", "jwks"} {
		r := c.run("info", "-p", name, "-verify")
		require.Equal(t, exitOK, r.code, "%s: %s", name, r.stderr)
		assert.Contains(t, r.stdout, `"id_token_verified": true`, name)
		assert.Contains(t, r.stdout, `"iss": "`+srv.Issuer()+`"`, name)
	}

	// An id_token for another client, signed with the provider's key.
	forged := seed(t, c, "forged", srv, "openid", false)
	st, err := store(c.dir, "forged")
	require.NoError(t, err)
	tok, err := st.Load(context.Background())
	require.NoError(t, err)
	tok.IDToken = srv.SignIDToken(map[string]any{
		"iss": srv.Issuer(), "sub": oauthtest.DefaultUser, "aud": "someone-else",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	require.NoError(t, st.Save(context.Background(), tok))
	r := c.run("info", "-p", "forged", "-verify")
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Contains(t, r.stderr, "aud")
	assert.Empty(t, r.stdout)
	assert.NotContains(t, r.stderr, forged.AccessToken)

	r = c.run("info", "-p", "noid", "-verify")
	assert.Equal(t, exitUsage, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no id_token")
}
