package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func TestTestWorkingProfile(t *testing.T) {
	t.Parallel()
	c, srv := setupDaxium(t)
	r := c.run("test", "-p", "dax")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "ok   config profile dax, login password")
	assert.Contains(t, r.stdout, "ok   token  Bearer, expires in")
	assert.Contains(t, r.stdout, "ok   api    GET "+srv.APIURL()+": 200 OK")
	assert.NotContains(t, r.stdout, "at_", "no token printed")
	assert.Empty(t, r.stderr)

	r = c.run("test", "-p", "dax", "-refresh", "-json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var out struct {
		OK    bool   `json:"ok"`
		Steps []step `json:"steps"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	assert.True(t, out.OK)
	assert.Len(t, out.Steps, 3)
	assert.Equal(t, 1, srv.Stats().TokenCalls["refresh_token"])
}

func TestTestFailures(t *testing.T) {
	t.Parallel()
	c, srv := setupDaxium(t)
	down := newServer(t, oauthtest.Options{Preset: oauthtest.Daxium})
	downURL := down.URL()
	down.Close()
	p := daxium(c, srv)
	isDown := *p
	isDown.BaseURL = downURL
	noSecret := *p
	noSecret.Secret = secretRef{Env: "UNSET_SECRET"}
	noPassword := *p
	noPassword.Password = secretRef{Env: "UNSET_PASSWORD"}
	badAPI := *p
	badAPI.APIURL = srv.URL() + "/nowhere"
	writeProfiles(t, c, map[string]*profile{"down": &isDown, "nosecret": &noSecret, "nopw": &noPassword, "badapi": &badAPI})

	for _, tc := range []struct {
		profile string
		code    int
		out     string
	}{
		{"down", exitOther, "FAIL token"},
		{"nosecret", exitUsage, "FAIL config client secret: environment variable UNSET_SECRET is not set"},
		{"nopw", exitUsage, "FAIL config password: environment variable UNSET_PASSWORD is not set"},
		{"badapi", exitRefused, "FAIL api    GET " + srv.URL() + "/nowhere answered 404"},
	} {
		r := c.run("test", "-p", tc.profile, "-timeout", "5s")
		assert.Equal(t, tc.code, r.code, "%s: %s", tc.profile, r.stderr)
		assert.Contains(t, r.stdout, tc.out, tc.profile)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	}
}
