package interop

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
)

// TestUnauthorizedReplay has an API stop accepting a token it accepted a
// moment ago: the access token is revoked at the provider, so that the
// API's introspection finds it inactive.
func TestUnauthorizedReplay(t *testing.T) {
	t.Parallel()
	t.Run("tokenkeeper", func(t *testing.T) {
		t.Parallel()
		row(t, flowReplay, tk)
		p := startOP(t)
		rs := p.startResourceServer(t, webID, webSecret)
		c, seed := p.tkLogin(t)
		var events eventLog
		src, err := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{Token: seed, OnEvent: events.add})
		if err != nil {
			t.Fatalf("NewSource: %v", err)
		}
		t.Cleanup(func() { src.Close() })
		api := src.HTTPClient(newHTTPClient(t).Transport)

		if status, err := rs.get(testContext(t, 10*time.Second), api); err != nil || status != http.StatusOK {
			t.Fatalf("first call: %d, %v; want 200", status, err)
		}
		p.revoke(t, seed.AccessToken, "access_token")
		if status, err := rs.get(testContext(t, 10*time.Second), api); err != nil || status != http.StatusOK {
			t.Fatalf("call after revocation: %d, %v; want 200 after one renewal", status, err)
		}

		refreshes := p.wire.exchanges("refresh_token")
		if len(refreshes) != 1 {
			t.Fatalf("refresh requests = %d; want 1", len(refreshes))
		}
		calls := rs.history()
		want := []apiCall{
			{seed.AccessToken, http.StatusOK},
			{seed.AccessToken, http.StatusUnauthorized},
			{refreshes[0].Answer.AccessToken, http.StatusOK}, // the one replay
		}
		if !slices.Equal(calls, want) {
			t.Errorf("API calls (token, status) = %v; want the seed's 200 and 401, then the new token's 200", statuses(calls))
		}
		if !events.has(tokenkeeper.EventUnauthorized, true) {
			t.Errorf("no EventUnauthorized with Recovered; want one")
		}
	})
	t.Run("x-oauth2", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowReplay, xo)
		p := startOP(t)
		rs := p.startResourceServer(t, webID, webSecret)
		ctx := xContext(t, 10*time.Second)
		cfg, seed := p.xLogin(t, ctx)
		api := oauth2.NewClient(ctx, cfg.TokenSource(ctx, seed))

		if status, err := rs.get(ctx, api); err != nil || status != http.StatusOK {
			t.Fatalf("first call: %d, %v; want 200", status, err)
		}
		p.revoke(t, seed.AccessToken, "access_token")
		status, err := rs.get(ctx, api)
		if err != nil {
			t.Fatalf("call after revocation: %v", err)
		}
		c.gapf("no recovery from a 401: the caller got %d, after %d renewals and %d calls in all",
			status, len(p.wire.exchanges("refresh_token")), len(rs.history()))
	})
}

// statuses returns the statuses of calls, for messages: tokens are secrets.
func statuses(calls []apiCall) []int {
	out := make([]int, len(calls))
	for i, c := range calls {
		out[i] = c.Status
	}
	return out
}

// eventLog keeps the events a Source reported.
type eventLog struct {
	mu     sync.Mutex // guards events
	events []tokenkeeper.Event
}

func (l *eventLog) add(e tokenkeeper.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// has reports whether an event of kind with Recovered as given was seen.
func (l *eventLog) has(kind tokenkeeper.EventKind, recovered bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.events, func(e tokenkeeper.Event) bool {
		return e.Kind == kind && e.Recovered == recovered
	})
}
