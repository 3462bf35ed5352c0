package oidc_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
	"github.com/tokenkeeper/tokenkeeper/oidc"
)

// The whole authorization code flow on the Auth0 fake: the nonce that
// AuthCodeURL generates is signed into the id_token, and the Verifier
// accepts it for that flow only.
func TestAuthCodeFlowNonce(t *testing.T) {
	f := newFixture(t, nil)
	c, err := tokenkeeper.New(tokenkeeper.Config{
		TokenURL: f.srv.TokenURL(), AuthURL: f.srv.AuthorizeURL(),
		ClientID: oauthtest.DefaultClientID, ClientSecret: oauthtest.DefaultClientSecret,
		HTTPClient: f.srv.Client(),
	})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := c.AuthCodeURL(tokenkeeper.AuthCodeRequest{RedirectURI: "http://127.0.0.1:4242/cb", Scope: "openid"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.AuthCodeURL(tokenkeeper.AuthCodeRequest{RedirectURI: "http://127.0.0.1:4242/cb", Scope: "openid"})
	if err != nil {
		t.Fatal(err)
	}
	grant, err := flow.Callback(redirectBack(t, f.srv, flow.URL))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Token(ctx(t), grant)
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.v.Verify(ctx(t), tok.IDToken, flow.Nonce)
	if err != nil {
		t.Fatal(err)
	}
	if id.Nonce != flow.Nonce || id.Subject == "" {
		t.Fatalf("id_token claims %+v", id)
	}
	_, err = f.v.Verify(ctx(t), tok.IDToken, other.Nonce)
	checkReason(t, err, oidc.ErrNonce)
}

// redirectBack follows the authorization URL to the fake and returns the
// query of its redirect back.
func redirectBack(t *testing.T, srv *oauthtest.Server, authURL string) url.Values {
	t.Helper()
	client := *srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), err)
	}
	return loc.Query()
}
