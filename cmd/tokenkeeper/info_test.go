package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func TestInfo(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oauthtest.Options{Preset: oauthtest.Transiteo})
	c := newCLI(t, nil)
	c.setenv("TR_RT=" + srv.RefreshToken())
	writeProfiles(t, c, map[string]*profile{"tr": {
		Preset: "transiteo", ClientID: oauthtest.DefaultClientID,
		RefreshToken: secretRef{Env: "TR_RT"}, BaseURL: srv.URL(),
	}})
	h := c.run("header", "-p", "tr", "-value")
	require.Equal(t, exitOK, h.code, h.stderr)
	idToken := strings.TrimSpace(h.stdout)

	r := c.run("info", "-p", "tr")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"sub": "`+oauthtest.DefaultUser+`"`)
	assert.Contains(t, r.stdout, `"alg": "ES256"`)
	assert.Contains(t, r.stdout, `"expires_in": "59m`)
	assert.NotContains(t, r.stdout, idToken[strings.LastIndex(idToken, ".")+1:], "no signature")
	assert.NotContains(t, r.stdout, srv.RefreshToken())
}
