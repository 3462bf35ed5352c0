package tokenkeeper

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// A Transiteo response without expires_in takes its expiry from the
// id_token's exp; other credentials, and id_tokens that are not JWTs, are
// too long, or expired, leave it unknown.
func TestTransiteoExpiryFromIDToken(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock})
	exp := mtT0.Add(50 * time.Minute)
	good := srv.SignIDToken(map[string]any{"exp": exp.Unix()})
	for _, tt := range []struct {
		name, idToken string
		idCredential  bool
		want          time.Time
	}{
		{"transiteo", good, true, exp},
		{"bearer access token", good, false, time.Time{}},
		{"opaque id_token", "id_opaque", true, time.Time{}},
		{"expired", srv.SignIDToken(map[string]any{"exp": mtT0.Add(-time.Minute).Unix()}), true, time.Time{}},
		{"half a million dots", strings.Repeat(".", 1<<19), true, time.Time{}},
		{"exp a string", srv.SignIDToken(map[string]any{"exp": "soon"}), true, time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := mtNewTokenServer(t, 0)
			ts.setRespond(func(w http.ResponseWriter, _ *http.Request, _ int64) {
				mtWriteJSON(w, http.StatusOK, map[string]any{"access_token": "at", "id_token": tt.idToken, "token_type": "Bearer"})
			})
			cfg := Transiteo("client")
			cfg.BaseURL = ts.ts.URL
			cfg.Credential.IDToken = tt.idCredential
			cfg.Clock, cfg.HTTPClient = clock, ts.ts.Client()
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := c.Token(mtCtx(t), RefreshTokenGrant("rt"))
			if err != nil {
				t.Fatal(err)
			}
			if !tok.Expiry.Equal(tt.want) {
				t.Errorf("Expiry = %v; want %v", tok.Expiry, tt.want)
			}
		})
	}
}
