package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func TestRequest(t *testing.T) {
	t.Parallel()
	c, srv := setupDaxium(t)
	r := c.run("request", "-p", "dax", "-X", "POST", "-d", "hello", "-H", "X-Test: 1", srv.APIURL())
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "200 OK")
	assert.Contains(t, r.stdout, "hello")
	assert.Contains(t, r.stdout, oauthtest.DefaultUser)

	r = c.run("request", "-p", "dax", "-json", srv.APIURL())
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"status": 200`)
}

func TestRequestDecodesProviderError(t *testing.T) {
	t.Parallel()
	c, srv := setupDaxium(t)
	// An API version the API refuses: a DAERR body, decoded.
	r := c.run("request", "-p", "dax", "-H", "X-Accept-Version: v9", srv.APIURL())
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Contains(t, r.stderr, oauthtest.CodeUnsupportedAPIVersion)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	assert.Empty(t, r.stdout)

	r = c.run("request", "-p", "dax", "-json", "-H", "X-Accept-Version: v9", srv.APIURL())
	assert.Equal(t, exitRefused, r.code)
	assert.Contains(t, r.stdout, `"code": "`+oauthtest.CodeUnsupportedAPIVersion+`"`)

	r = c.run("request", "-p", "dax")
	assert.Equal(t, exitUsage, r.code)
	r = c.run("request", "-p", "dax", "-H", "nocolon", srv.APIURL())
	assert.Equal(t, exitUsage, r.code)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Auth0})
	c := newCLI(t, nil)
	writeProfiles(t, c, map[string]*profile{"a0": auth0(c, srv)})
	r := c.run("fetch", "-p", "a0")
	require.Equal(t, exitOK, r.code, r.stderr)
	at := strings.TrimSpace(r.stdout)

	r = c.run("logout", "-p", "a0")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "revoked")
	assert.Equal(t, 1, srv.Stats().Revocations)
	assert.NotContains(t, c.cacheFile("a0"), at, "cache cleared")

	// A new fetch logs in again.
	r = c.run("fetch", "-p", "a0")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.NotEqual(t, at, strings.TrimSpace(r.stdout))
	r = c.run("revoke", "-p", "a0")
	assert.Equal(t, exitOK, r.code, r.stderr)

	dax, _ := setupDaxium(t)
	require.Equal(t, exitOK, dax.run("fetch", "-p", "dax").code)
	r = dax.run("logout", "-p", "dax")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no revocation endpoint")
	assert.NotContains(t, dax.cacheFile("dax"), "at_")
}
