package interop

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommandTokenkeeper drives the tokenkeeper command, built from this
// repository, against the real OpenID Provider: a profile that names only
// the issuer (discovery) and the service client, checked end to end with
// test, then a token with fetch and the credential header with header.
func TestCommandTokenkeeper(t *testing.T) {
	t.Parallel()
	c := row(t, flowCommand, tk)
	p := startOP(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "tokenkeeper")
	build := exec.Command("go", "build", "-o", bin, "github.com/tokenkeeper/tokenkeeper/cmd/tokenkeeper")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the command: %v\n%s", err, out)
	}
	config := `{"profiles":{"op":{"issuer":"` + p.Issuer + `","client_id":"` + serviceID +
		`","secret":{"env":"OP_SECRET"},"login":"client_credentials"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TOKENKEEPER_CONFIG_DIR=" + dir, "OP_SECRET=" + serviceSecret, "NO_COLOR=1"}
	run := func(args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("tokenkeeper %s: %v", strings.Join(args, " "), err)
		}
		if err != nil {
			t.Fatalf("tokenkeeper %s: exit %d: %s", strings.Join(args, " "), exit.ExitCode(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	run("test", "-p", "op")
	token, _ := run("fetch", "-p", "op")
	if strings.TrimSpace(token) == "" {
		t.Fatal("fetch printed no token")
	}
	header, _ := run("header", "-p", "op")
	if want := "Bearer " + strings.TrimSpace(token); !strings.Contains(header, want) {
		t.Errorf("header = %q; want it to carry the fetched token as %q", header, "Bearer …")
	}
	calls := p.wire.exchanges("client_credentials")
	if len(calls) != 1 || calls[0].Status != 200 {
		t.Errorf("client credentials requests = %d; want 1 (test logged in, fetch and header used the cache)", len(calls))
	}
	c.notef("a profile naming the issuer only: discovery, client credentials, the token cached between runs")
}
