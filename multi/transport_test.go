package multi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// countingBase counts the requests that reach it.
type countingBase struct{ n atomic.Int64 }

func (b *countingBase) RoundTrip(*http.Request) (*http.Response, error) {
	b.n.Add(1)
	return nil, errors.New("not sent")
}

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

// A request without a Key is not sent, with anyone's token or none, and
// its body is closed once.
func TestTransportRequestWithoutKey(t *testing.T) {
	l := &countingLogin{clock: oauthtest.NewClock(t0)}
	base := &countingBase{}
	m := newManager(t, Config{Open: l.open, Clock: l.clock, Base: base})
	if _, err := m.Token(testCtx(t), Key{Subject: "someone"}); err != nil {
		t.Fatal(err) // a credential is open: it must not be used
	}
	body := &closeCounter{Reader: strings.NewReader("x")}
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, "http://127.0.0.1/api", body)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.HTTPClient().Do(req)
	if !errors.Is(err, ErrNoKey) {
		t.Fatalf("Do = %v; want ErrNoKey", err)
	}
	if base.n.Load() != 0 || body.closed.Load() != 1 {
		t.Errorf("requests sent = %d, body closed %d times; want 0 and 1", base.n.Load(), body.closed.Load())
	}
}

// N users share one client under concurrent expiries and revocations
// (401s): every request carries its own user's token, as the provider's
// API, which knows whose each token is, reports (CVE-2024-51987: a user's
// refreshed token was sent on another user's request). Each revocation or
// expiry costs each user exactly one refresh.
func TestTransportUsersNeverCrossed(t *testing.T) {
	const users, callers = 8, 6
	clock := oauthtest.NewClock(t0)
	srv := daxium(t, users, clock)
	m := newManager(t, Config{Open: daxiumOpen(srv, clock), Clock: clock})
	client := m.HTTPClient()
	ctx := testCtx(t)
	round := func(name string) {
		t.Helper()
		var wg sync.WaitGroup
		for u := range users {
			k := Key{Tenant: "daxium", Subject: fmt.Sprintf("user-%d", u)}
			for range callers {
				wg.Go(func() {
					status, body, err := getJSON(WithKey(ctx, k), client, srv.APIURL())
					switch {
					case err != nil:
						t.Errorf("%s: %s: %v", name, k.Subject, err)
					case status != http.StatusOK:
						t.Errorf("%s: %s: status %d", name, k.Subject, status)
					case body["user"] != k.Subject:
						t.Errorf("%s: request of %s carried the token of %q", name, k.Subject, body["user"])
					}
				})
			}
		}
		wg.Wait()
	}
	round("login")
	for i := range 3 {
		before := srv.Stats().TokenCalls["refresh_token"]
		if i%2 == 0 {
			srv.RevokeAll() // every next request meets a 401
		} else {
			clock.Advance(time.Hour) // every token expires
		}
		round(fmt.Sprintf("round %d", i))
		if got := srv.Stats().TokenCalls["refresh_token"] - before; got != users {
			t.Errorf("round %d: refreshes = %d; want %d, one per user", i, got, users)
		}
		clock.Advance(11 * time.Second) // past the forced-refresh interval
	}
	if st := srv.Stats(); st.Logins != users || st.RefreshReuse != 0 {
		t.Errorf("logins = %d, refresh tokens reused = %d; want %d and 0", st.Logins, st.RefreshReuse, users)
	}
}

// Concurrent requests that differ only in scope or audience make their
// own token calls and each carries a token issued for its own parameters
// (CVE-2025-26620).
func TestTransportScopesAndAudiencesSeparate(t *testing.T) {
	idp := newParamIdP(t)
	clock := oauthtest.NewClock(t0)
	m := newManager(t, Config{Open: idp.open(clock), Clock: clock})
	client := m.HTTPClient()
	ctx := testCtx(t)
	var keys []Key
	for _, scope := range []string{"read", "write", ""} {
		for _, aud := range []string{"https://a.example.com", "https://b.example.com"} {
			keys = append(keys, Key{Tenant: "acme", Subject: "svc", Scope: scope, Audience: aud})
		}
	}
	var wg sync.WaitGroup
	for _, k := range keys {
		for range 5 {
			wg.Go(func() {
				status, body, err := getJSON(WithKey(ctx, k), client, idp.ts.URL+"/api")
				if err != nil || status != http.StatusOK {
					t.Errorf("%+v: %d, %v", k, status, err)
					return
				}
				for name, want := range k.want() {
					if body[name] != want {
						t.Errorf("key %+v: token issued for %s %q; want %q", k, name, body[name], want)
					}
				}
			})
		}
	}
	wg.Wait()
	if got := idp.calls.Load(); got != int64(len(keys)) {
		t.Errorf("token calls = %d; want %d, one per key", got, len(keys))
	}
}
