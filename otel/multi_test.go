package tkotel

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/multi"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// multiRig is a multi.Manager of users u00, u01, ... of tenants t00,
// t01, ... (one each) on a fake Daxium Air, observed through MultiOpen.
func multiRig(t *testing.T, users int, group func(multi.Key) string) (*multi.Manager, *sdkmetric.ManualReader, *[]string) {
	t.Helper()
	pw := map[string]string{}
	for i := range users {
		pw[fmt.Sprintf("u%02d", i)] = "pw"
	}
	clock := oauthtest.NewClock(t0)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Users: pw, Clock: clock})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	reader := sdkmetric.NewManualReader()
	var hooked []string // the subjects the application's own hook saw
	open, err := MultiOpen(Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), Provider: "daxium-air"}, group,
		func(_ context.Context, k multi.Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
			cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
			cfg.BaseURL = srv.URL()
			cfg.HTTPClient, cfg.Clock = srv.Client(), clock
			c, err := tokenkeeper.New(cfg)
			return c, tokenkeeper.SourceConfig{
				Login: tokenkeeper.PasswordGrant(k.Subject, pw[k.Subject]),
				OnEvent: func(ev tokenkeeper.Event) {
					if ev.Kind == tokenkeeper.EventRefreshStarted && ev.Login != "" {
						hooked = append(hooked, k.Subject) // one credential's events come one at a time
					}
				},
			}, err
		})
	require.NoError(t, err)
	m, err := multi.New(multi.Config{Open: open, Clock: clock})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	for i := range users {
		_, err := m.Token(testCtx(t), multi.Key{Tenant: fmt.Sprintf("t%02d", i), Subject: fmt.Sprintf("u%02d", i)})
		require.NoError(t, err)
	}
	return m, reader, &hooked
}

func TestMultiOpenAddsUpCredentials(t *testing.T) {
	_, reader, hooked := multiRig(t, 3, nil)
	assert.Equal(t, map[string]string{
		"tokenkeeper.logins{tokenkeeper.grant_type=password,tokenkeeper.login.reason=initial}":            "3",
		"tokenkeeper.token.requests{tokenkeeper.grant_type=password,tokenkeeper.outcome=success}":         "3",
		"tokenkeeper.token.request.duration{tokenkeeper.grant_type=password,tokenkeeper.outcome=success}": "count=3 sum=0",
		"tokenkeeper.renewals{tokenkeeper.outcome=success,tokenkeeper.trigger=initial}":                   "3",
		"tokenkeeper.renewal.token_remaining{tokenkeeper.trigger=initial}":                                "count=3 sum=0",
		"tokenkeeper.waits{tokenkeeper.outcome=success}":                                                  "3",
		"tokenkeeper.wait.duration{tokenkeeper.outcome=success}":                                          "count=3 sum=0",
	}, collect(t, reader), "one series for all credentials, none naming a tenant or a user")
	assert.ElementsMatch(t, []string{"u00", "u01", "u02"}, *hooked, "Open's own OnEvent still gets the events")
}

func TestMultiOpenGroupIsBounded(t *testing.T) {
	_, reader, _ := multiRig(t, maxGroups+4, func(k multi.Key) string { return k.Tenant })
	groups := map[string]string{}
	for name, v := range collect(t, reader) {
		if strings.HasPrefix(name, "tokenkeeper.logins{") {
			_, g, _ := strings.Cut(name, "tokenkeeper.credential.group=")
			groups[strings.SplitN(g, ",", 2)[0]] = v
		}
	}
	assert.Len(t, groups, maxGroups+1)
	assert.Equal(t, "4", groups["other"], "past the bound, every further value is other")
	assert.Equal(t, "1", groups["t00"])
}
