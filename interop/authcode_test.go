package interop

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
)

// codeClient is a client of the authorization code flow: confidential
// (client_secret_basic) or public (PKCE only).
type codeClient struct {
	flow, id, secret, redirect string
	tkStyle                    tokenkeeper.AuthStyle
	xStyle                     oauth2.AuthStyle
}

var codeClients = []codeClient{
	{flowCodeConf, webID, webSecret, webRedirect, tokenkeeper.AuthBasic, oauth2.AuthStyleInHeader},
	{flowCodePublic, nativeID, "", nativeRedirect, tokenkeeper.AuthNone, oauth2.AuthStyleInParams},
}

func TestAuthorizationCode(t *testing.T) {
	t.Parallel()
	for _, cc := range codeClients {
		name := "confidential"
		if cc.secret == "" {
			name = "public"
		}
		t.Run(name+"/tokenkeeper", func(t *testing.T) {
			t.Parallel()
			row(t, cc.flow, tk)
			p := startOP(t)
			c := p.tkClient(t, cc.id, cc.secret, cc.tkStyle)
			flow, err := c.AuthCodeURL(tokenkeeper.AuthCodeRequest{RedirectURI: cc.redirect, Scope: scopes})
			if err != nil {
				t.Fatalf("AuthCodeURL: %v", err)
			}
			checkAuthURL(t, flow.URL, flow.State)
			query := p.authorize(t, flow.URL, cc.redirect)

			tampered := url.Values{"code": query["code"], "state": {flow.State + "x"}}
			if _, err := flow.Callback(tampered); !errors.Is(err, tokenkeeper.ErrBadCallback) {
				t.Errorf("Callback with a wrong state: %v; want ErrBadCallback", err)
			}
			grant, err := flow.Callback(query)
			if err != nil {
				t.Fatalf("Callback: %v", err)
			}
			tok, err := c.Token(testContext(t, 10*time.Second), grant)
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			checkCodeToken(t, p, cc, tok.AccessToken, tok.RefreshToken, tok.IDToken, time.Until(tok.Expiry))
		})
		t.Run(name+"/x-oauth2", func(t *testing.T) {
			t.Parallel()
			row(t, cc.flow, xo)
			p := startOP(t)
			cfg := p.xConfig(cc.id, cc.secret, cc.redirect, cc.xStyle)
			verifier, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
			authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))
			checkAuthURL(t, authURL, state)
			query := p.authorize(t, authURL, cc.redirect)
			if got := query.Get("state"); got != state {
				t.Fatalf("callback state = %q; want %q", got, state)
			}
			tok, err := cfg.Exchange(xContext(t, 10*time.Second), query.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("code exchange: %v", err)
			}
			idToken, _ := tok.Extra("id_token").(string)
			checkCodeToken(t, p, cc, tok.AccessToken, tok.RefreshToken, idToken, time.Until(tok.Expiry))
		})
	}
}

// checkAuthURL checks that the authorization request carries an S256
// challenge and the state.
func checkAuthURL(t *testing.T, authURL, state string) {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if got := q.Get("code_challenge_method"); got != "S256" {
		t.Errorf("code_challenge_method = %q; want S256", got)
	}
	if q.Get("code_challenge") == "" {
		t.Errorf("code_challenge is empty; want one")
	}
	if got := q.Get("state"); got != state || state == "" {
		t.Errorf("state = %q; want %q, not empty", got, state)
	}
}

// checkCodeToken checks what the code exchange sent and what it got: a
// verifier, the client's authentication, an access token the provider
// accepts, a refresh token and an id_token.
func checkCodeToken(t *testing.T, p *provider, cc codeClient, access, refresh, idToken string, lifetime time.Duration) {
	t.Helper()
	ex := p.wire.exchanges("authorization_code")
	if len(ex) != 1 {
		t.Fatalf("authorization_code requests = %d; want 1", len(ex))
	}
	e := ex[0]
	if !e.CodeVerifier {
		t.Errorf("code exchange sent no code_verifier; want one")
	}
	if wantBasic := cc.secret != ""; e.Basic != wantBasic || e.SecretInBody {
		t.Errorf("client authentication: Basic %v, secret in body %v; want Basic %v, no secret in body", e.Basic, e.SecretInBody, wantBasic)
	}
	if e.ClientID != cc.id {
		t.Errorf("client_id = %q; want %q", e.ClientID, cc.id)
	}
	if refresh == "" || idToken == "" || strings.Count(idToken, ".") != 2 {
		t.Errorf("refresh token present %v, id_token a JWT %v; want both", refresh != "", strings.Count(idToken, ".") == 2)
	}
	if lifetime <= 0 || lifetime > tokenLifetime {
		t.Errorf("token lifetime = %v; want in (0, %v]", lifetime, tokenLifetime)
	}
	if sub := p.userinfo(t, access); sub == "" {
		t.Errorf("userinfo subject is empty; want the user's")
	}
}
