package tokenkeeper

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Token is a set of credentials issued by a token endpoint (RFC 6749,
// section 5.1), with OpenID Connect's id_token as a first-class field.
//
// A Token handed out by a Source is shared between goroutines: treat it as
// read-only, and it is safe for concurrent use. Token's String, GoString,
// Format, LogValue and MarshalJSON never show the access, refresh or id
// token: json.Marshal of a Token gives its redacted description, which
// cannot be read back. Use EncodeToken and DecodeToken to store one.
type Token struct {
	// AccessToken is the credential most APIs expect.
	AccessToken string
	// TokenType is the access token's type, "Bearer" for every provider
	// here. Decoding normalizes the case of "bearer".
	TokenType string
	// RefreshToken, if set, gets new tokens. A response without one keeps
	// the previous one when a Source refreshes.
	RefreshToken string
	// IDToken is the OpenID Connect id_token (Auth0 with scope openid;
	// Transiteo, whose API takes it as its credential).
	IDToken string
	// Scope is the granted scope, space separated, if the server said.
	Scope string
	// Expiry is when the access token expires, computed at receipt from
	// expires_in. The zero value means the server gave no lifetime
	// (expires_in absent or 0): the token is used until an API rejects it.
	Expiry time.Time
	// IssuedAt is when the token was received, by the client's clock.
	IssuedAt time.Time

	raw map[string]any
}

// Extra returns a field of the token response that has no field of its
// own in Token (or any field, by its wire name), or nil.
func (t *Token) Extra(key string) any {
	if t == nil {
		return nil
	}
	switch key {
	case "access_token":
		return t.AccessToken
	case "refresh_token":
		return nilIfEmpty(t.RefreshToken)
	case "id_token":
		return nilIfEmpty(t.IDToken)
	case "token_type":
		return nilIfEmpty(t.TokenType)
	case "scope":
		return nilIfEmpty(t.Scope)
	}
	return t.raw[key]
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Type returns the token type, "Bearer" when empty, with the RFC 6750
// casing for bearer tokens.
func (t *Token) Type() string {
	if t == nil || t.TokenType == "" || strings.EqualFold(t.TokenType, "bearer") {
		return "Bearer"
	}
	return t.TokenType
}

// ExpiresWithin reports whether the token is missing, has no access token,
// or expires within d of now. A token with no known expiry never does.
func (t *Token) ExpiresWithin(now time.Time, d time.Duration) bool {
	if t == nil || t.AccessToken == "" {
		return true
	}
	if t.Expiry.IsZero() {
		return false
	}
	return !now.Add(d).Before(t.Expiry)
}

// String describes the token without any secret: its type, which parts are
// present, the scope and the expiry.
func (t Token) String() string {
	var b strings.Builder
	b.WriteString("tokenkeeper.Token{type=")
	b.WriteString(t.Type())
	b.WriteString(" access=")
	b.WriteString(redacted(t.AccessToken))
	b.WriteString(" refresh=")
	b.WriteString(redacted(t.RefreshToken))
	b.WriteString(" id=")
	b.WriteString(redacted(t.IDToken))
	if t.Scope != "" {
		b.WriteString(" scope=")
		b.WriteString(strconv.Quote(t.Scope))
	}
	b.WriteString(" expiry=")
	if t.Expiry.IsZero() {
		b.WriteString("unknown")
	} else {
		b.WriteString(t.Expiry.UTC().Format(time.RFC3339))
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String: %#v shows no secret either.
func (t Token) GoString() string { return t.String() }

// Format prints String for every verb.
func (t Token) Format(f fmt.State, verb rune) { io.WriteString(f, t.String()) }

// LogValue makes slog print the token without secrets.
func (t Token) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("type", t.Type()),
		slog.Bool("refresh_token", t.RefreshToken != ""),
		slog.Bool("id_token", t.IDToken != ""),
	}
	if !t.Expiry.IsZero() {
		attrs = append(attrs, slog.Time("expiry", t.Expiry))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON writes the redacted description of the token, never its
// secrets, so that a Token logged as JSON leaks nothing. To persist a
// token, use EncodeToken and DecodeToken.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(t.String())
}

func redacted(s string) string {
	if s == "" {
		return "none"
	}
	return "REDACTED"
}

// OAuth2 converts t to an *oauth2.Token. The id_token and every unknown
// response field are reachable through its Extra method.
func (t *Token) OAuth2() *oauth2.Token {
	if t == nil {
		return nil
	}
	ot := &oauth2.Token{
		AccessToken:  t.AccessToken,
		TokenType:    t.Type(),
		RefreshToken: t.RefreshToken,
		Expiry:       t.Expiry,
	}
	extra := make(map[string]any, len(t.raw)+2)
	for k, v := range t.raw {
		extra[k] = v
	}
	if t.IDToken != "" {
		extra["id_token"] = t.IDToken
	}
	if t.Scope != "" {
		extra["scope"] = t.Scope
	}
	return ot.WithExtra(extra)
}

// FromOAuth2 converts an *oauth2.Token, taking id_token and scope from its
// Extra. It returns nil for nil.
func FromOAuth2(ot *oauth2.Token) *Token {
	if ot == nil {
		return nil
	}
	t := &Token{
		AccessToken:  ot.AccessToken,
		TokenType:    ot.TokenType,
		RefreshToken: ot.RefreshToken,
		Expiry:       ot.Expiry,
	}
	if s, ok := ot.Extra("id_token").(string); ok {
		t.IDToken = s
	}
	if s, ok := ot.Extra("scope").(string); ok {
		t.Scope = s
	}
	return t
}

// clone returns a copy of t sharing the read-only raw map.
func (t *Token) clone() *Token {
	c := *t
	return &c
}

// wireFields are the response fields with a field of their own in Token.
// expires_in is not one of them: it stays reachable through Extra as sent.
var wireFields = map[string]bool{
	"access_token": true, "token_type": true, "refresh_token": true,
	"id_token": true, "scope": true,
}

// maxExpiresIn caps expires_in (ten years), so that no lifetime overflows
// a time.Duration.
const maxExpiresIn = 10 * 365 * 24 * time.Hour

// decodeTokenResponse decodes a 2xx token response body received at now.
//
// expires_in may be an integer, a float or a string holding either
// (Transiteo documents "3600"). Absent or 0 means no known expiry; a
// negative or unreadable value is an error.
func decodeTokenResponse(status int, contentType string, body []byte, now time.Time) (*Token, error) {
	ct, _, _ := mime.ParseMediaType(contentType)
	vals := map[string]any{}
	trimmed := bytes.TrimSpace(body)
	isForm := ct == "application/x-www-form-urlencoded" || (ct == "text/plain" && len(trimmed) > 0 && trimmed[0] != '{')
	switch {
	case isForm:
		q, err := url.ParseQuery(string(trimmed))
		if err != nil {
			return nil, malformed(status, "form body: %v", err)
		}
		for k := range q {
			vals[k] = q.Get(k)
		}
	default:
		if len(trimmed) == 0 {
			return nil, malformed(status, "empty body")
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		if err := dec.Decode(&vals); err != nil {
			if ct == "" {
				ct = "unknown content type"
			}
			return nil, malformed(status, "body is not a JSON object (%s, %d bytes)", ct, len(body))
		}
	}
	if v, ok := vals["error"]; ok && v != nil && v != "" {
		var e *Error
		if isForm {
			// parseError reads JSON only.
			e = &Error{StatusCode: status, Body: body}
			e.Message, _ = vals["error_description"].(string)
			e.URL, _ = vals["error_uri"].(string)
		} else {
			e = parseError(status, nil, body, now)
		}
		if e.Code == "" {
			if code, ok := v.(string); ok {
				e.Code = code
			} else {
				e.Code = "unknown_error"
			}
		}
		return nil, e
	}
	t := &Token{IssuedAt: now}
	var err error
	if t.AccessToken, err = stringField(vals, "access_token"); err != nil {
		return nil, malformed(status, "%v", err)
	}
	if t.AccessToken == "" {
		return nil, malformed(status, "no access_token in response")
	}
	if t.TokenType, err = stringField(vals, "token_type"); err != nil {
		return nil, malformed(status, "%v", err)
	}
	if strings.EqualFold(t.TokenType, "bearer") {
		t.TokenType = "Bearer"
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"refresh_token", &t.RefreshToken}, {"id_token", &t.IDToken}, {"scope", &t.Scope}} {
		if *f.dst, err = stringField(vals, f.name); err != nil {
			return nil, malformed(status, "%v", err)
		}
	}
	lifetime, err := parseExpiresIn(vals["expires_in"])
	if err != nil {
		return nil, malformed(status, "%v", err)
	}
	if lifetime > 0 {
		t.Expiry = now.Add(lifetime)
	}
	for k, v := range vals {
		if wireFields[k] {
			continue
		}
		if t.raw == nil {
			t.raw = make(map[string]any)
		}
		t.raw[k] = v
	}
	return t, nil
}

func malformed(status int, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{StatusCode: status, Message: "token response: " + msg, Err: ErrMalformedResponse}
}

// stringField returns vals[name] if it is a string or absent.
func stringField(vals map[string]any, name string) (string, error) {
	switch v := vals[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("%s is a %T, not a string", name, v)
	}
}

// parseExpiresIn reads expires_in in any of the shapes servers send.
func parseExpiresIn(v any) (time.Duration, error) {
	var f float64
	switch v := v.(type) {
	case nil:
		return 0, nil
	case json.Number:
		n, err := v.Float64()
		if err != nil {
			return 0, fmt.Errorf("expires_in is not a number (%d bytes)", len(v.String()))
		}
		f = n
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("expires_in is a string that is not a number (%d bytes)", len(v))
		}
		f = n
	default:
		return 0, fmt.Errorf("expires_in is a %T, not a number", v)
	}
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0, fmt.Errorf("expires_in is not a finite number")
	case f < 0:
		return 0, fmt.Errorf("expires_in is negative (%v)", f)
	case f*float64(time.Second) > float64(maxExpiresIn):
		return maxExpiresIn, nil
	}
	return time.Duration(f * float64(time.Second)), nil
}
