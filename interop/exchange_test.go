package interop

import (
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Token types of RFC 8693, section 3.
const (
	typeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	grantExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// TestTokenExchangeTokenkeeper exchanges the signed-in user's access token
// for another with tokenkeeper's TokenExchangeGrant. The web client is
// registered for token exchange by the example storage; its user is no
// administrator, so the request carries an actor token (delegation), as
// the storage allows only administrators to impersonate without one.
func TestTokenExchangeTokenkeeper(t *testing.T) {
	t.Parallel()
	row(t, flowExchange, tk)
	p := startOP(t)
	c, login := p.tkLogin(t)
	tok, err := c.Token(testContext(t, 10*time.Second), tokenkeeper.TokenExchangeGrant(login.AccessToken, typeAccessToken,
		tokenkeeper.Param("actor_token", login.AccessToken),
		tokenkeeper.Param("actor_token_type", typeAccessToken),
		tokenkeeper.Param("requested_token_type", typeAccessToken),
		tokenkeeper.Param("scope", "openid"),
	))
	if err != nil {
		t.Fatalf("token exchange: %v", err)
	}
	sent := onlyExchange(t, p, grantExchange)
	if tok.AccessToken == "" || tok.AccessToken != sent.Answer.AccessToken || tok.AccessToken == login.AccessToken || !sent.Basic {
		t.Errorf("a new access token, the one issued: %v, client sent Basic: %v; want true, true",
			tok.AccessToken != "" && tok.AccessToken == sent.Answer.AccessToken && tok.AccessToken != login.AccessToken, sent.Basic)
	}
	if got := tok.Extra("issued_token_type"); got != typeAccessToken {
		t.Errorf("issued_token_type = %v; want %s", got, typeAccessToken)
	}
	if sub, want := p.userinfo(t, tok.AccessToken), p.userinfo(t, login.AccessToken); sub != want {
		t.Errorf("userinfo of the exchanged token: subject %q; want the user's, %q", sub, want)
	}
}
