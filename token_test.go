package tokenkeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func TestDecodeTokenResponse(t *testing.T) {
	t.Parallel()
	now := testEpoch
	const jsonCT = "application/json"
	const formCT = "application/x-www-form-urlencoded"
	tests := []struct {
		name        string
		contentType string
		body        string
		want        Token          // compared field by field when wantErr is empty
		wantExtra   map[string]any // Extra(key) values
		wantErr     string         // part of the error; the error must be ErrMalformedResponse
	}{
		{
			name: "Auth0 with every field", contentType: jsonCT,
			body: `{"access_token":"at","token_type":"Bearer","refresh_token":"rt","id_token":"idt","scope":"openid offline_access","expires_in":86400}`,
			want: Token{AccessToken: "at", TokenType: "Bearer", RefreshToken: "rt", IDToken: "idt", Scope: "openid offline_access", Expiry: now.Add(24 * time.Hour)},
		},
		{
			name: "Daxium", contentType: "application/json; charset=utf-8",
			body: `{"access_token":"at","expires_in":3600,"token_type":"bearer","scope":"","refresh_token":"rt"}`,
			want: Token{AccessToken: "at", TokenType: "Bearer", RefreshToken: "rt", Expiry: now.Add(time.Hour)},
		},
		{
			name: "Transiteo, expires_in as a string", contentType: jsonCT,
			body: `{"id_token":"idt","access_token":"at","expires_in":"3600","token_type":"Bearer"}`,
			want: Token{AccessToken: "at", TokenType: "Bearer", IDToken: "idt", Expiry: now.Add(time.Hour)},
		},
		{name: "token_type upper case", contentType: jsonCT, body: `{"access_token":"at","token_type":"BEARER"}`,
			want: Token{AccessToken: "at", TokenType: "Bearer"}},
		{name: "token_type of another kind kept", contentType: jsonCT, body: `{"access_token":"at","token_type":"DPoP"}`,
			want: Token{AccessToken: "at", TokenType: "DPoP"}},
		{name: "token_type absent", contentType: jsonCT, body: `{"access_token":"at"}`,
			want: Token{AccessToken: "at"}},
		{name: "expires_in float", contentType: jsonCT, body: `{"access_token":"at","expires_in":59.5}`,
			want: Token{AccessToken: "at", Expiry: now.Add(59 * time.Second)}},
		{name: "expires_in under a second", contentType: jsonCT, body: `{"access_token":"at","expires_in":0.25}`,
			want: Token{AccessToken: "at", Expiry: now.Add(time.Second)}},
		{name: "expires_in exponent", contentType: jsonCT, body: `{"access_token":"at","expires_in":3.6e3}`,
			want: Token{AccessToken: "at", Expiry: now.Add(time.Hour)}},
		{name: "expires_in string with spaces", contentType: jsonCT, body: `{"access_token":"at","expires_in":" 60 "}`,
			want: Token{AccessToken: "at", Expiry: now.Add(time.Minute)}},
		{name: "expires_in float string", contentType: jsonCT, body: `{"access_token":"at","expires_in":"1.5"}`,
			want: Token{AccessToken: "at", Expiry: now.Add(time.Second)}},
		{name: "expires_in absent", contentType: jsonCT, body: `{"access_token":"at"}`,
			want: Token{AccessToken: "at"}},
		{name: "expires_in null", contentType: jsonCT, body: `{"access_token":"at","expires_in":null}`,
			want: Token{AccessToken: "at"}},
		{name: "expires_in 0", contentType: jsonCT, body: `{"access_token":"at","expires_in":0}`,
			want: Token{AccessToken: "at"}},
		{name: "expires_in empty string", contentType: jsonCT, body: `{"access_token":"at","expires_in":""}`,
			want: Token{AccessToken: "at"}},
		{name: "expires_in string 0", contentType: jsonCT, body: `{"access_token":"at","expires_in":"0"}`,
			want: Token{AccessToken: "at"}},
		{name: "expires_in huge", contentType: jsonCT, body: `{"access_token":"at","expires_in":999999999999999}`,
			want: Token{AccessToken: "at", Expiry: now.Add(maxExpiresIn)}},
		{name: "expires_in huge string", contentType: jsonCT, body: `{"access_token":"at","expires_in":"1e30"}`,
			want: Token{AccessToken: "at", Expiry: now.Add(maxExpiresIn)}},
		{name: "expires_in negative", contentType: jsonCT, body: `{"access_token":"at","expires_in":-1}`, wantErr: "expires_in is negative"},
		{name: "expires_in negative string", contentType: jsonCT, body: `{"access_token":"at","expires_in":"-3600"}`, wantErr: "expires_in is negative"},
		{name: "expires_in non-numeric string", contentType: jsonCT, body: `{"access_token":"at","expires_in":"one hour"}`, wantErr: `expires_in is a string that is not a number (8 bytes)`},
		{name: "expires_in NaN", contentType: jsonCT, body: `{"access_token":"at","expires_in":"NaN"}`, wantErr: "not a finite number"},
		{name: "expires_in infinite", contentType: jsonCT, body: `{"access_token":"at","expires_in":"+Inf"}`, wantErr: "not a finite number"},
		{name: "expires_in out of float range", contentType: jsonCT, body: `{"access_token":"at","expires_in":1e400}`, wantErr: "is not a number"},
		{name: "expires_in bool", contentType: jsonCT, body: `{"access_token":"at","expires_in":true}`, wantErr: "expires_in is a bool, not a number"},
		{name: "expires_in object", contentType: jsonCT, body: `{"access_token":"at","expires_in":{"s":1}}`, wantErr: "expires_in is a map"},
		{name: "access_token number", contentType: jsonCT, body: `{"access_token":12345}`, wantErr: "access_token is a json.Number, not a string"},
		{name: "token_type number", contentType: jsonCT, body: `{"access_token":"at","token_type":1}`, wantErr: "token_type is a json.Number"},
		{name: "refresh_token bool", contentType: jsonCT, body: `{"access_token":"at","refresh_token":true}`, wantErr: "refresh_token is a bool"},
		{name: "id_token object", contentType: jsonCT, body: `{"access_token":"at","id_token":{}}`, wantErr: "id_token is a map"},
		{name: "scope array", contentType: jsonCT, body: `{"access_token":"at","scope":["a","b"]}`, wantErr: "scope is a []interface {}"},
		{name: "missing access_token", contentType: jsonCT, body: `{"token_type":"Bearer","expires_in":3600}`, wantErr: "no access_token in response"},
		{name: "empty access_token", contentType: jsonCT, body: `{"access_token":""}`, wantErr: "no access_token in response"},
		{name: "JSON null", contentType: jsonCT, body: `null`, wantErr: "no access_token in response"},
		{name: "JSON array", contentType: jsonCT, body: `[{"access_token":"at"}]`, wantErr: "body is not a JSON object (application/json, 23 bytes)"},
		{name: "JSON string", contentType: jsonCT, body: `"at"`, wantErr: "body is not a JSON object"},
		{name: "truncated JSON", contentType: jsonCT, body: `{"access_token":"at"`, wantErr: "body is not a JSON object"},
		{name: "empty", contentType: jsonCT, body: ``, wantErr: "empty body"},
		{name: "blank", contentType: jsonCT, body: " \r\n\t", wantErr: "empty body"},
		{name: "HTML", contentType: "text/html; charset=utf-8", body: `<html>sign in</html>`, wantErr: "body is not a JSON object (text/html, 20 bytes)"},
		{name: "no content type, not JSON", body: `access_token=at`, wantErr: "body is not a JSON object (unknown content type, 15 bytes)"},
		{name: "no content type, JSON", body: `{"access_token":"at"}`, want: Token{AccessToken: "at"}},
		{name: "JSON sent as text/plain", contentType: "text/plain", body: ` {"access_token":"at","expires_in":60}`,
			want: Token{AccessToken: "at", Expiry: now.Add(time.Minute)}},
		{
			name: "form-encoded", contentType: formCT,
			body:      "access_token=at&token_type=bearer&refresh_token=rt&id_token=idt&scope=read+write&expires_in=3600&x_custom=1",
			want:      Token{AccessToken: "at", TokenType: "Bearer", RefreshToken: "rt", IDToken: "idt", Scope: "read write", Expiry: now.Add(time.Hour)},
			wantExtra: map[string]any{"x_custom": "1", "expires_in": "3600"},
		},
		{name: "form-encoded as text/plain", contentType: "text/plain; charset=utf-8", body: "access_token=at&expires_in=60\n",
			want: Token{AccessToken: "at", Expiry: now.Add(time.Minute)}},
		{name: "form-encoded, bad expires_in", contentType: formCT, body: "access_token=at&expires_in=soon", wantErr: `expires_in is a string that is not a number (4 bytes)`},
		{name: "form-encoded, no access_token", contentType: formCT, body: "token_type=bearer", wantErr: "no access_token"},
		{name: "form-encoded, bad escape", contentType: formCT, body: "access_token=%zz", wantErr: "form body"},
		{
			name: "unknown fields kept", contentType: jsonCT,
			body: `{"access_token":"at","x_custom":"v","num":7,"flag":false,"nested":{"a":[1,"b"]},"none":null}`,
			want: Token{AccessToken: "at"},
			wantExtra: map[string]any{
				"x_custom": "v",
				"num":      json.Number("7"),
				"flag":     false,
				"nested":   map[string]any{"a": []any{json.Number("1"), "b"}},
				"none":     nil,
				"absent":   nil,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := decodeTokenResponse(http.StatusOK, tt.contentType, []byte(tt.body), now)
			if tt.wantErr != "" {
				require.Error(t, err, "decoding %s", tt.body)
				assert.Nil(t, tok)
				assert.ErrorIs(t, err, ErrMalformedResponse)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.True(t, strings.HasPrefix(err.Error(), "tokenkeeper: 200 OK: token response: "), "Error() = %q", err)
				return
			}
			require.NoError(t, err, "decoding %s", tt.body)
			w := tt.want
			assert.Equal(t, w.AccessToken, tok.AccessToken, "AccessToken")
			assert.Equal(t, w.TokenType, tok.TokenType, "TokenType")
			assert.Equal(t, w.RefreshToken, tok.RefreshToken, "RefreshToken")
			assert.Equal(t, w.IDToken, tok.IDToken, "IDToken")
			assert.Equal(t, w.Scope, tok.Scope, "Scope")
			assert.Equal(t, w.Expiry, tok.Expiry, "Expiry")
			assert.Equal(t, now, tok.IssuedAt, "IssuedAt")
			for k, want := range tt.wantExtra {
				assert.Equal(t, want, tok.Extra(k), "Extra(%q)", k)
			}
		})
	}
}

// TestTokenDecodingThroughClient checks expiry from the injected clock and
// form-encoded responses end to end.
func TestTokenDecodingThroughClient(t *testing.T) {
	t.Parallel()
	t.Run("JSON", func(t *testing.T) {
		t.Parallel()
		at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		c, _ := serveTokens(t, reply(http.StatusOK, "application/json",
			`{"access_token":"at","token_type":"bearer","expires_in":1800,"x_tenant":"t1"}`), Config{Clock: stoppedClock{at}})
		tok, err := c.Token(context.Background(), ClientCredentialsGrant())
		require.NoError(t, err)
		assert.Equal(t, at, tok.IssuedAt, "IssuedAt comes from the Config's clock")
		assert.Equal(t, at.Add(30*time.Minute), tok.Expiry, "Expiry = clock + expires_in")
		assert.Equal(t, "Bearer", tok.TokenType)
		assert.Equal(t, "t1", tok.Extra("x_tenant"))
	})
	t.Run("form-encoded", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, reply(http.StatusOK, "application/x-www-form-urlencoded; charset=utf-8",
			"access_token=gho_abc&scope=repo%2Cgist&token_type=bearer"), Config{})
		tok, err := c.Token(context.Background(), AuthorizationCodeGrant("c", "", ""))
		require.NoError(t, err)
		assert.Equal(t, "gho_abc", tok.AccessToken)
		assert.Equal(t, "repo,gist", tok.Scope)
		assert.True(t, tok.Expiry.IsZero(), "no expires_in: zero Expiry")
	})
	t.Run("201 accepted", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, reply(http.StatusCreated, "application/json", `{"access_token":"at"}`), Config{})
		tok, err := c.Token(context.Background(), ClientCredentialsGrant())
		require.NoError(t, err)
		assert.Equal(t, "at", tok.AccessToken)
	})
	t.Run("malformed keeps header and body", func(t *testing.T) {
		t.Parallel()
		c, _ := serveTokens(t, reply(http.StatusOK, "application/json", `{"token_type":"bearer"}`, "X-Request-Id", "req-1"), Config{})
		_, err := c.Token(context.Background(), ClientCredentialsGrant())
		var pe *Error
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "req-1", pe.Header.Get("X-Request-Id"))
		assert.Equal(t, `{"token_type":"bearer"}`, string(pe.Body))
		assert.ErrorIs(t, err, ErrMalformedResponse)
	})
}

func TestTokenExtra(t *testing.T) {
	t.Parallel()
	var nilTok *Token
	assert.Nil(t, nilTok.Extra("access_token"), "nil token")

	tok, err := decodeTokenResponse(200, "application/json",
		[]byte(`{"access_token":"at","token_type":"bearer","id_token":"idt","expires_in":60,"x":"y"}`), testEpoch)
	require.NoError(t, err)
	tests := []struct {
		key  string
		want any
	}{
		{"access_token", "at"},
		{"token_type", "Bearer"},
		{"id_token", "idt"},
		{"refresh_token", nil},
		{"scope", nil},
		{"x", "y"},
		{"missing", nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tok.Extra(tt.key), "Extra(%q)", tt.key)
	}
	full := &Token{AccessToken: "a", RefreshToken: "r", Scope: "s"}
	assert.Equal(t, "r", full.Extra("refresh_token"))
	assert.Equal(t, "s", full.Extra("scope"))
	assert.Nil(t, (&Token{}).Extra("token_type"))
}

func TestTokenType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tok  *Token
		want string
	}{
		{nil, "Bearer"},
		{&Token{}, "Bearer"},
		{&Token{TokenType: "bearer"}, "Bearer"},
		{&Token{TokenType: "BeArEr"}, "Bearer"},
		{&Token{TokenType: "DPoP"}, "DPoP"},
	}
	for _, tt := range tests {
		if got := tt.tok.typ(); got != tt.want {
			t.Errorf("(%v).typ() = %q; want %q", tt.tok, got, tt.want)
		}
	}
}

func TestTokenExpiresWithin(t *testing.T) {
	t.Parallel()
	now := testEpoch
	tests := []struct {
		name string
		tok  *Token
		d    time.Duration
		want bool
	}{
		{"nil", nil, 0, true},
		{"no access token", &Token{Expiry: now.Add(time.Hour)}, 0, true},
		{"no expiry", &Token{AccessToken: "a"}, 100 * 365 * 24 * time.Hour, false},
		{"fresh", &Token{AccessToken: "a", Expiry: now.Add(10 * time.Minute)}, 5 * time.Minute, false},
		{"just outside the window", &Token{AccessToken: "a", Expiry: now.Add(10 * time.Minute)}, 10*time.Minute - time.Nanosecond, false},
		{"at the boundary", &Token{AccessToken: "a", Expiry: now.Add(10 * time.Minute)}, 10 * time.Minute, true},
		{"inside the window", &Token{AccessToken: "a", Expiry: now.Add(10 * time.Minute)}, 15 * time.Minute, true},
		{"expired", &Token{AccessToken: "a", Expiry: now.Add(-time.Second)}, 0, true},
		{"expiring now", &Token{AccessToken: "a", Expiry: now}, 0, true},
	}
	for _, tt := range tests {
		if got := tt.tok.expiresWithin(now, tt.d); got != tt.want {
			t.Errorf("%s: expiresWithin(now, %v) = %v; want %v", tt.name, tt.d, got, tt.want)
		}
	}
}

func TestTokenPrinting(t *testing.T) {
	t.Parallel()
	tok := Token{
		AccessToken:  "access-value",
		TokenType:    "bearer",
		RefreshToken: "refresh-value",
		Scope:        "openid email",
		Expiry:       time.Date(2025, 6, 1, 14, 0, 0, 0, time.FixedZone("CEST", 2*3600)),
	}
	want := `tokenkeeper.Token{type=Bearer access=REDACTED refresh=REDACTED id=none scope="openid email" expiry=2025-06-01T12:00:00Z}`
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assert.Equal(t, want, fmt.Sprintf(verb, tok), "Sprintf(%q, token)", verb)
		assert.Equal(t, want, fmt.Sprintf(verb, &tok), "Sprintf(%q, &token)", verb)
	}
	assert.Equal(t, "tokenkeeper.Token{type=Bearer access=none refresh=none id=none expiry=unknown}", fmt.Sprint(Token{}))

	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("got", "token", tok)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	assert.Equal(t, map[string]any{"type": "Bearer", "refresh_token": true, "id_token": false, "expiry": "2025-06-01T14:00:00+02:00"}, rec["token"])

	buf.Reset()
	logger.Info("got", "token", Token{AccessToken: "a"})
	require.NoError(t, json.Unmarshal(buf.Bytes(), &rec))
	assert.Equal(t, map[string]any{"type": "Bearer", "refresh_token": false, "id_token": false}, rec["token"], "no expiry attribute when unknown")
}

func TestTokenOAuth2Conversion(t *testing.T) {
	t.Parallel()
	var nilTok *Token
	assert.Nil(t, nilTok.OAuth2(), "nil *Token")
	assert.Nil(t, FromOAuth2(nil), "nil *oauth2.Token")

	tok, err := decodeTokenResponse(200, "application/json",
		[]byte(`{"access_token":"at","token_type":"bearer","refresh_token":"rt","id_token":"idt","scope":"openid","expires_in":3600,"x_custom":"v"}`), testEpoch)
	require.NoError(t, err)
	ot := tok.OAuth2()
	require.NotNil(t, ot)
	assert.Equal(t, "at", ot.AccessToken)
	assert.Equal(t, "Bearer", ot.TokenType)
	assert.Equal(t, "rt", ot.RefreshToken)
	assert.Equal(t, testEpoch.Add(time.Hour), ot.Expiry)
	assert.Equal(t, "idt", ot.Extra("id_token"), "id_token reachable through Extra")
	assert.Equal(t, "openid", ot.Extra("scope"))
	assert.Equal(t, "v", ot.Extra("x_custom"))

	back := FromOAuth2(ot)
	assert.Equal(t, tok.AccessToken, back.AccessToken)
	assert.Equal(t, tok.TokenType, back.TokenType)
	assert.Equal(t, tok.RefreshToken, back.RefreshToken)
	assert.Equal(t, tok.IDToken, back.IDToken)
	assert.Equal(t, tok.Scope, back.Scope)
	assert.Equal(t, tok.Expiry, back.Expiry)
	assert.Equal(t, int64(3600), ot.ExpiresIn, "ExpiresIn is the lifetime")
	assert.Equal(t, tok.IssuedAt, back.IssuedAt, "IssuedAt comes back as Expiry - ExpiresIn")
	assert.Equal(t, "v", back.Extra("x_custom"), "every extra field comes back")
	assert.Equal(t, json.Number("3600"), back.Extra("expires_in"))
	again := back.OAuth2()
	assert.Equal(t, "v", again.Extra("x_custom"), "extras survive a second trip")
	assert.Equal(t, int64(3600), again.ExpiresIn)

	// A minimal token: no id_token or scope in Extra, Type defaults.
	plain := (&Token{AccessToken: "a"}).OAuth2()
	assert.Equal(t, "Bearer", plain.Type(), "x/oauth2 reads an empty type as Bearer")
	assert.Nil(t, plain.Extra("id_token"))
	assert.Nil(t, plain.Extra("scope"))

	// x/oauth2 keeps form-encoded responses as url.Values.
	fromForm := FromOAuth2((&oauth2.Token{AccessToken: "a", TokenType: "bearer"}).WithExtra(url.Values{"id_token": {"idt2"}, "scope": {"s"}}))
	assert.Equal(t, "idt2", fromForm.IDToken)
	assert.Equal(t, "s", fromForm.Scope)
	assert.Equal(t, "bearer", fromForm.TokenType, "FromOAuth2 keeps the type as given")
	assert.Equal(t, "Bearer", fromForm.typ())

	// An id_token that is not a string is ignored.
	odd := FromOAuth2((&oauth2.Token{AccessToken: "a"}).WithExtra(map[string]any{"id_token": 12}))
	assert.Empty(t, odd.IDToken)
	assert.Empty(t, FromOAuth2(&oauth2.Token{AccessToken: "a"}).IDToken, "no Extra at all")

	// A token x/oauth2 decoded itself: every extra field is kept, and
	// IssuedAt is unknown without ExpiresIn.
	foreign := (&oauth2.Token{AccessToken: "a", Expiry: testEpoch}).WithExtra(map[string]any{"x_tenant": "t1", "n": 2.0})
	ft := FromOAuth2(foreign)
	assert.Equal(t, "t1", ft.Extra("x_tenant"))
	assert.Equal(t, 2.0, ft.Extra("n"))
	assert.Nil(t, ft.Extra("missing"))
	assert.True(t, ft.IssuedAt.IsZero(), "IssuedAt = %v; want zero when x/oauth2 has no ExpiresIn", ft.IssuedAt)
	assert.Equal(t, "t1", ft.OAuth2().Extra("x_tenant"), "extras go back to x/oauth2")
	withIn := *foreign
	withIn.ExpiresIn = 60
	assert.Equal(t, testEpoch.Add(-time.Minute), FromOAuth2(&withIn).IssuedAt)

	// Changing a converted token's id_token is carried back.
	ft.IDToken = "new-id"
	assert.Equal(t, "new-id", ft.OAuth2().Extra("id_token"))
}

// json.Marshal of a Token fails loudly rather than write a text that
// cannot be read back (or a secret); EncodeToken is the way to store one.
func TestTokenJSONFails(t *testing.T) {
	t.Parallel()
	tok := Token{AccessToken: "access-value", RefreshToken: "refresh-value"}
	for name, v := range map[string]any{
		"value":   tok,
		"pointer": &tok,
		"field":   struct{ T *Token }{&tok},
	} {
		b, err := json.Marshal(v)
		require.Error(t, err, "json.Marshal(%s) = %s; want an error", name, b)
		assert.Contains(t, err.Error(), "EncodeToken", name)
		assert.NotContains(t, err.Error(), "access-value", name)
	}
	data, err := EncodeToken(&tok)
	require.NoError(t, err)
	back, err := DecodeToken(data)
	require.NoError(t, err)
	assert.Equal(t, tok.RefreshToken, back.RefreshToken, "EncodeToken round trip")
}

func TestTokenClone(t *testing.T) {
	t.Parallel()
	tok, err := decodeTokenResponse(200, "application/json", []byte(`{"access_token":"at","x":"y"}`), testEpoch)
	require.NoError(t, err)
	c := tok.clone()
	require.NotSame(t, tok, c)
	c.AccessToken = "other"
	assert.Equal(t, "at", tok.AccessToken, "changing the clone changes the original")
	assert.Equal(t, "y", c.Extra("x"), "the clone keeps the extras")
}
