package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// fakeToken matches the tokens and codes oauthtest mints: a kind prefix and
// 26 base32 characters.
var fakeToken = regexp.MustCompile(`\b(at|rt|id|ac)_[A-Z2-7]{26}\b`)

// checkFakeToken makes sure fakeToken still matches what oauthtest mints,
// so that the search for leaked tokens cannot pass by missing them.
func checkFakeToken(t *testing.T) {
	t.Helper()
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr := srv.Issue("", "openid offline_access")
	for _, tok := range []string{tr.AccessToken, tr.RefreshToken, tr.IDToken} {
		if !fakeToken.MatchString(tok) {
			t.Fatalf("fakeToken does not match the minted token %q", tok)
		}
	}
}

// env returns a getenv that knows only vars, so that the variables of the
// machine running the test never send it to the real provider.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func runOffline(t *testing.T, vars map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, env(vars)); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	return out.String()
}

func assertLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, line := range want {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q\noutput:\n%s", line, out)
		}
	}
}

func TestOffline(t *testing.T) {
	defer goleak.VerifyNone(t)
	checkFakeToken(t)
	out := runOffline(t, nil)
	assertLines(t, out,
		"running offline against a fake Daxium Air at http://127.0.0.1:",
		"Token file: a temporary one, removed on exit",
		"   logged in with the password grant\n",
		"tokenkeeper.Token{type=Bearer access=REDACTED refresh=REDACTED id=none expiry=",
		"   token file permissions: -rw-------\n",
		"   GET /api/v1.3/me -> 200 OK (",
		"   rate limited (DAERR-LOG013): try again in 30s, never in a loop\n",
		"   a new login is needed: the refresh token was refused (DAERR-AUTH003)\n",
		"   the provider refused: HTTP 401, DAERR-AUTH002: invalid username or password\n",
		"   check the client ID and secret, the username and the password\n",
	)
	if tok := fakeToken.FindString(out); tok != "" {
		t.Errorf("output holds the token %q:\n%s", tok, out)
	}
	for _, secret := range []string{oauthtest.DefaultClientSecret, oauthtest.DefaultPassword, "not the password"} {
		if strings.Contains(out, secret) {
			t.Errorf("output holds the secret %q:\n%s", secret, out)
		}
	}
}

// TestOfflineTokenFile runs with DAXIUM_TOKEN_FILE: the token is kept there,
// 0600, readable by the next run, and none of its secrets is printed.
func TestOfflineTokenFile(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "token.json")
	out := runOffline(t, map[string]string{"DAXIUM_TOKEN_FILE": path})
	assertLines(t, out, "Token file: "+path+"\n", "   GET /api/v1.3/me -> 200 OK (")

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("token file mode = %v; want -rw-------", got)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenkeeper.DecodeToken(data)
	if err != nil {
		t.Fatalf("DecodeToken: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("saved token lacks its access or refresh token: %v", tok)
	}
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken} {
		if strings.Contains(out, secret) {
			t.Errorf("output holds a secret of the saved token:\n%s", out)
		}
	}
}

func TestPartialEnvironment(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	err := run(context.Background(), &out, env(map[string]string{
		"DAXIUM_CLIENT_ID":     "id",
		"DAXIUM_CLIENT_SECRET": "s3cret-value",
	}))
	if err == nil {
		t.Fatal("run succeeded with half the credentials; want an error")
	}
	want := "DAXIUM_CLIENT_ID, DAXIUM_CLIENT_SECRET set but not DAXIUM_USERNAME, DAXIUM_PASSWORD"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q; want it to contain %q", err, want)
	}
	if strings.Contains(err.Error()+out.String(), "s3cret-value") {
		t.Error("the secret is printed")
	}
}
