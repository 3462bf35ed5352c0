package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tokenkeeper-cli")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tokenkeeper")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildFailure{out: string(out), err: err}
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

type buildFailure struct {
	out string
	err error
}

func (b *buildFailure) Error() string { return b.err.Error() + ": " + b.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// cli is a config folder with profiles and the environment to run the
// command in.
type cli struct {
	t   *testing.T
	dir string
	env []string
}

func newCLI(t *testing.T, profiles map[string]*profile) *cli {
	t.Helper()
	dir := t.TempDir()
	b, err := json.Marshal(file{Profiles: profiles})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600))
	return &cli{t: t, dir: dir, env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		envConfigDir + "=" + dir,
		"NO_COLOR=1",
	}}
}

func (c *cli) setenv(kv ...string) { c.env = append(c.env, kv...) }

// result is what a run printed and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the command to its end (at most 30 s).
func (c *cli) run(args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := c.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(c.t, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func (c *cli) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary(c.t), args...)
	cmd.Env = c.env
	return cmd
}

// cacheFile returns the content of profile name's cache file.
func (c *cli) cacheFile(name string) string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "tokens", name+".json"))
	require.NoError(c.t, err)
	return string(b)
}

func newServer(t *testing.T, opts oauthtest.Options) *oauthtest.Server {
	t.Helper()
	srv, err := oauthtest.NewServer(opts)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// daxium is a Daxium profile on srv, its secrets in the environment.
func daxium(c *cli, srv *oauthtest.Server) *profile {
	c.setenv("DAX_SECRET="+oauthtest.DefaultClientSecret, "DAX_PASSWORD="+oauthtest.DefaultPassword)
	return &profile{
		Preset: "daxium", ClientID: oauthtest.DefaultClientID,
		Secret:   secretRef{Env: "DAX_SECRET"},
		Username: oauthtest.DefaultUser, Password: secretRef{Env: "DAX_PASSWORD"},
		BaseURL: srv.URL(), APIURL: srv.APIURL(),
	}
}

// setup starts a Daxium server and a config folder with profile "dax".
func setupDaxium(t *testing.T) (*cli, *oauthtest.Server) {
	t.Helper()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Daxium})
	c := newCLI(t, nil)
	writeProfiles(t, c, map[string]*profile{"dax": daxium(c, srv)})
	return c, srv
}

func writeProfiles(t *testing.T, c *cli, profiles map[string]*profile) {
	t.Helper()
	b, err := json.Marshal(file{Profiles: profiles})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(c.dir, "config.json"), b, 0o600))
}

func TestHelp(t *testing.T) {
	t.Parallel()
	c := newCLI(t, nil)
	r := c.run("-h")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stdout, "Exit codes:")
	for name := range commands {
		r := c.run(name, "-h")
		assert.Equal(t, exitOK, r.code, name)
		assert.Contains(t, r.stderr, "Examples:", name)
	}
	r = c.run("frobnicate")
	assert.Equal(t, exitUsage, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	r = c.run("fetch", "-p", "dax", "extra")
	assert.Equal(t, exitUsage, r.code)
}

// auth0 is an Auth0 profile on srv with client credentials.
func auth0(c *cli, srv *oauthtest.Server) *profile {
	c.setenv("A0_SECRET=" + oauthtest.DefaultClientSecret)
	return &profile{
		Preset: "auth0", ClientID: oauthtest.DefaultClientID,
		Secret:   secretRef{Env: "A0_SECRET"},
		Audience: oauthtest.DefaultAudience,
		BaseURL:  srv.URL(), APIURL: srv.APIURL(),
	}
}
