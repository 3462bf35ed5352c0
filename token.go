package tokenkeeper

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
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
// read-only, and it is safe for concurrent use.
//
// A Token never shows its access, refresh or id token: every fmt verb
// prints a redacted description, and slog logs its type, expiry and which
// parts are present. json.Marshal of a Token fails, so that a token saved
// that way is not lost in silence: use EncodeToken and DecodeToken to store
// one, and OAuth2 and FromOAuth2 to convert one.
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
	// IssuedAt is when the token was received, by the client's clock;
	// zero when unknown (see FromOAuth2).
	IssuedAt time.Time

	// raw holds the response fields that have no field of their own.
	raw map[string]any
	// ext is the x/oauth2 token this one was converted from, if any: its
	// extra fields, which x/oauth2 offers no way to list, are looked up
	// there.
	ext *oauth2.Token
	// dpop is the DPoP key a Source generated and obtained this token
	// with (SourceConfig.DPoP), or nil: a secret, kept by EncodeToken.
	dpop *dpopProver
}

// Extra returns a field of the token response that has no field of its
// own in Token (or any field, by its wire name), or nil. For a token from
// FromOAuth2, it also returns the extra fields of the x/oauth2 token.
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
	if v, ok := t.raw[key]; ok {
		return v
	}
	if t.ext != nil {
		return t.ext.Extra(key)
	}
	return nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// typ returns the token type, "Bearer" when empty, with the RFC 6750
// casing for bearer tokens.
func (t *Token) typ() string {
	if t == nil || t.TokenType == "" || strings.EqualFold(t.TokenType, "bearer") {
		return "Bearer"
	}
	return t.TokenType
}

// expiresWithin reports whether the token is missing, has no access token,
// or expires within d of now. A token with no known expiry never does.
func (t *Token) expiresWithin(now time.Time, d time.Duration) bool {
	if t == nil || t.AccessToken == "" {
		return true
	}
	if t.Expiry.IsZero() {
		return false
	}
	return !now.Add(d).Before(t.Expiry)
}

// describe describes the token without any secret: its type, which parts
// are present, the scope and the expiry.
func (t Token) describe() string {
	var b strings.Builder
	b.WriteString("tokenkeeper.Token{type=")
	b.WriteString(t.typ())
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

// Format prints, for every verb, a description with no secret:
// tokenkeeper.Token{type=Bearer access=REDACTED refresh=none id=none
// expiry=2026-01-02T15:04:05Z}.
func (t Token) Format(f fmt.State, _ rune) { io.WriteString(f, t.describe()) }

// LogValue makes slog print the token without secrets.
func (t Token) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("type", t.typ()),
		slog.Bool("refresh_token", t.RefreshToken != ""),
		slog.Bool("id_token", t.IDToken != ""),
	}
	if !t.Expiry.IsZero() {
		attrs = append(attrs, slog.Time("expiry", t.Expiry))
	}
	return slog.GroupValue(attrs...)
}

// errTokenJSON is what MarshalJSON returns.
var errTokenJSON = errors.New("tokenkeeper: a Token is not encoded by encoding/json, which would either leak its secrets or lose them: use EncodeToken to store it")

// MarshalJSON fails: a Token written as JSON would either carry its
// secrets into logs or lose them on the way to storage. Use EncodeToken
// and DecodeToken to store a token; slog logs it through LogValue.
func (t Token) MarshalJSON() ([]byte, error) { return nil, errTokenJSON }

func redacted(s string) string {
	if s == "" {
		return "none"
	}
	return "REDACTED"
}

// OAuth2 converts t to an *oauth2.Token. Its ExpiresIn is the lifetime
// (Expiry - IssuedAt, in whole seconds) when both are known. The id_token,
// the scope and every other response field are reachable through its Extra
// method. FromOAuth2 converts it back to a Token equal to t. A token from
// FromOAuth2 goes back with the extra fields of its original, unless its
// IDToken or Scope was changed. The DPoP key a Source generated for t
// (SourceConfig.DPoP) does not go: it is a secret, which Extra would
// expose, so a DPoP-bound token from FromOAuth2 has no key of its own.
func (t *Token) OAuth2() *oauth2.Token {
	if t == nil {
		return nil
	}
	var ot oauth2.Token
	if t.ext != nil {
		ot = *t.ext // keeps the extra fields of the original
	}
	ot.AccessToken = t.AccessToken
	ot.TokenType = t.TokenType
	ot.RefreshToken = t.RefreshToken
	ot.Expiry = t.Expiry
	ot.ExpiresIn = 0
	if !t.Expiry.IsZero() && !t.IssuedAt.IsZero() && t.Expiry.After(t.IssuedAt) {
		ot.ExpiresIn = int64(math.Ceil(t.Expiry.Sub(t.IssuedAt).Seconds()))
	}
	if t.ext != nil && len(t.raw) == 0 && t.IDToken == extString(t.ext, "id_token") && t.Scope == extString(t.ext, "scope") {
		return &ot
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

// extString returns the extra field key of ot if it is a string, or "".
func extString(ot *oauth2.Token, key string) string {
	s, _ := ot.Extra(key).(string)
	return s
}

// FromOAuth2 converts an *oauth2.Token, taking id_token and scope from its
// Extra; its other extra fields stay reachable through Token.Extra and go
// back with OAuth2. It returns nil for nil.
//
// x/oauth2 does not record when a token was issued: IssuedAt becomes
// Expiry - ExpiresIn when the x/oauth2 token has both (OAuth2 sets
// ExpiresIn), and stays zero otherwise; a Source then takes its margins
// from its defaults and the expiry. EncodeToken stores the extra fields
// of tokens that tokenkeeper decoded, but not those of an x/oauth2 token,
// which x/oauth2 offers no way to list.
func FromOAuth2(ot *oauth2.Token) *Token {
	if ot == nil {
		return nil
	}
	ext := *ot
	t := &Token{
		AccessToken:  ot.AccessToken,
		TokenType:    ot.TokenType,
		RefreshToken: ot.RefreshToken,
		Expiry:       ot.Expiry,
		ext:          &ext,
	}
	t.IDToken = extString(ot, "id_token")
	t.Scope = extString(ot, "scope")
	if !ot.Expiry.IsZero() && ot.ExpiresIn > 0 && ot.ExpiresIn <= int64(maxExpiresIn/time.Second) {
		t.IssuedAt = ot.Expiry.Add(-time.Duration(ot.ExpiresIn) * time.Second)
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
	vals, isForm, err := responseFields(status, contentType, body)
	if err != nil {
		return nil, err
	}
	if v, ok := vals["error"]; ok && v != nil && v != "" {
		return nil, errorInResponse(status, body, vals, isForm, now)
	}
	return tokenFromFields(status, vals, now)
}

// responseFields decodes a 2xx token response body: a JSON object, or a
// form (application/x-www-form-urlencoded, or text/plain that is not
// JSON). isForm tells which.
func responseFields(status int, contentType string, body []byte) (vals map[string]any, isForm bool, err error) {
	ct, _, _ := mime.ParseMediaType(contentType)
	vals = map[string]any{}
	trimmed := bytes.TrimSpace(body)
	isForm = ct == "application/x-www-form-urlencoded" || (ct == "text/plain" && len(trimmed) > 0 && trimmed[0] != '{')
	if isForm {
		q, err := url.ParseQuery(string(trimmed))
		if err != nil {
			return nil, true, malformed(status, "form body: %v", err)
		}
		for k := range q {
			vals[k] = q.Get(k)
		}
		return vals, true, nil
	}
	if len(trimmed) == 0 {
		return nil, false, malformed(status, "empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := dec.Decode(&vals); err != nil {
		return nil, false, malformed(status, "body is not a JSON object (%s, %d bytes)", cmp.Or(ct, "unknown content type"), len(body))
	}
	return vals, false, nil
}

// errorInResponse builds the *Error of a 2xx response that carries an
// "error" field.
func errorInResponse(status int, body []byte, vals map[string]any, isForm bool, now time.Time) *Error {
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
		e.Code = "unknown_error"
		if code, ok := vals["error"].(string); ok {
			e.Code = code
		}
	}
	return e
}

// tokenFromFields builds the token of a decoded response received at now.
func tokenFromFields(status int, vals map[string]any, now time.Time) (*Token, error) {
	t := &Token{IssuedAt: now}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"access_token", &t.AccessToken}, {"token_type", &t.TokenType}, {"refresh_token", &t.RefreshToken}, {"id_token", &t.IDToken}, {"scope", &t.Scope}} {
		v, err := stringField(vals, f.name)
		if err != nil {
			return nil, malformed(status, "%v", err)
		}
		*f.dst = v
	}
	if t.AccessToken == "" {
		return nil, malformed(status, "no access_token in response")
	}
	if strings.EqualFold(t.TokenType, "bearer") {
		t.TokenType = "Bearer"
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
	// Whole seconds, as RFC 6749 defines it, so that the lifetime
	// survives a trip through x/oauth2's ExpiresIn: a fraction is dropped,
	// except from a lifetime under one second.
	if f > 0 && f < 1 {
		return time.Second, nil
	}
	return time.Duration(f) * time.Second, nil
}
