package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func TestFetchCachesAndRefreshes(t *testing.T) {
	t.Parallel()
	c, srv := setupDaxium(t)

	r := c.run("fetch", "-p", "dax")
	require.Equal(t, exitOK, r.code, r.stderr)
	first := strings.TrimSpace(r.stdout)
	assert.True(t, strings.HasPrefix(first, "at_"), first)
	assert.Empty(t, r.stderr)
	fi, err := os.Stat(filepath.Join(c.dir, "tokens", "dax.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	r = c.run("fetch", "-p", "dax")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, first, strings.TrimSpace(r.stdout), "cached token")
	assert.Equal(t, 1, srv.Stats().Logins)

	r = c.run("fetch", "-p", "dax", "-refresh", "-json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotContains(t, r.stdout, first)
	assert.Contains(t, r.stdout, `"expires_in"`)
	assert.Equal(t, 1, srv.Stats().TokenCalls["refresh_token"])
}

func TestFetchSealedCache(t *testing.T) {
	t.Parallel()
	c, _ := setupDaxium(t)
	c.setenv(envKeys + "=k1=" + strings.Repeat("A", 43))
	r := c.run("fetch", "-p", "dax")
	require.Equal(t, exitOK, r.code, r.stderr)
	b, err := os.ReadFile(filepath.Join(c.dir, "tokens", "dax.json"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "tokenkeeper-sealed:"), "cache is sealed")
	assert.NotContains(t, string(b), strings.TrimSpace(r.stdout))
}

func TestFetchErrors(t *testing.T) {
	t.Parallel()
	c, srv := setupDaxium(t)
	down := newServer(t, oauthtest.Options{Preset: oauthtest.Daxium})
	downURL := down.URL()
	down.Close()
	p := daxium(c, srv)
	noSecret := *p
	noSecret.Secret = secretRef{Env: "UNSET_SECRET"}
	badSecret := *p
	badSecret.Secret = secretRef{File: filepath.Join(c.dir, "missing")}
	wrongPw := *p
	c.setenv("WRONG_PW=nope")
	wrongPw.Password = secretRef{Env: "WRONG_PW"}
	isDown := *p
	isDown.BaseURL = downURL
	writeProfiles(t, c, map[string]*profile{"dax": p, "nosecret": &noSecret, "badsecret": &badSecret, "wrongpw": &wrongPw, "down": &isDown})

	for _, tc := range []struct {
		profile string
		code    int
		msg     string
	}{
		{"nope", exitUsage, `unknown profile "nope"`},
		{"../x", exitUsage, "invalid profile name"},
		{"nosecret", exitUsage, "UNSET_SECRET is not set"},
		{"badsecret", exitUsage, "cannot read file"},
		{"wrongpw", exitRefused, oauthtest.CodeInvalidCredentials},
		{"down", exitOther, "tokenkeeper fetch:"},
	} {
		r := c.run("fetch", "-p", tc.profile, "-timeout", "5s")
		assert.Equal(t, tc.code, r.code, "%s: %s", tc.profile, r.stderr)
		assert.Contains(t, r.stderr, tc.msg, tc.profile)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
		assert.Empty(t, r.stdout, tc.profile)
		assert.NotContains(t, r.stderr, "nope\n", "no secret")
	}
}

func TestHeader(t *testing.T) {
	t.Parallel()
	dax, _ := setupDaxium(t)
	r := dax.run("header", "-p", "dax")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `^Authorization: Bearer at_\S+\n$`, r.stdout)

	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Transiteo})
	c := newCLI(t, nil)
	c.setenv("TR_RT=" + srv.RefreshToken())
	writeProfiles(t, c, map[string]*profile{"tr": {
		Preset: "transiteo", ClientID: oauthtest.DefaultClientID,
		RefreshToken: secretRef{Env: "TR_RT"}, BaseURL: srv.URL(),
	}})
	r = c.run("header", "-p", "tr", "-value")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `^eyJ\S+\n$`, r.stdout, "raw id_token, no scheme")
	r = c.run("header", "-p", "tr", "-json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"name": "Authorization"`)
}

func TestFetchIssuerProfile(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Auth0})
	c := newCLI(t, nil)
	c.setenv("A0_SECRET=" + oauthtest.DefaultClientSecret)
	writeProfiles(t, c, map[string]*profile{"oidc": {
		Issuer: srv.Issuer(), ClientID: oauthtest.DefaultClientID,
		Secret: secretRef{Env: "A0_SECRET"}, Audience: oauthtest.DefaultAudience,
		APIURL: srv.APIURL(),
	}})
	r := c.run("test", "-p", "oidc")
	require.Equal(t, exitOK, r.code, r.stderr+r.stdout)
	assert.Contains(t, r.stdout, "login client_credentials")
	assert.Equal(t, 1, srv.Stats().TokenCalls["client_credentials"])

	seed(t, c, "oidc", srv, "openid", false)
	r = c.run("info", "-p", "oidc", "-verify")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"id_token_verified": true`)
}

func TestFetchExpiredLogin(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Auth0})
	c := newCLI(t, nil)
	writeProfiles(t, c, map[string]*profile{"a0": auth0Login(c, srv)})
	tr := seed(t, c, "a0", srv, "openid offline_access", true)
	srv.RevokeRefreshToken(tr.RefreshToken)

	r := c.run("fetch", "-p", "a0")
	assert.Equal(t, exitLogin, r.code, r.stderr)
	assert.Contains(t, r.stderr, "(profile a0)")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	assert.Empty(t, r.stdout)
	assert.NotContains(t, r.stderr, tr.RefreshToken)
	assert.Equal(t, 1, srv.Stats().TokenCalls["refresh_token"])
}
