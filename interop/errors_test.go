package interop

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tokenkeeper/tokenkeeper"
)

// TestWrongClientSecret presents a wrong secret twice: as the service user
// of the client credentials grant (the provider answers invalid_client with
// no description) and as the web client refreshing a token (invalid_client
// with a description).
func TestWrongClientSecret(t *testing.T) {
	t.Parallel()
	t.Run("tokenkeeper", func(t *testing.T) {
		t.Parallel()
		row(t, flowWrongSecret, tk)
		p := startOP(t)
		login := p.tkClient(t, serviceID, "wrong", tokenkeeper.AuthBasic)
		checkTKRejected(t, p, "client_credentials", login, tokenkeeper.SourceConfig{Login: tokenkeeper.ClientCredentialsGrant()}, tokenkeeper.ErrInvalidClient)
		refresh := p.tkClient(t, webID, "wrong", tokenkeeper.AuthBasic)
		checkTKRejected(t, p, "refresh_token", refresh, tokenkeeper.SourceConfig{Token: &tokenkeeper.Token{RefreshToken: "any"}}, tokenkeeper.ErrInvalidClient)
	})
	t.Run("x-oauth2", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowWrongSecret, xo)
		p := startOP(t)
		login := &clientcredentials.Config{
			ClientID: serviceID, ClientSecret: "wrong", TokenURL: p.TokenURL,
			AuthStyle: oauth2.AuthStyleInHeader,
		}
		checkXRejected(t, p, "client_credentials", login.TokenSource(xContext(t, 10*time.Second)))
		refresh := p.xConfig(webID, "wrong", webRedirect, oauth2.AuthStyleInHeader)
		checkXRejected(t, p, "refresh_token", refresh.TokenSource(xContext(t, 10*time.Second), &oauth2.Token{RefreshToken: "any"}))

		// With the default AuthStyleAutoDetect, x/oauth2 probes the
		// other style after a failure.
		before := len(p.wire.exchanges("client_credentials"))
		auto := *login
		auto.AuthStyle = oauth2.AuthStyleAutoDetect
		_, _ = auto.Token(xContext(t, 10*time.Second))
		n := len(p.wire.exchanges("client_credentials")) - before
		c.notef("typed *oauth2.RetrieveError; no retry with an explicit AuthStyle, but each call asks again (x/oauth2 keeps no failure state); one call with AuthStyleAutoDetect sends %d requests", n)
	})
}

// checkTKRejected gets a token through a Source whose client the provider
// refuses, twice, and checks the typed error against what the provider
// said, the sentinel it matches, and that it was asked once.
func checkTKRejected(t *testing.T, p *provider, grantType string, c *tokenkeeper.Client, cfg tokenkeeper.SourceConfig, want error) {
	t.Helper()
	src, err := tokenkeeper.NewSource(c, cfg)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	t.Cleanup(func() { src.Close() })
	checkTKSourceRejected(t, p, grantType, src, want)
}

// checkTKSourceRejected does the same with a Source already made.
func checkTKSourceRejected(t *testing.T, p *provider, grantType string, src *tokenkeeper.Source, want error) {
	t.Helper()
	_, err := src.TokenContext(testContext(t, 10*time.Second))
	var pe *tokenkeeper.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: TokenContext error = %v (%T); want a *tokenkeeper.Error", grantType, err, err)
	}
	sent := onlyExchange(t, p, grantType)
	if pe.StatusCode != sent.Status || pe.Code != sent.Answer.Error || pe.Message != sent.Answer.ErrorDescription {
		t.Errorf("%s: Error = {%d %q %q}; want the server's {%d %q %q}", grantType,
			pe.StatusCode, pe.Code, pe.Message, sent.Status, sent.Answer.Error, sent.Answer.ErrorDescription)
	}
	if !errors.Is(err, want) || tokenkeeper.IsRetryable(err) {
		t.Errorf("%s: errors.Is(err, %v) = %v, IsRetryable = %v; want true, false", grantType,
			want, errors.Is(err, want), tokenkeeper.IsRetryable(err))
	}

	// Asked again at once, the Source answers from what it knows.
	if _, err := src.TokenContext(testContext(t, 10*time.Second)); !errors.Is(err, want) {
		t.Errorf("%s: second TokenContext error = %v; want one matching %v", grantType, err, want)
	}
	if n := len(p.wire.exchanges(grantType)); n != 1 {
		t.Errorf("%s requests after two calls = %d; want 1 (not retried)", grantType, n)
	}
}

// checkXRejected does the same with an x/oauth2 TokenSource, asking once.
func checkXRejected(t *testing.T, p *provider, grantType string, ts oauth2.TokenSource) {
	t.Helper()
	_, err := ts.Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("%s: Token error = %v (%T); want a *oauth2.RetrieveError", grantType, err, err)
	}
	sent := onlyExchange(t, p, grantType)
	if re.Response.StatusCode != sent.Status || re.ErrorCode != sent.Answer.Error || re.ErrorDescription != sent.Answer.ErrorDescription {
		t.Errorf("%s: RetrieveError = {%d %q %q}; want the server's {%d %q %q}", grantType,
			re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, sent.Status, sent.Answer.Error, sent.Answer.ErrorDescription)
	}
}

// onlyExchange returns the one token request of grantType the provider saw.
func onlyExchange(t *testing.T, p *provider, grantType string) exchange {
	t.Helper()
	ex := p.wire.exchanges(grantType)
	if len(ex) != 1 {
		t.Fatalf("%s requests = %d; want 1", grantType, len(ex))
	}
	return ex[0]
}
