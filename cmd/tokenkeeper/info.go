package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

const infoUsage = `  tokenkeeper info [-p profile]

Decodes the profile's current token without printing any secret: its type,
scope, expiry as a duration from now, which parts it holds, and the JWT
header and claims of the access token and the id_token when they are
JWTs (the signature is never printed). Output is JSON.

Examples:
  tokenkeeper info -p auth0
  tokenkeeper info -p transiteo | jq .id_token.claims.exp`

type jwtJSON struct {
	Header map[string]any `json:"header"`
	Claims map[string]any `json:"claims"`
}

func runInfo(ctx context.Context, e *env, args []string) error {
	fs := e.flags("info", infoUsage)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	s, err := e.open(ctx)
	if err != nil {
		return err
	}
	t, err := s.token(ctx, false)
	if err != nil {
		return err
	}
	out := map[string]any{
		"token_type":        t.TokenType,
		"scope":             t.Scope,
		"has_refresh_token": t.RefreshToken != "",
		"has_id_token":      t.IDToken != "",
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
