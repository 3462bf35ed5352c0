package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

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

func TestOffline(t *testing.T) {
	defer goleak.VerifyNone(t)
	checkFakeToken(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, env(nil)); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	for _, want := range []string{
		"running offline against a fake Transiteo at http://127.0.0.1:",
		"tokenkeeper.Token{type=Bearer access=REDACTED refresh=REDACTED id=REDACTED expiry=",
		"   no refresh token in the answer; the console's one is kept: true\n",
		"   GET /v1/ping -> 200 OK (",
		"   the Authorization header was the raw id_token, with no \"Bearer\": true\n",
		"   (API answers 401: 1, refresh_token grants: 2)\n",
		"   the refresh token was refused (invalid_grant): get a new one from the Transiteo console\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q\noutput:\n%s", want, out.String())
		}
	}
	if tok := fakeToken.FindString(out.String()); tok != "" {
		t.Errorf("output holds the token %q:\n%s", tok, out.String())
	}
}

func TestHalfTheCredentials(t *testing.T) {
	defer goleak.VerifyNone(t)
	err := run(context.Background(), &bytes.Buffer{}, env(map[string]string{"TRANSITEO_REFRESH_TOKEN": "rt_secret"}))
	if err == nil || strings.Contains(err.Error(), "rt_secret") {
		t.Fatalf("run = %v; want an error that does not print the refresh token", err)
	}
}
