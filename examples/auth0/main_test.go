package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/examples/internal/exampletest"
)

func TestOffline(t *testing.T) {
	defer goleak.VerifyNone(t)
	out := exampletest.RunOffline(t, run, nil)
	exampletest.AssertContains(t, out,
		"running offline against a fake Auth0 tenant at http://127.0.0.1:",
		"   redirect URI: http://127.0.0.1:",
		"/authorize?",
		"code_challenge_method=S256",
		"response_type=code",
		"scope=openid+offline_access",
		"audience=https%3A%2F%2Fapi.example.com",
		"   (offline: a stand-in browser opens it and follows the redirect)\n",
		`tokenkeeper.Token{type=Bearer access=REDACTED refresh=REDACTED id=REDACTED scope="openid offline_access" expiry=`,
		"   GET /api/me -> 200 OK (",
		"   refresh token rotated: true\n",
	)
	exampletest.AssertNoToken(t, out)

	// The loopback listener is closed once run returns.
	m := regexp.MustCompile(`redirect URI: http://(127\.0\.0\.1:\d+)/callback`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no redirect URI in the output:\n%s", out)
	}
	if conn, err := net.DialTimeout("tcp", m[1], time.Second); err == nil {
		conn.Close()
		t.Errorf("the redirect listener on %s still accepts connections after run", m[1])
	}
}

func TestCallbackHandler(t *testing.T) {
	defer goleak.VerifyNone(t)
	client, err := tokenkeeper.New(tokenkeeper.Auth0("tenant.example.com", "id", ""))
	if err != nil {
		t.Fatal(err)
	}
	newFlow := func(t *testing.T) *tokenkeeper.AuthCodeFlow {
		t.Helper()
		flow, err := client.AuthCodeURL(tokenkeeper.AuthCodeRequest{RedirectURI: "http://127.0.0.1:1/callback"})
		if err != nil {
			t.Fatal(err)
		}
		return flow
	}
	call := func(h http.Handler, q url.Values) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/callback?"+q.Encode(), nil))
		return rec
	}

	t.Run("code", func(t *testing.T) {
		flow := newFlow(t)
		results := make(chan callback, 1)
		h := callbackHandler(flow, results)
		if rec := call(h, url.Values{"state": {flow.State}, "code": {"the-code"}}); rec.Code != http.StatusOK {
			t.Errorf("status = %d; want 200", rec.Code)
		}
		if cb := <-results; cb.err != nil || cb.grant == nil {
			t.Errorf("callback = %v, %v; want a grant, nil", cb.grant, cb.err)
		}
		// A second callback (a reload) does not replace the first.
		if rec := call(h, url.Values{"state": {flow.State}, "code": {"another"}}); rec.Code != http.StatusConflict {
			t.Errorf("second callback: status = %d; want 409", rec.Code)
		}
	})
	t.Run("wrong state", func(t *testing.T) {
		flow := newFlow(t)
		results := make(chan callback, 1)
		if rec := call(callbackHandler(flow, results), url.Values{"state": {"forged"}, "code": {"c"}}); rec.Code != http.StatusBadRequest {
			t.Errorf("status = %d; want 400", rec.Code)
		}
		if cb := <-results; !errors.Is(cb.err, tokenkeeper.ErrBadCallback) || cb.grant != nil {
			t.Errorf("callback = %v, %v; want no grant and ErrBadCallback", cb.grant, cb.err)
		}
	})
	t.Run("access denied", func(t *testing.T) {
		flow := newFlow(t)
		results := make(chan callback, 1)
		call(callbackHandler(flow, results), url.Values{"state": {flow.State}, "error": {"access_denied"}, "error_description": {"User did not authorize the request"}})
		cb := <-results
		var pe *tokenkeeper.Error
		if !errors.As(cb.err, &pe) || pe.Code != "access_denied" || pe.StatusCode != 0 {
			t.Fatalf("callback error = %v; want a *tokenkeeper.Error with code access_denied and status 0", cb.err)
		}
		var buf bytes.Buffer
		explain(&buf, cb.err)
		if want := "the authorization server refused: access_denied: User did not authorize the request"; !strings.Contains(buf.String(), want) {
			t.Errorf("explain printed %q; want it to contain %q", buf.String(), want)
		}
	})
}

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string
	}{
		{"domain only", map[string]string{"AUTH0_DOMAIN": "tenant.example.com"}, "set both AUTH0_DOMAIN and AUTH0_CLIENT_ID"},
		{"client only", map[string]string{"AUTH0_CLIENT_ID": "id", "AUTH0_CLIENT_SECRET": "s3cret"}, "set both AUTH0_DOMAIN and AUTH0_CLIENT_ID"},
		{"bad port", map[string]string{"AUTH0_DOMAIN": "tenant.example.com", "AUTH0_CLIENT_ID": "id", "AUTH0_CALLBACK_PORT": "http"}, `AUTH0_CALLBACK_PORT "http" is not a port number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), &bytes.Buffer{}, exampletest.Env(tc.vars))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run = %v; want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error prints the secret: %v", err)
			}
		})
	}
}
