package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	var buf bytes.Buffer
	if err := run(&buf); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, buf.String())
	}
	out := buf.String()
	for _, want := range []string{
		"token: tokenkeeper.Token{type=Bearer access=REDACTED refresh=REDACTED id=none expiry=2026-01-01T10:00:00Z}\n",
		"   token endpoint calls so far: password=1 refresh_token=0\n",
		"   new token saved before use; refresh token rotated: true\n",
		"   token endpoint calls so far: password=1 refresh_token=1\n",
		"   the transport refreshed once and replayed the request\n",
		"   token endpoint calls so far: password=1 refresh_token=2\n",
		`   GET without a token -> status 401, code DAERR-AUTH004, message "invalid or expired access token"` + "\n",
		"   errors.Is(err, tokenkeeper.ErrUnauthorized) = true\n",
		"   errors.As -> status 401, code DAERR-AUTH002, retry could help: false\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\noutput:\n%s", want, out)
		}
	}
	if strings.Contains(out, "correct horse") || strings.Contains(out, "test-secret") {
		t.Errorf("output holds a secret:\n%s", out)
	}
}
