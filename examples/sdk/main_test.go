package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper/examples/internal/exampletest"
)

func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	out := exampletest.Run(t, run)
	exampletest.AssertContains(t, out,
		"   Me() = user@example.com\n",
		"   Me() = user@example.com; API answers 401: 1, refresh_token grants: 1: the transport refreshed and replayed\n",
		`   the API's error, decoded by the SDK: status 401, code DAERR-AUTH004, message "invalid or expired access token"`+"\n",
		"   api_version v1.3, documentation https://doc.daxium-air.com/errors/DAERR-AUTH004\n",
		"   errors.Is(err, tokenkeeper.ErrUnauthorized) = true\n",
		"   OnEvent says why the 401 was not recovered: ErrLoginRequired = true\n",
		"   errors.Is(err, tokenkeeper.ErrLoginRequired) = true, through the SDK's wrapping\n",
		"   error: daxium: GET /api/v1.3/me: ",
	)
	exampletest.AssertNoToken(t, out)
}
