package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oidc"
)

const infoUsage = `  tokenkeeper info [-p profile] [-verify]

Decodes the profile's current token without printing any secret: its type,
scope, expiry as a duration from now, which parts it holds, and the JWT
header and claims of the access token and the id_token when they are
JWTs (the signature is never printed). Output is JSON.

With -verify, the id_token is first verified against the issuer's keys:
its signature (keys from the profile's jwks_url, else from the issuer's
discovery document), issuer, audience (the profile's client_id) and
expiry. A token that fails exits with code 1 and prints nothing; one
without an id_token (ask for the openid scope) exits with code 2.

Examples:
  tokenkeeper info -p auth0
  tokenkeeper info -p auth0 -verify | jq .id_token_verified
  tokenkeeper info -p transiteo | jq .id_token.claims.exp`

type jwtJSON struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

func runInfo(ctx context.Context, e *env, args []string) error {
	fs := e.flags("info", infoUsage)
	verify := fs.Bool("verify", false, "verify the id_token against the issuer's keys")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	s, t, err := e.openToken(ctx, false)
	if err != nil {
		return err
	}
	if *verify {
		if err := s.verifyIDToken(ctx, t.IDToken); err != nil {
			return err
		}
	}
	out := map[string]any{
		"token_type":        t.TokenType,
		"scope":             t.Scope,
		"has_refresh_token": t.RefreshToken != "",
		"has_id_token":      t.IDToken != "",
	}
	if *verify {
		out["id_token_verified"] = true
	}
	if !t.Expiry.IsZero() {
		out["expires_in"] = time.Until(t.Expiry).Round(time.Second).String()
	}
	if j := decodeJWT(t.AccessToken); j != nil {
		out["access_token"] = j
	}
	if j := decodeJWT(t.IDToken); j != nil {
		out["id_token"] = j
	}
	return writeJSON(e, out)
}

// decodeJWT returns the header and claims of a compact JWS, or nil when
// raw is not one.
func decodeJWT(raw string) *jwtJSON {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil
	}
	var j jwtJSON
	for i, dst := range []*map[string]any{&j.Header, &j.Claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, dst) != nil {
			return nil
		}
	}
	return &j
}

// defaultIDTokenAlgs are the algorithms accepted when neither the profile
// nor discovery names them: the usual asymmetric ones (the key's type is
// checked against the token's algorithm).
var defaultIDTokenAlgs = []string{"RS256", "PS256", "ES256"}

// verifyIDToken verifies raw against the keys of the profile's issuer.
func (s *session) verifyIDToken(ctx context.Context, raw string) error {
	if raw == "" {
		return configErrorf("the token has no id_token to verify (add the openid scope to the profile)")
	}
	iss := s.prof.issuer()
	if iss == "" {
		return configErrorf("profile has no issuer: cannot verify an id_token")
	}
	jwks, algs := s.prof.JWKSURL, s.prof.IDTokenAlgs
	if jwks == "" {
		md, err := s.prof.metadata(ctx)
		if err != nil {
			return err
		}
		jwks = md.JWKSURI
		if len(algs) == 0 {
			algs = slices.DeleteFunc(slices.Clone(md.IDTokenSigningAlgs), func(a string) bool {
				return a == "none" || strings.HasPrefix(a, "HS")
			})
		}
	}
	if len(algs) == 0 {
		algs = defaultIDTokenAlgs
	}
	v, err := oidc.NewVerifier(oidc.Config{Issuer: iss, ClientID: s.prof.ClientID, JWKSURL: jwks, Algorithms: algs})
	if err != nil {
		return &configError{msg: err.Error()}
	}
	_, err = v.Verify(ctx, raw, "")
	return err
}
