package tokenkeeper

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
	"golang.org/x/oauth2"
)

// mtJumpClock is a Client clock whose timers fire at once, after moving
// the shared fake clock to their time: a device flow's polls run without
// sleeping, on the server's time, and the waits are recorded.
type mtJumpClock struct {
	*oauthtest.Clock
	mu    sync.Mutex
	waits []time.Duration
	// onWait, if set, runs before the n-th wait (from 1) ends.
	onWait func(n int)
}

func (c *mtJumpClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	n, hook := len(c.waits), c.onWait
	c.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	c.Advance(d)
	go f()
	return func() bool { return false }
}

func (c *mtJumpClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// mtDeviceClient returns an Auth0 fake, a public Client for it on a
// jumping clock, and that clock.
func mtDeviceClient(t *testing.T) (*oauthtest.Server, *Client, *mtJumpClock) {
	t.Helper()
	clock := &mtJumpClock{Clock: oauthtest.NewClock(mtT0)}
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Auth0, PublicClient: true, Clock: clock.Clock})
	cfg := Auth0("tenant.example.com", oauthtest.DefaultClientID, "")
	cfg.BaseURL = srv.URL()
	cfg.AuthStyle, cfg.Clock, cfg.HTTPClient = AuthNone, clock, srv.Client()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, clock
}

// The device flow: prompt gets the codes, pending polls wait the interval,
// slow_down adds 5 s, approval brings tokens.
func TestClientDeviceLogin(t *testing.T) {
	srv, c, clock := mtDeviceClient(t)
	var shown oauth2.DeviceAuthResponse
	srv.SlowDownNext(1)
	clock.onWait = func(n int) {
		if n == 3 {
			srv.ApproveDevice(shown.UserCode)
		}
	}
	tok, err := c.DeviceLogin(mtCtx(t), func(da oauth2.DeviceAuthResponse) { shown = da }, Param("scope", "openid offline_access"))
	if err != nil {
		t.Fatalf("DeviceLogin = %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDToken == "" {
		t.Errorf("token = %v; want access, refresh and id tokens", tok)
	}
	if shown.UserCode == "" || shown.DeviceCode != "" || !strings.HasPrefix(shown.VerificationURI, srv.URL()) ||
		!strings.Contains(shown.VerificationURIComplete, shown.UserCode) || shown.Interval != 5 ||
		!shown.Expiry.Equal(mtT0.Add(15*time.Minute)) {
		t.Errorf("prompt got %+v", shown)
	}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 10 * time.Second}
	if got := clock.recorded(); !slices.Equal(got, want) {
		t.Errorf("waits = %v; want %v (slow_down adds 5 s)", got, want)
	}
	if got := srv.Stats().TokenCalls[grantDeviceCode]; got != 3 {
		t.Errorf("polls = %d; want 3", got)
	}
}

// Denial and expiry (the codes' own lifetime) are typed errors.
func TestClientDeviceLoginErrors(t *testing.T) {
	t.Run("denied", func(t *testing.T) {
		srv, c, clock := mtDeviceClient(t)
		var code string
		clock.onWait = func(n int) {
			if n == 2 {
				srv.DenyDevice(code)
			}
		}
		_, err := c.DeviceLogin(mtCtx(t), func(da oauth2.DeviceAuthResponse) { code = da.UserCode })
		var e *Error
		if !errors.As(err, &e) || e.Code != "access_denied" || IsRetryable(err) {
			t.Errorf("DeviceLogin = %v; want the access_denied *Error", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		srv, c, _ := mtDeviceClient(t)
		_, err := c.DeviceLogin(mtCtx(t), nil)
		var e *Error
		if !errors.As(err, &e) || e.Code != "expired_token" {
			t.Errorf("DeviceLogin = %v; want the expired_token *Error", err)
		}
		if polls := srv.Stats().TokenCalls[grantDeviceCode]; polls < 170 || polls > 180 {
			t.Errorf("polls = %d; want one every 5 s for 15 minutes", polls)
		}
	})
}

// Failures on the way: a 503 while polling is ridden out; the device
// endpoint's own failures are returned.
func TestClientDeviceLoginFaults(t *testing.T) {
	t.Run("outage while polling", func(t *testing.T) {
		srv, c, clock := mtDeviceClient(t)
		var code string
		clock.onWait = func(n int) {
			switch n {
			case 1:
				srv.FailNext(1, http.StatusServiceUnavailable)
			case 2:
				srv.ApproveDevice(code)
			}
		}
		if _, err := c.DeviceLogin(mtCtx(t), func(da oauth2.DeviceAuthResponse) { code = da.UserCode }); err != nil {
			t.Errorf("DeviceLogin = %v; want the 503 ridden out", err)
		}
	})
	t.Run("device endpoint fails", func(t *testing.T) {
		srv, c, _ := mtDeviceClient(t)
		srv.FailNext(1, http.StatusInternalServerError)
		var e *Error
		if _, err := c.DeviceLogin(mtCtx(t), nil); !errors.As(err, &e) || e.StatusCode != 500 {
			t.Errorf("DeviceLogin = %v; want the 500 *Error", err)
		}
		srv.MalformedNext(1)
		if _, err := c.DeviceLogin(mtCtx(t), nil); !errors.Is(err, ErrMalformedResponse) {
			t.Errorf("DeviceLogin = %v; want ErrMalformedResponse", err)
		}
	})
}

// A missing endpoint and a cancelled context stop the flow.
func TestClientDeviceLoginStops(t *testing.T) {
	t.Run("no endpoint", func(t *testing.T) {
		c := mtClient(t, "http://127.0.0.1:1/token", nil, nil)
		if _, err := c.DeviceLogin(mtCtx(t), nil); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("DeviceLogin = %v; want errors.ErrUnsupported", err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		_, c, clock := mtDeviceClient(t)
		ctx, cancel := context.WithCancel(mtCtx(t))
		clock.onWait = func(int) { cancel() }
		if _, err := c.DeviceLogin(ctx, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("DeviceLogin = %v; want context.Canceled", err)
		}
	})
}

// DeviceLogin serves as a Source's login.
func TestSourceDeviceLogin(t *testing.T) {
	srv, c, _ := mtDeviceClient(t)
	s := mtSource(t, c, SourceConfig{LoginFunc: func(ctx context.Context) (*Token, error) {
		return c.DeviceLogin(ctx, func(da oauth2.DeviceAuthResponse) { srv.ApproveDevice(da.UserCode) }, Param("scope", "offline_access"))
	}})
	if tok, err := s.TokenContext(mtCtx(t)); err != nil || tok.RefreshToken == "" {
		t.Fatalf("TokenContext = %v, %v; want the device flow's token", tok, err)
	}
}

// FuzzDecodeDeviceAuth: any device authorization response decodes to
// codes with a future expiry and a bounded interval, or to a malformed
// response error; never a panic.
func FuzzDecodeDeviceAuth(f *testing.F) {
	for _, seed := range []string{
		`{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://example.com/device","verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT","expires_in":1800,"interval":5}`,
		`{"device_code":"dc","user_code":"u","verification_url":"https://www.google.com/device","expires_in":"1800"}`,
		`{"device_code":"dc","user_code":"u","verification_uri":"v","expires_in":1e300,"interval":-3}`,
		`{"device_code":"","user_code":"u"}`, `[]`, `{"expires_in":null}`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		da, code, err := decodeDeviceAuth(body, mtT0)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("error %v does not match ErrMalformedResponse", err)
			}
			return
		}
		if code == "" || da.userCode == "" || !da.expiry.After(mtT0) || da.interval <= 0 || da.interval > time.Minute {
			t.Fatalf("decoded %+v, code %q", da, code)
		}
	})
}
