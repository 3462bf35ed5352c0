package interop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenkeeper/tokenkeeper"
)

// expiries is how many token lifetimes the client credentials test spans.
const expiries = 3

var ccStyles = []struct {
	name    string
	flow    string
	tkStyle tokenkeeper.AuthStyle
	xStyle  oauth2.AuthStyle
	basic   bool
}{
	{"client_secret_basic", flowCCBasic, tokenkeeper.AuthBasic, oauth2.AuthStyleInHeader, true},
	{"client_secret_post", flowCCPost, tokenkeeper.AuthInBody, oauth2.AuthStyleInParams, false},
}

// TestClientCredentials keeps a client credentials token valid over three
// lifetimes, calling an API that checks it at the provider every second.
func TestClientCredentials(t *testing.T) {
	t.Parallel()
	for _, st := range ccStyles {
		t.Run(st.name+"/tokenkeeper", func(t *testing.T) {
			t.Parallel()
			c := row(t, st.flow, tk)
			p := startOP(t)
			rs := p.startResourceServer(t, serviceID, serviceSecret)
			src, err := tokenkeeper.NewSource(p.tkClient(t, serviceID, serviceSecret, st.tkStyle), tokenkeeper.SourceConfig{
				Login: tokenkeeper.ClientCredentialsGrant(),
			})
			if err != nil {
				t.Fatalf("NewSource: %v", err)
			}
			t.Cleanup(func() { src.Close() })
			api := src.HTTPClient(newHTTPClient(t).Transport)

			keepValid(t, c, p, rs, st.basic, func(ctx context.Context) (string, time.Time, error) {
				tok, err := src.TokenContext(ctx)
				if err != nil {
					return "", time.Time{}, err
				}
				return tok.AccessToken, tok.Expiry, nil
			}, api)
		})
		t.Run(st.name+"/x-oauth2", func(t *testing.T) {
			t.Parallel()
			c := row(t, st.flow, xo)
			p := startOP(t)
			rs := p.startResourceServer(t, serviceID, serviceSecret)
			cfg := &clientcredentials.Config{
				ClientID: serviceID, ClientSecret: serviceSecret, TokenURL: p.TokenURL,
				AuthStyle: st.xStyle,
			}
			ctx := xContext(t, (expiries+2)*tokenLifetime)
			ts := cfg.TokenSource(ctx)
			api := oauth2.NewClient(ctx, ts)

			keepValid(t, c, p, rs, st.basic, func(context.Context) (string, time.Time, error) {
				tok, err := ts.Token()
				if err != nil {
					return "", time.Time{}, err
				}
				return tok.AccessToken, tok.Expiry, nil
			}, api)
		})
	}
}

// keepValid gets a token and calls the API with the library's client once a
// second over three token lifetimes. Every token must be unexpired, every
// call accepted, and the tokens must have been renewed at least once per
// lifetime, with the client authentication asked for.
func keepValid(t *testing.T, c *cell, p *provider, rs *resourceServer, basic bool, get func(context.Context) (string, time.Time, error), api *http.Client) {
	t.Helper()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	tokens := map[string]bool{}
	failures := 0
	for i := range int(expiries*tokenLifetime/time.Second) + 2 {
		err := func() error {
			ctx := testContext(t, 5*time.Second)
			access, expiry, err := get(ctx)
			if err != nil {
				return err
			}
			if !expiry.After(time.Now()) {
				return errors.New("an expired token was served")
			}
			tokens[access] = true
			status, err := rs.get(ctx, api)
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("the API answered %d", status)
			}
			return err
		}()
		if err != nil {
			if failures == 0 {
				c.notef("first failure at call %d (one a second): %v", i+1, err)
			}
			failures++
			t.Errorf("call %d: %v", i+1, err)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatal("test ended while calling")
		}
	}
	if failures != 0 || len(tokens) < expiries+1 {
		t.Errorf("failures = %d, distinct access tokens = %d; want 0, at least %d", failures, len(tokens), expiries+1)
	}
	checkClientAuth(t, p, basic)
}

// checkClientAuth checks that every client credentials request
// authenticated the service client as asked: HTTP Basic, or the secret in
// the body.
func checkClientAuth(t *testing.T, p *provider, basic bool) {
	t.Helper()
	for i, e := range p.wire.exchanges("client_credentials") {
		if e.Basic != basic || e.SecretInBody == basic || e.ClientID != serviceID {
			t.Errorf("token request %d: Basic %v, secret in body %v, client %q; want Basic %v, secret in body %v, client %q",
				i+1, e.Basic, e.SecretInBody, e.ClientID, basic, !basic, serviceID)
		}
	}
}
