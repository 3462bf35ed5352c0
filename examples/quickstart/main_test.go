package main

import (
	"context"
	"io"
	"testing"

	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/exampletest"
)

func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	out := exampletest.Run(t, func(_ context.Context, w io.Writer) error { return run(w) })
	exampletest.AssertContains(t, out,
		"token: tokenkeeper.Token{type=Bearer access=REDACTED refresh=REDACTED id=none expiry=2026-01-01T10:00:00Z}\n",
		"   token endpoint calls so far: password=1 refresh_token=0\n",
		"   new token saved before use; refresh token rotated: true\n",
		"   token endpoint calls so far: password=1 refresh_token=1\n",
		"   the transport refreshed once and replayed the request\n",
		"   token endpoint calls so far: password=1 refresh_token=2\n",
		`   GET without a token -> status 401, code DAERR-AUTH004, message "invalid or expired access token"`+"\n",
		"   errors.Is(err, tokenkeeper.ErrUnauthorized) = true\n",
		"   errors.As -> status 401, code DAERR-AUTH002, retry could help: false\n",
	)
	exampletest.AssertNoSecret(t, out, "correct horse", "test-secret")
}
