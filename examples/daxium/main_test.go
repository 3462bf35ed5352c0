package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/exampletest"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func TestOffline(t *testing.T) {
	defer goleak.VerifyNone(t)
	out := exampletest.RunOffline(t, run, nil)
	exampletest.AssertContains(t, out,
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
	exampletest.AssertNoToken(t, out)
	exampletest.AssertNoSecret(t, out, oauthtest.DefaultClientSecret, oauthtest.DefaultPassword, "not the password")
}

// TestOfflineTokenFile runs with DAXIUM_TOKEN_FILE: the token is kept there,
// 0600, readable by the next run, and none of its secrets is printed.
func TestOfflineTokenFile(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "token.json")
	out := exampletest.RunOffline(t, run, map[string]string{"DAXIUM_TOKEN_FILE": path})
	exampletest.AssertContains(t, out, "Token file: "+path+"\n", "   GET /api/v1.3/me -> 200 OK (")

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
	exampletest.AssertNoSecret(t, out, tok.AccessToken, tok.RefreshToken)
}

func TestPartialEnvironment(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	err := run(context.Background(), &out, exampletest.Env(map[string]string{
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
