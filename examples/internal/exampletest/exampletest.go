// Package exampletest holds what the tests of the example programs share:
// running a program offline, against the fake provider of package
// oauthtest, with an environment of its own, and checking its output,
// for the lines it must print and for the secrets it must not.
package exampletest

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// timeout is how long a run may take before its context ends.
const timeout = 30 * time.Second

// Env returns a getenv that knows only vars, so that the variables of the
// machine running the test never send a program to a real provider.
func Env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

// Run calls run with a context that ends after 30 seconds and a buffer for
// its output, stops the test if run fails, and returns the output.
func Run(t testing.TB, run func(ctx context.Context, w io.Writer) error) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	return out.String()
}

// RunOffline is Run for a program that reads its settings with a getenv:
// run gets Env(vars), so with none of the provider's variables in vars it
// runs offline.
func RunOffline(t testing.TB, run func(ctx context.Context, w io.Writer, getenv func(string) string) error, vars map[string]string) string {
	t.Helper()
	return Run(t, func(ctx context.Context, w io.Writer) error {
		return run(ctx, w, Env(vars))
	})
}

// AssertContains reports an error for each of want that out does not
// contain.
func AssertContains(t testing.TB, out string, want ...string) {
	t.Helper()
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q\noutput:\n%s", s, out)
		}
	}
}

// AssertNoSecret reports an error for each of secrets that out contains.
func AssertNoSecret(t testing.TB, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output holds the secret %q:\n%s", s, out)
		}
	}
}

// fakeToken matches the tokens and codes oauthtest mints: a kind prefix and
// 26 base32 characters, or a signed JWT (its id_tokens).
var fakeToken = regexp.MustCompile(`\b(at|rt|ac)_[A-Z2-7]{26}\b|\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// AssertNoToken reports an error if out holds a token or an authorization
// code minted by oauthtest. It first makes sure that it still recognizes
// the tokens oauthtest mints, and stops the test if not, so that the
// search cannot pass by missing them.
func AssertNoToken(t testing.TB, out string) {
	t.Helper()
	checkFakeToken(t)
	if tok := fakeToken.FindString(out); tok != "" {
		t.Errorf("output holds the token or code %q:\n%s", tok, out)
	}
}

// checkFakeToken stops the test if fakeToken does not match every token
// a fake provider mints.
func checkFakeToken(t testing.TB) {
	t.Helper()
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr := srv.Issue("", "openid offline_access")
	for _, tok := range []string{tr.AccessToken, tr.RefreshToken, tr.IDToken} {
		if !fakeToken.MatchString(tok) {
			t.Fatalf("the token pattern does not match the minted token %q", tok)
		}
	}
}
