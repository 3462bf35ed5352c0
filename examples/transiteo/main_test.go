package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/exampletest"
)

func TestOffline(t *testing.T) {
	defer goleak.VerifyNone(t)
	out := exampletest.RunOffline(t, run, nil)
	exampletest.AssertContains(t, out,
		"running offline against a fake Transiteo at http://127.0.0.1:",
		"tokenkeeper.Token{type=Bearer access=REDACTED refresh=REDACTED id=REDACTED expiry=",
		"   no refresh token in the answer; the console's one is kept: true\n",
		"   GET /v1/ping -> 200 OK (",
		"   the Authorization header was the raw id_token, with no \"Bearer\": true\n",
		"   (API answers 401: 1, refresh_token grants: 2)\n",
		"   the refresh token was refused (invalid_grant): get a new one from the Transiteo console\n",
	)
	exampletest.AssertNoToken(t, out)
}

func TestHalfTheCredentials(t *testing.T) {
	defer goleak.VerifyNone(t)
	err := run(context.Background(), &bytes.Buffer{}, exampletest.Env(map[string]string{"TRANSITEO_REFRESH_TOKEN": "rt_secret"}))
	if err == nil || strings.Contains(err.Error(), "rt_secret") {
		t.Fatalf("run = %v; want an error that does not print the refresh token", err)
	}
}
