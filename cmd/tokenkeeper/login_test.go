package main

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// auth0Login is an Auth0 profile on srv with no login of its own: it gets
// tokens by the login command.
func auth0Login(c *cli, srv *oauthtest.Server) *profile {
	c.setenv("A0_SECRET=" + oauthtest.DefaultClientSecret)
	return &profile{
		Preset: "auth0", ClientID: oauthtest.DefaultClientID,
		Secret:  secretRef{Env: "A0_SECRET"},
		Scopes:  []string{"openid", "offline_access"},
		BaseURL: srv.URL(), APIURL: srv.APIURL(),
	}
}

var userCodeLine = regexp.MustCompile(`enter the code (\S+)`)

// login runs the login command and decides its device authorization with
// decide once the command shows the user code.
func (c *cli) login(profileName string, decide func(userCode string) bool) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := c.command(ctx, "login", "-p", profileName)
	var out strings.Builder
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	require.NoError(c.t, err)
	require.NoError(c.t, cmd.Start())
	var errb strings.Builder
	sc := bufio.NewScanner(io.TeeReader(stderr, &errb))
	decided := false
	for sc.Scan() {
		if m := userCodeLine.FindStringSubmatch(sc.Text()); m != nil && !decided {
			decided = true
			assert.True(c.t, decide(m[1]), "a pending authorization for %s", m[1])
		}
	}
	assert.True(c.t, decided, "the user code is shown: %s", errb.String())
	code := 0
	if err := cmd.Wait(); err != nil {
		code = err.(interface{ ExitCode() int }).ExitCode()
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func TestLoginDevice(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Auth0})
	c := newCLI(t, nil)
	writeProfiles(t, c, map[string]*profile{"a0": auth0Login(c, srv)})

	r := c.run("fetch", "-p", "a0")
	assert.Equal(t, exitLogin, r.code, "no login yet: %s", r.stderr)

	r = c.login("a0", srv.ApproveDevice)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, srv.URL()+"/activate")
	assert.Contains(t, r.stderr, "Waiting for approval: 15m0s left")
	assert.Contains(t, r.stderr, "logged in")
	assert.NotContains(t, r.stderr, "\x1b[", "NO_COLOR")
	assert.Equal(t, 1, srv.Stats().Logins)

	r = c.run("fetch", "-p", "a0")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, "at_"), r.stdout)
	assert.NotContains(t, c.cacheFile("a0"), "dc_", "no device code cached")
	r = c.run("fetch", "-p", "a0", "-refresh")
	require.Equal(t, exitOK, r.code, "the login brought a refresh token: %s", r.stderr)
}

func TestLoginDeviceDenied(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Auth0})
	c := newCLI(t, nil)
	writeProfiles(t, c, map[string]*profile{"a0": auth0Login(c, srv)})

	r := c.login("a0", srv.DenyDevice)
	assert.Equal(t, exitRefused, r.code, r.stderr)
	assert.Contains(t, r.stderr, "access_denied")
	assert.Empty(t, r.stdout)
	r = c.run("fetch", "-p", "a0")
	assert.Equal(t, exitLogin, r.code, "nothing cached: %s", r.stderr)
}

// TestLoginCode: login -code prints the authorization page; a browser that
// follows it (here an HTTP client, which the fake logs in at once) comes
// back to the command's loopback redirect, which exchanges the code with
// PKCE and caches the token; fetch then serves it without a token call.
func TestLoginCode(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Auth0})
	c := newCLI(t, nil)
	writeProfiles(t, c, map[string]*profile{"a0": auth0Login(c, srv)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := c.command(ctx, "login", "-p", "a0", "-code")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var errb strings.Builder
	sc := bufio.NewScanner(io.TeeReader(stderr, &errb))
	visited := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !visited && strings.HasPrefix(line, "http") {
			visited = true
			assert.Contains(t, line, "code_challenge_method=S256")
			resp, err := srv.Client().Get(line) // the provider redirects to the loopback callback
			require.NoError(t, err)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, 200, resp.StatusCode, string(body))
		}
	}
	require.NoError(t, cmd.Wait(), errb.String())
	assert.True(t, visited, "the page to open is shown: %s", errb.String())
	assert.Equal(t, 1, srv.Stats().TokenCalls["authorization_code"])

	r := c.run("fetch", "-p", "a0")
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.NotEmpty(t, strings.TrimSpace(r.stdout))
	assert.Equal(t, 1, srv.Stats().TokenCallsTotal, "fetch used the cached token")
}
