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

func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	checkFakeToken(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var buf bytes.Buffer
	if err := run(ctx, &buf); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, buf.String())
	}
	out := buf.String()
	for _, want := range []string{
		"   Me() = user@example.com\n",
		"   Me() = user@example.com; API answers 401: 1, refresh_token grants: 1: the transport refreshed and replayed\n",
		`   the API's error, decoded by the SDK: status 401, code DAERR-AUTH004, message "invalid or expired access token"` + "\n",
		"   api_version v1.3, documentation https://doc.daxium-air.com/errors/DAERR-AUTH004\n",
		"   errors.Is(err, tokenkeeper.ErrUnauthorized) = true\n",
		"   OnEvent says why the 401 was not recovered: ErrLoginRequired = true\n",
		"   errors.Is(err, tokenkeeper.ErrLoginRequired) = true, through the SDK's wrapping\n",
		"   error: daxium: GET /api/v1.3/me: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\noutput:\n%s", want, out)
		}
	}
	if tok := fakeToken.FindString(out); tok != "" {
		t.Errorf("output holds the token %q:\n%s", tok, out)
	}
}
