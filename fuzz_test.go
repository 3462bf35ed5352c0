package tokenkeeper

// Fuzz targets for every decoder and parser of the package. Their seed
// corpora (the f.Add calls and testdata/fuzz) run in every `go test`; run
// one for longer with
//
//	go test -run '^$' -fuzz '^FuzzDecodeTokenResponse$' -fuzztime 90s .

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzNow is the receipt time of every decoded response in the fuzz
// targets; whole seconds, so that HTTP-dates built from it are exact.
var fuzzNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fuzzContentTypes are the content types the token decoder tells apart.
var fuzzContentTypes = []string{
	"application/json",
	"application/json; charset=utf-8",
	"application/x-www-form-urlencoded",
	"text/plain",
	"text/plain; charset=utf-8",
	"text/html",
	"",
	"application/json; charset=\"",
}

// fuzzExpiresInShapes are the expires_in values seen in provider documents
// and in the wild, as JSON fragments: Daxium's integer, Transiteo's string
// "3600", floats, exponents, blanks, nulls, and values a decoder must
// refuse.
var fuzzExpiresInShapes = []string{
	`3600`, `"3600"`, `3600.0`, `3.6e3`, `"3.6e3"`, `" 3600 "`, `"3600 "`,
	`59.5`, `"1.5"`, `0`, `"0"`, `""`, `null`, `0.0000000001`, `1e-300`,
	`-1`, `"-3600"`, `-0`, `"-0"`, `"NaN"`, `"Inf"`, `"+Inf"`, `"-Inf"`,
	`"infinity"`, `1e400`, `"1e400"`, `"1e30"`, `999999999999999`,
	`9223372036854775807`, `9223372036854775808`, `"0x1p4"`, `"1_000"`,
	`"one hour"`, `"3600s"`, `true`, `false`, `{}`, `{"s":3600}`, `[3600]`,
	`"\u0033600"`, `"٣٦٠٠"`,
}

// fuzzSecretLike reports whether s looks like a credential: at least 12
// characters of a token alphabet, with letters and digits. No fixed text of
// the package's messages has that shape, so finding one in an error message
// means it came from the input.
func fuzzSecretLike(s string) bool {
	if len(s) < 12 {
		return false
	}
	var letter, digit bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letter = true
		case '0' <= c && c <= '9':
			digit = true
		case strings.IndexByte("-._~+/=", c) >= 0:
		default:
			return false
		}
	}
	return letter && digit
}

// fuzzMessageKeys are the body fields an error message may repeat: the
// error code and the human-readable message, in RFC 6749 and DAERR shapes.
var fuzzMessageKeys = map[string]bool{"error": true, "error_description": true, "code": true, "message": true}

// fuzzMessageKey reports whether a JSON key names one of fuzzMessageKeys;
// encoding/json matches field names without regard to case.
func fuzzMessageKey(key string) bool {
	for k := range fuzzMessageKeys {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// fuzzBodyValues returns the string values of a decoded JSON body, split
// into those an error message may repeat (direct string values of
// fuzzMessageKeys at the top level, in any case) and every other one, at
// any depth.
func fuzzBodyValues(v any) (allowed, other []string) {
	var walk func(v any, top bool, key string)
	walk = func(v any, top bool, key string) {
		switch v := v.(type) {
		case string:
			if top && fuzzMessageKey(key) {
				allowed = append(allowed, v)
			} else {
				other = append(other, v)
			}
		case map[string]any:
			for k, e := range v {
				walk(e, top && key == "", k)
			}
		case []any:
			for _, e := range v {
				walk(e, false, key)
			}
		}
	}
	walk(v, true, "")
	return allowed, other
}

// fuzzFormValues does what fuzzBodyValues does for a form-encoded body.
func fuzzFormValues(q url.Values) (allowed, other []string) {
	for k, vs := range q {
		for _, v := range vs {
			if fuzzMessageKeys[k] {
				allowed = append(allowed, v)
			} else {
				other = append(other, v)
			}
		}
	}
	return allowed, other
}

// fuzzLeaks returns the secret-looking values of other that text repeats
// and that are not part of an allowed value.
func fuzzLeaks(text string, allowed, other []string) []string {
	var leaks []string
	for _, v := range other {
		if !fuzzSecretLike(v) || !strings.Contains(text, v) {
			continue
		}
		inAllowed := false
		for _, a := range allowed {
			if strings.Contains(a, v) {
				inAllowed = true
				break
			}
		}
		if !inAllowed {
			leaks = append(leaks, v)
		}
	}
	return leaks
}

// fuzzDecodeJSON decodes body as the package does (numbers kept as
// json.Number); ok is false when body is not exactly one JSON value.
func fuzzDecodeJSON(body []byte) (v any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil || dec.Decode(new(json.RawMessage)) != io.EOF {
		return nil, false
	}
	return v, true
}

// fuzzDecodeFirstJSON decodes the first JSON value of body and ignores
// what follows, as the token response decoder does.
func fuzzDecodeFirstJSON(body []byte) (v any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil, false
	}
	return v, true
}

// fuzzTokensEqual reports how a and b differ, or "" if they are equal.
func fuzzTokensEqual(a, b *Token) string {
	switch {
	case a.AccessToken != b.AccessToken:
		return fmt.Sprintf("AccessToken %q != %q", a.AccessToken, b.AccessToken)
	case a.TokenType != b.TokenType:
		return fmt.Sprintf("TokenType %q != %q", a.TokenType, b.TokenType)
	case a.RefreshToken != b.RefreshToken:
		return fmt.Sprintf("RefreshToken %q != %q", a.RefreshToken, b.RefreshToken)
	case a.IDToken != b.IDToken:
		return fmt.Sprintf("IDToken %q != %q", a.IDToken, b.IDToken)
	case a.Scope != b.Scope:
		return fmt.Sprintf("Scope %q != %q", a.Scope, b.Scope)
	case !a.Expiry.Equal(b.Expiry):
		return fmt.Sprintf("Expiry %v != %v", a.Expiry, b.Expiry)
	case !a.IssuedAt.Equal(b.IssuedAt):
		return fmt.Sprintf("IssuedAt %v != %v", a.IssuedAt, b.IssuedAt)
	case len(a.raw) != len(b.raw) || (len(a.raw) > 0 && !reflect.DeepEqual(a.raw, b.raw)):
		return fmt.Sprintf("extras %#v != %#v", a.raw, b.raw)
	case mtKeyOf(a) != mtKeyOf(b):
		return "DPoP keys differ"
	}
	return ""
}

// fuzzRoundTrip checks that tok survives EncodeToken and DecodeToken, and
// that encoding is stable.
func fuzzRoundTrip(t *testing.T, tok *Token) {
	t.Helper()
	data, err := EncodeToken(tok)
	if err != nil {
		t.Fatalf("EncodeToken(%v) = %v", tok, err)
	}
	back, err := DecodeToken(data)
	if err != nil {
		t.Fatalf("DecodeToken(EncodeToken(token)) = %v; data %q", err, data)
	}
	if diff := fuzzTokensEqual(tok, back); diff != "" {
		t.Fatalf("token changed in a store round trip: %s; data %q", diff, data)
	}
	again, err := EncodeToken(back)
	if err != nil {
		t.Fatalf("EncodeToken of a decoded token = %v", err)
	}
	if !bytes.Equal(data, again) {
		t.Fatalf("encoding is not stable:\n%s\n%s", data, again)
	}
}

// fuzzCheckError checks what every *Error must satisfy: it names the
// status, its every printed form is Error() (so no body or header can reach
// a log), and it matches the sentinels its status implies.
func fuzzCheckError(t *testing.T, e *Error, status int) {
	t.Helper()
	msg := e.Error()
	if !strings.HasPrefix(msg, "tokenkeeper: ") {
		t.Fatalf("Error() = %q; want the package prefix", msg)
	}
	if e.StatusCode != status {
		t.Fatalf("StatusCode = %d; want %d", e.StatusCode, status)
	}
	if status != 0 && !strings.Contains(msg, strconv.Itoa(status)) {
		t.Fatalf("Error() = %q does not name status %d", msg, status)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(verb, e); got != msg {
			t.Fatalf("Sprintf(%s) = %q; want Error() %q", verb, got, msg)
		}
	}
	fuzzCheckErrorFields(t, e, status)
}

// fuzzCheckErrorFields checks the fields of an *Error and the sentinels
// its status and code imply.
func fuzzCheckErrorFields(t *testing.T, e *Error, status int) {
	t.Helper()
	msg := e.Error()
	if len(e.Body) > maxBody {
		t.Fatalf("len(Body) = %d; want at most %d", len(e.Body), maxBody)
	}
	if status == http.StatusTooManyRequests && !errors.Is(e, ErrRateLimited) {
		t.Fatalf("a 429 is not ErrRateLimited: %q", msg)
	}
	if status >= 500 && !e.retryable() {
		t.Fatalf("a %d is not Temporary: %q", status, msg)
	}
	if e.Code == "invalid_grant" && !errors.Is(e, ErrInvalidGrant) {
		t.Fatalf("code invalid_grant is not ErrInvalidGrant: %q", msg)
	}
	if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
		t.Fatalf("RetryAfter = %v; want within [0, %v]", e.RetryAfter, maxRetryAfter)
	}
}

// FuzzDecodeTokenResponse feeds arbitrary 2xx token responses to the
// decoder: JSON, form-encoded and text bodies under every content type.
func FuzzDecodeTokenResponse(f *testing.F) {
	seeds := []string{
		// Daxium Air (OpenAPI TokenResponse; scope null when none granted).
		`{"access_token":"at_KQ2ZB7XN4M5P","refresh_token":"rt_9W3RTY6UIO2P","expires_in":3600,"token_type":"bearer","scope":null}`,
		// Transiteo: id_token, expires_in documented as the string "3600",
		// no refresh_token.
		`{"id_token":"eyJraWQiOiI4eXVTYUd5WHNEUCtIOTU0UjYxd1Z4QkMyNHUydzRUclF5NEZ","access_token":"eyJraWQiOiJNUHE3ZFJydk1FaTZqRXB1cGdsa1BhN3ZuV0dWWE94MjJTY","expires_in":"3600","token_type":"Bearer"}`,
		// Auth0, code exchange with offline_access and openid, and without.
		`{"access_token":"eyJz93a...k4laUWw","refresh_token":"GEbRxBN...edjnXbL","token_type":"Bearer"}`,
		`{"access_token":"at","refresh_token":"rt","id_token":"idt","scope":"openid offline_access","expires_in":86400,"token_type":"Bearer"}`,
		// Form-encoded (GitHub style), and form sent as text/plain.
		"access_token=at&token_type=bearer&refresh_token=rt&scope=read+write&expires_in=3600&x=1",
		"access_token=at&expires_in=60\n",
		"access_token=%FF%FEtoken&refresh_token=%00%0D%0A",
		"access_token=%zz",
		"access_token=a;b",
		// 200 with an error field, JSON and form.
		`{"error":"invalid_grant","error_description":"refresh token revoked"}`,
		`{"error":{"nested":"rt_SECRET0123456789"},"refresh_token":"rt_SECRET0123456789"}`,
		`{"error":"invalid_grant","error_uri":5,"access_token":"at_SECRET0123456789"}`,
		"error=invalid_grant&error_description=nope&refresh_token=rt_SECRET0123456789",
		// DAERR body answered with 200.
		`{"code":"DAERR-AUTH003","message":"invalid refresh token","url":"https://doc.daxium-air.com/errors/DAERR-AUTH003","api_version":"v1.3","infos":[],"server_time":"1717243200"}`,
		// Broken bodies.
		``, " \r\n\t", `null`, `[]`, `"at"`, `{"access_token":"at"`, `{"access_token":"at"} trailing`,
		`<html><body><h1>502 Bad Gateway</h1></body></html>`, "\xef\xbb\xbf{\"access_token\":\"at\"}",
		`{"access_token":12345}`, `{"access_token":""}`, `{"access_token":"at","token_type":"BEARER"}`,
		`{"access_token":"at","token_type":"DPoP"}`, `{"access_token":"at\r\nX-Injected: 1"}`,
		`{"access_token":"at","Access_Token":"other","ACCESS_TOKEN":"third"}`,
		`{"access_token":"at","extra":{"a":[1,"b",null,true]},"n":1e400}`,
		`{"access_token":"\ud800"}`,
	}
	for _, ei := range fuzzExpiresInShapes {
		seeds = append(seeds, `{"access_token":"at","expires_in":`+ei+`}`)
	}
	seeds = append(seeds, `{"access_token":"at_SECRET0123456789","expires_in":"at_SECRET0123456789"}`)
	for _, body := range seeds {
		for _, ct := range fuzzContentTypes[:5] {
			f.Add([]byte(body), ct)
		}
	}
	f.Add([]byte("access_token=at&expires_in=3600"), "application/x-www-form-urlencoded; charset=utf-8")
	f.Add([]byte("access_token=at"), "APPLICATION/X-WWW-FORM-URLENCODED")
	f.Add([]byte(`{"access_token":"at"}`), "text/html")
	f.Add([]byte(`{"access_token":"at"}`), "")
	f.Add([]byte(`{"access_token":"at"}`), `application/json; charset="`)

	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		const status = http.StatusOK
		tok, err := decodeTokenResponse(status, contentType, body, fuzzNow)
		if err != nil {
			if tok != nil {
				t.Fatalf("a token and an error: %v", err)
			}
			fuzzCheckDecodeError(t, err, status, contentType, body)
			return
		}
		fuzzCheckDecodedToken(t, tok)
	})
}

// fuzzCheckDecodeError checks the error of a token response: an *Error,
// malformed or with a code, repeating no value of the body but its code
// and message.
func fuzzCheckDecodeError(t *testing.T, err error, status int, contentType string, body []byte) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %q is not an *Error", err, err)
	}
	fuzzCheckError(t, e, status)
	if !errors.Is(err, ErrMalformedResponse) && e.Code == "" {
		t.Fatalf("error %q is neither malformed nor has a provider code", err)
	}

	// The message may repeat the body's code and message, and
	// nothing else of it.
	var allowed, other []string
	if fuzzIsForm(contentType, body) {
		q, _ := url.ParseQuery(string(bytes.TrimSpace(body)))
		allowed, other = fuzzFormValues(q)
	} else if v, ok := fuzzDecodeFirstJSON(bytes.TrimSpace(body)); ok {
		allowed, other = fuzzBodyValues(v)
	}
	if leaks := fuzzLeaks(err.Error(), allowed, other); len(leaks) > 0 {
		t.Fatalf("Error() %q repeats body values %q that are not its code or message", err, leaks)
	}
}

// fuzzCheckDecodedToken checks a decoded token: an access token, the
// receipt time, a bounded expiry, no field twice, and a store round trip.
func fuzzCheckDecodedToken(t *testing.T, tok *Token) {
	t.Helper()
	if tok == nil {
		t.Fatal("nil token and nil error")
	}
	if tok.AccessToken == "" {
		t.Fatal("a token without AccessToken was accepted")
	}
	if !tok.IssuedAt.Equal(fuzzNow) {
		t.Fatalf("IssuedAt = %v; want the receipt time %v", tok.IssuedAt, fuzzNow)
	}
	if !tok.Expiry.IsZero() && (tok.Expiry.Before(fuzzNow) || tok.Expiry.After(fuzzNow.Add(maxExpiresIn))) {
		t.Fatalf("Expiry = %v; want zero or within [receipt, receipt+%v]", tok.Expiry, maxExpiresIn)
	}
	if strings.EqualFold(tok.TokenType, "bearer") && tok.TokenType != "Bearer" {
		t.Fatalf("TokenType = %q; want the bearer case normalized", tok.TokenType)
	}
	if got := tok.Extra("access_token"); got != tok.AccessToken {
		t.Fatalf("Extra(access_token) = %v; want %q", got, tok.AccessToken)
	}
	for k := range tok.raw {
		if wireFields[k] {
			t.Fatalf("field %q is both a Token field and an extra", k)
		}
	}
	texts := []string{tok.AccessToken, tok.RefreshToken, tok.IDToken, tok.TokenType, tok.Scope}
	for k, v := range tok.raw {
		texts = append(texts, k, fmt.Sprint(v))
	}
	if !fuzzAllUTF8(texts...) {
		// A form-encoded response can carry any bytes. The store
		// format cannot hold them: it must refuse the token rather
		// than keep another one.
		if data, err := EncodeToken(tok); err == nil {
			t.Fatalf("EncodeToken of a token with invalid UTF-8 = %q; want an error", data)
		}
		return
	}
	fuzzRoundTrip(t, tok)
}

// fuzzIsForm tells which of its two parsers decodeTokenResponse uses.
func fuzzIsForm(contentType string, body []byte) bool {
	ct, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	return ct == "application/x-www-form-urlencoded" || (ct == "text/plain" && len(trimmed) > 0 && trimmed[0] != '{')
}

// FuzzExpiresIn puts one expires_in value in every shape a response can
// carry it: a JSON fragment, the same text as a JSON string, and a form
// field. The three must agree, and a lifetime never ends before receipt.
func FuzzExpiresIn(f *testing.F) {
	for _, ei := range fuzzExpiresInShapes {
		f.Add(ei)
	}
	f.Add("3600\x00")
	f.Add("\t3600\n")
	f.Add("1e-9")
	f.Add("315360001")
	f.Fuzz(func(t *testing.T, raw string) {
		fragment, fragErr := decodeTokenResponse(200, "application/json", []byte(`{"access_token":"at","expires_in":`+raw+`}`), fuzzNow)
		quoted, _ := json.Marshal(raw)
		str, strErr := decodeTokenResponse(200, "application/json", []byte(`{"access_token":"at","expires_in":`+string(quoted)+`}`), fuzzNow)
		form, formErr := decodeTokenResponse(200, "application/x-www-form-urlencoded", []byte("access_token=at&expires_in="+url.QueryEscape(raw)), fuzzNow)

		for name, r := range map[string]struct {
			tok *Token
			err error
		}{"fragment": {fragment, fragErr}, "string": {str, strErr}, "form": {form, formErr}} {
			if r.err != nil {
				if !errors.Is(r.err, ErrMalformedResponse) {
					t.Fatalf("%s: error %q is not ErrMalformedResponse", name, r.err)
				}
				if name != "fragment" && !strings.Contains(r.err.Error(), "expires_in") {
					t.Fatalf("%s: error %q does not name expires_in", name, r.err)
				}
				continue
			}
			if exp := r.tok.Expiry; !exp.IsZero() && (exp.Before(fuzzNow) || exp.After(fuzzNow.Add(maxExpiresIn))) {
				t.Fatalf("%s: Expiry = %v; want zero or within [receipt, receipt+%v]", name, exp, maxExpiresIn)
			}
		}
		fuzzExpiresInAgree(t, raw, fragment, str, form, fragErr, strErr, formErr)
	})
}

// fuzzExpiresInAgree checks that the three shapes of one expires_in give
// the same lifetime where they mean the same value.
func fuzzExpiresInAgree(t *testing.T, raw string, fragment, str, form *Token, fragErr, strErr, formErr error) {
	t.Helper()
	if utf8.ValidString(raw) {
		// A JSON string and a form field with the same text are the
		// same expires_in.
		if (strErr == nil) != (formErr == nil) {
			t.Fatalf("expires_in %q: as a JSON string err = %v, as a form field err = %v", raw, strErr, formErr)
		}
		if strErr == nil && !str.Expiry.Equal(form.Expiry) {
			t.Fatalf("expires_in %q: as a JSON string Expiry = %v, as a form field %v", raw, str.Expiry, form.Expiry)
		}
	}
	// A number and the same number in a string mean the same lifetime
	// (Transiteo's "3600" is Daxium's 3600).
	if v, ok := fuzzDecodeJSON([]byte(raw)); ok && fragErr == nil {
		if _, isNumber := v.(json.Number); !isNumber {
			return
		}
		if strErr != nil {
			t.Fatalf("expires_in %s decodes as a number but %q is refused: %v", raw, raw, strErr)
		}
		if !fragment.Expiry.Equal(str.Expiry) {
			t.Fatalf("expires_in %s: Expiry %v as a number, %v as a string", raw, fragment.Expiry, str.Expiry)
		}
	}
}

// FuzzParseError feeds arbitrary error responses to parseError and to the
// exported DecodeError: RFC 6749 and DAERR bodies, bare messages, HTML and
// arbitrary bytes, with any Retry-After.
func FuzzParseError(f *testing.F) {
	bodies := []string{
		// RFC 6749 (Auth0, Transiteo's bare {"error": ...}).
		`{"error":"invalid_grant","error_description":"Unknown or invalid refresh token.","error_uri":"https://auth0.com/docs"}`,
		`{"error":"invalid_grant"}`,
		`{"error":"invalid_client","error_description":"Client authentication failed."}`,
		`{"error":"invalid_token","error_description":"invalid, expired or revoked access token"}`,
		// DAERR, server_time as documented (unix seconds as a string), as a
		// number, as ISO 8601, and with infos that PHP encodes as an object.
		`{"code":"DAERR-LOG013","message":"Too many login attempts, retry later","url":"https://doc.daxium-air.com/errors/DAERR-LOG013","api_version":"v1.3","infos":[],"server_time":"1717243200"}`,
		`{"code":"DAERR-AUTH004","message":"invalid or expired access token","url":"https://doc.daxium-air.com/errors/DAERR-AUTH004","api_version":"v1.3","infos":["a",{"b":1}],"server_time":1717243200}`,
		`{"code":"DAERR-AUTH002","message":"invalid username or password","server_time":"2024-06-01T12:00:00Z"}`,
		`{"code":"DAERR-AUTH002","message":"invalid username or password","server_time":"2024-06-01T14:00:00+0200"}`,
		`{"code":"DAERR-AUTH002","message":"x","infos":{"field":"password"}}`,
		`{"code":"DAERR-AUTH002","message":"x","api_version":1.3}`,
		`{"code":"DAERR-AUTH002","message":123}`,
		`{"code":1234,"message":"numeric code"}`,
		`{"code":"DAERR-X","server_time":"NaN"}`,
		`{"code":"DAERR-X","server_time":"-1"}`,
		`{"code":"DAERR-X","server_time":"99999999999999"}`,
		// Bare message (Transiteo's API 401).
		`{"message":"The incoming token has expired"}`,
		`{"message":"Unauthorized"}`,
		// Odd and broken.
		`{"error":"invalid_grant","error_description":null}`,
		`{"error":"invalid_grant","ERROR":"other"}`,
		`{"error":{"x":"rt_SECRET0123456789"}}`,
		`{"error":"invalid_grant","refresh_token":"rt_SECRET0123456789","password":"pw_SECRET0123456789"}`,
		`{}`, `[]`, `null`, `"error"`, ``, "   ", `{"error":"invalid_grant"`,
		`<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>`,
		"\x00\xff\xfe", "\xef\xbb\xbf{\"error\":\"invalid_grant\"}",
	}
	type hdr struct {
		status      int
		contentType string
		retryAfter  string
	}
	headers := []hdr{
		{400, "application/json", ""},
		{401, "application/json", ""},
		{403, "application/json; charset=utf-8", ""},
		{429, "application/json", "120"},
		{429, "application/json", "Sun, 01 Jun 2025 12:00:45 GMT"},
		{502, "text/html", ""},
		{503, "", "not a date"},
		{200, "application/json", ""},
	}
	for i, b := range bodies {
		h := headers[i%len(headers)]
		f.Add(h.status, h.contentType, h.retryAfter, []byte(b))
		f.Add(401, "application/json", "", []byte(b))
	}

	f.Fuzz(func(t *testing.T, status int, contentType, retryAfter string, body []byte) {
		// Any status a response can have.
		status = 100 + int(uint(status)%900)
		h := http.Header{}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		e := parseError(status, h, body, fuzzNow)
		if e == nil {
			t.Fatal("parseError returned nil")
		}
		fuzzCheckError(t, e, status)
		if !bytes.Equal(e.Body, body) {
			t.Fatalf("Body = %q; want the body %q", e.Body, body)
		}
		if want := parseRetryAfter(h.Get("Retry-After"), fuzzNow); e.RetryAfter != want {
			t.Fatalf("RetryAfter = %v; want %v", e.RetryAfter, want)
		}
		if e.Code == "" && e.Message == "" {
			t.Fatalf("neither code nor message: %q", e)
		}

		v, isJSON := fuzzDecodeJSON(bytes.TrimSpace(body))
		var allowed, other []string
		if isJSON {
			allowed, other = fuzzBodyValues(v)
		}
		if leaks := fuzzLeaks(e.Error(), allowed, other); len(leaks) > 0 {
			t.Fatalf("Error() %q repeats body values %q that are not its code or message", e, leaks)
		}

		fuzzCheckCodeKept(t, e, v, body)

		// DecodeError is parseError on a response.
		resp := &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body))}
		d := DecodeError(resp)
		fuzzCheckError(t, d, status)
		if d.Code != e.Code || d.Message != e.Message || !bytes.Equal(d.Body, e.Body) || !d.ServerTime.Equal(e.ServerTime) {
			t.Fatalf("DecodeError = %q; parseError = %q", d, e)
		}
	})
}

// fuzzCheckCodeKept checks that a JSON object's code survives whatever its
// other fields hold.
func fuzzCheckCodeKept(t *testing.T, e *Error, v any, body []byte) {
	t.Helper()
	obj, ok := v.(map[string]any)
	if !ok || !fuzzUnambiguousKeys(obj) {
		return
	}
	want := ""
	if s, ok := obj["error"].(string); ok && s != "" {
		want = s
	} else if s, ok := obj["code"].(string); ok && s != "" {
		want = s
	}
	if want != "" && e.Code != want {
		t.Fatalf("Code = %q; want %q from the body %s", e.Code, want, body)
	}
}

// fuzzUnambiguousKeys reports whether no two keys of obj, nor a key and one
// of the fields the decoder knows, differ only in case: encoding/json then
// picks among them in ways a simple reference cannot follow.
func fuzzUnambiguousKeys(obj map[string]any) bool {
	known := []string{"error", "error_description", "error_uri", "code", "message", "url", "api_version", "infos", "server_time"}
	for k := range obj {
		for _, n := range known {
			if k != n && strings.EqualFold(k, n) {
				return false
			}
		}
	}
	return true
}

// FuzzParseRetryAfter checks Retry-After in both its forms: delay-seconds
// and an HTTP-date (RFC 9110, section 10.2.3), and arbitrary text.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", " ", "0", "-5", "1", " 120 ", "+5", "3600", "3601", "007",
		"9223372036854775807", "99999999999999999999", "1.5", "1e3", "tomorrow", "120s",
		"Sun, 01 Jun 2025 12:00:45 GMT", "Sunday, 01-Jun-25 12:00:45 GMT", "Sun Jun  1 12:00:45 2025",
		"Sun, 01 Jun 2025 11:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT",
		"Sun, 01 Jun 2025 12:00:45 +0200", "\x00", "٣"} {
		f.Add(s, int64(45))
	}
	f.Add("", int64(-3600))
	f.Add("", int64(7200))
	f.Add("", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, v string, offset int64) {
		d := parseRetryAfter(v, fuzzNow)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v; want within [0, %v]", v, d, maxRetryAfter)
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			want := time.Duration(0)
			switch {
			case n >= int64(maxRetryAfter/time.Second):
				want = maxRetryAfter
			case n > 0:
				want = time.Duration(n) * time.Second
			}
			if d != want {
				t.Fatalf("parseRetryAfter(%q) = %v; want %v", v, d, want)
			}
		}

		// An HTTP-date offset seconds from now, in each of its three
		// formats, asks for that delay, capped.
		offset %= 100 * 365 * 24 * 3600
		at := fuzzNow.Add(time.Duration(offset) * time.Second)
		want := min(max(at.Sub(fuzzNow), 0), maxRetryAfter)
		for _, layout := range []string{http.TimeFormat, time.RFC850, time.ANSIC} {
			s := at.Format(layout)
			if layout == time.RFC850 {
				// RFC 850 dates have two-digit years: only those within
				// the century they denote can round-trip.
				if at.Year() < 2000 || at.Year() > 2068 {
					continue
				}
				s = at.UTC().Format("Monday, 02-Jan-06 15:04:05 GMT")
			}
			if got := parseRetryAfter(s, fuzzNow); got != want {
				t.Fatalf("parseRetryAfter(%q) = %v; want %v", s, got, want)
			}
		}
	})
}

// FuzzParseServerTime checks DAERR's server_time: unix seconds as a string
// (as specified) or a number, ISO 8601 (as some documents show), and
// anything else, which must read as the zero time.
func FuzzParseServerTime(f *testing.F) {
	for _, s := range []string{``, `null`, `""`, `"1717243200"`, `1717243200`, `1717243200.25`, `"1717243200.5"`,
		`"-1"`, `-1`, `"0"`, `"-0"`, `1e11`, `1e12`, `"NaN"`, `"nan"`, `"Inf"`, `"-Inf"`, `"0x1p30"`, `"1_000"`,
		`"2024-06-01T12:00:00Z"`, `"2024-06-01T12:00:00.123456789Z"`, `"2024-06-01T14:00:00+0200"`,
		`"2024-06-01T14:00:00+02:00"`, `"2024-06-01T12:00:00"`, `"2024-06-01 12:00:00"`, `"01/06/2024"`,
		`"0000-01-01T00:00:00+01:00"`, `"9999-12-31T23:59:59-01:00"`, `{"t":1}`, `[1]`, `true`, `"\u0031"`} {
		f.Add([]byte(s), int64(1717243200))
	}
	f.Fuzz(func(t *testing.T, raw []byte, unix int64) {
		got := parseServerTime(json.RawMessage(raw))
		if !got.IsZero() && (got.Year() < 0 || got.Year() > 9999) {
			t.Fatalf("parseServerTime(%s) = %v; want the zero time or a real date", raw, got)
		}
		if s := jsonString(raw); s != "" {
			if _, err := strconv.ParseFloat(s, 64); err == nil && !got.IsZero() && (got.Unix() < 0 || got.Unix() > 1e11) {
				t.Fatalf("parseServerTime(%s) = %v; want unix seconds within [0, 1e11]", raw, got)
			}
		}

		// Every representation of one instant reads as that instant.
		u := int64(uint64(unix) % 1e11)
		want := time.Unix(u, 0).UTC()
		for _, r := range []string{
			strconv.FormatInt(u, 10),
			strconv.Quote(strconv.FormatInt(u, 10)),
			strconv.Quote(want.Format(time.RFC3339)),
			strconv.Quote(want.In(time.FixedZone("", 2*3600)).Format(time.RFC3339)),
			strconv.Quote(want.Format("2006-01-02T15:04:05Z0700")),
		} {
			if want.Year() > 9999 && strings.Contains(r, "-") {
				continue
			}
			if got := parseServerTime(json.RawMessage(r)); !got.Equal(want) {
				t.Fatalf("parseServerTime(%s) = %v; want %v", r, got, want)
			}
		}
	})
}

// FuzzCallback feeds arbitrary redirect queries, parsed as a server would
// with url.ParseQuery, to AuthCodeFlow.Callback.
func FuzzCallback(f *testing.F) {
	const state = "q3RzT9xXb2Lk8wPmV4nY1cZa"
	for _, q := range []string{
		// Auth0's documented callback, and its error form.
		"code=BPPLN3Z4qCTvSNOy&state=" + state,
		"error=access_denied&error_description=User+did+not+authorize+the+request&state=" + state,
		"error=invalid_request&error_description=code_challenge+is+required&error_uri=https%3A%2F%2Fauth0.com%2Fdocs&state=" + state,
		"error=access_denied&code=ac_SECRET0123456789&state=" + state,
		// State problems.
		"code=BPPLN3Z4qCTvSNOy",
		"code=BPPLN3Z4qCTvSNOy&state=",
		"code=BPPLN3Z4qCTvSNOy&state=wrong",
		"code=BPPLN3Z4qCTvSNOy&state=" + state + "&state=other",
		"code=BPPLN3Z4qCTvSNOy&state=other&state=" + state,
		"code=BPPLN3Z4qCTvSNOy&state=" + state[:len(state)-1],
		"code=BPPLN3Z4qCTvSNOy&state=" + state + "x",
		"code=BPPLN3Z4qCTvSNOy&STATE=" + state,
		// Code problems.
		"state=" + state,
		"code=&state=" + state,
		"code=a&code=b&state=" + state,
		"code=%00%0D%0A&state=" + state,
		// Unparseable queries: url.ParseQuery keeps what it could read.
		"code=BPPLN3Z4qCTvSNOy;state=" + state,
		"code=%zz&state=" + state,
		"state=" + state + "&code=%zz",
		"",
		"&&&==&",
	} {
		f.Add(q, state)
		f.Add(q, "")
	}
	f.Fuzz(func(t *testing.T, rawQuery, flowState string) {
		query, _ := url.ParseQuery(rawQuery)
		flow := &AuthCodeFlow{State: flowState, Verifier: "verifier", RedirectURI: "http://127.0.0.1/callback"}
		g, err := flow.Callback(query)

		stateOK := flowState != "" && query.Get("state") == flowState
		switch {
		case err == nil:
			fuzzCheckCallbackGrant(t, g, query, stateOK)
			return
		case g != nil:
			t.Fatalf("Callback returned grant %v with error %v", g, err)
		}
		fuzzCheckCallbackError(t, err, query, flowState, stateOK)
	})
}

// fuzzCheckCallbackGrant checks a callback that was accepted: its state
// was the flow's, it had no error, and the grant carries its code.
func fuzzCheckCallbackGrant(t *testing.T, g Grant, query url.Values, stateOK bool) {
	t.Helper()
	if !stateOK {
		t.Fatalf("Callback accepted state %q for another flow state", query.Get("state"))
	}
	if query.Get("error") != "" {
		t.Fatalf("Callback returned a grant despite error %q", query.Get("error"))
	}
	form, ferr := g.form()
	if ferr != nil || form.Get("code") == "" || form.Get("code") != query.Get("code") {
		t.Fatalf("Callback grant form = %v, %v; want code %q", form, ferr, query.Get("code"))
	}
}

// fuzzCheckCallbackSentinel checks that a refused callback matches the
// sentinel for its cause: a state mismatch or a missing code.
func fuzzCheckCallbackSentinel(t *testing.T, err error, query url.Values, stateOK bool) {
	t.Helper()
	switch {
	case !stateOK && (!errors.Is(err, errStateMismatch) || !errors.Is(err, ErrBadCallback)):
		t.Fatalf("state mismatch: err = %v; want ErrBadCallback for the state", err)
	case stateOK && query.Get("error") == "" && (!errors.Is(err, errMissingCode) || !errors.Is(err, ErrBadCallback)):
		t.Fatalf("no code: err = %v; want ErrBadCallback for the code", err)
	}
}

// fuzzCheckCallbackError checks a refused callback: the sentinel or the
// provider's *Error that fits, and no state or code in the message.
func fuzzCheckCallbackError(t *testing.T, err error, query url.Values, flowState string, stateOK bool) {
	t.Helper()
	fuzzCheckCallbackSentinel(t, err, query, stateOK)
	var e *Error
	isProvider := errors.As(err, &e)
	switch {
	case !stateOK && isProvider:
		t.Fatalf("state mismatch reported as a provider error: %v", err)
	case stateOK && query.Get("error") != "":
		if !isProvider {
			t.Fatalf("error %q in the callback: got %T %v; want *Error", query.Get("error"), err, err)
		}
		if e.StatusCode != 0 || e.Code != query.Get("error") || e.Message != query.Get("error_description") || e.URL != query.Get("error_uri") {
			t.Fatalf("*Error = {%d %q %q %q}; want {0 %q %q %q}", e.StatusCode, e.Code, e.Message, e.URL,
				query.Get("error"), query.Get("error_description"), query.Get("error_uri"))
		}
		fuzzCheckError(t, e, 0)
	}
	// Neither the flow's state nor the code reaches the message,
	// unless the provider's own error text repeats them.
	msg := err.Error()
	allowed := []string{query.Get("error"), query.Get("error_description")}
	other := append([]string{flowState}, query["code"]...)
	other = append(other, query["state"]...)
	if leaks := fuzzLeaks(msg, allowed, other); len(leaks) > 0 {
		t.Fatalf("Callback error %q repeats %q", msg, leaks)
	}
}

// FuzzDecodeToken feeds arbitrary bytes to the file store format's
// decoder. What it accepts must round-trip through EncodeToken; what it
// refuses is ErrCorruptStore with no part of the data in the message.
func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"access_token":"at","token_type":"Bearer","refresh_token":"rt","id_token":"idt","scope":"openid","expiry":"2025-06-01T13:00:00Z","issued_at":"2025-06-01T12:00:00Z","extra":{"n":1,"s":"v","o":{"a":[1,2.5,"x",null,true]}}}`,
		`{"version":1,"refresh_token":"rt_SECRET0123456789"}`,
		`{"version":1,"access_token":"at","expiry":"2025-06-01T14:00:00.123456789+02:00"}`,
		`{"version":1,"access_token":"at","expiry":"0000-01-01T00:00:00+01:00"}`,
		`{"version":1,"access_token":"at","expiry":"9999-12-31T23:59:59-01:00"}`,
		`{"version":1,"access_token":"at","expiry":null,"issued_at":null,"extra":null}`,
		`{"version":1,"access_token":"at","extra":{"big":1e400,"neg":-0,"exp":1E+2}}`,
		`{"VERSION":1,"Access_Token":"at"}`,
		`{"version":1,"access_token":"a","access_token":"b"}`,
		`{"version":1,"access_token":"\ud800"}`,
		`{"version":2,"access_token":"at_SECRET0123456789"}`,
		`{"version":1,"access_token":"at_SECRET0123456789","expiry":"soon"}`,
		`{"version":1,"access_token":"at","extra":[]}`,
		`{"version":1}`, `{}`, `null`, ``, `[]`, `{"version":1,"access_token":"at"} {}`,
		`{"version":1,"access_token":"at"}` + "\n",
		`{"version":"1","access_token":"at"}`,
		`{"version":1.0,"access_token":"at"}`,
		// The DPoP key of a Source (PKCS #8, base64), and broken ones.
		`{"version":1,"access_token":"at","token_type":"DPoP","refresh_token":"rt","dpop_key":"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDeL8m5gjpAfK+rXC+VYQ8M5+NzCfc444kisfcOh6gs+hRANCAAT7wc4AIrzkF2EhZPTOqeZSwJmpitQDGxS0KtGRb1xNl3D9G5t0Qk31pNMuU76H7sIQ4+KLPsS9KTrt0b4tosit"}`,
		`{"version":1,"refresh_token":"rt","dpop_key":"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0w"}`,
		`{"version":1,"refresh_token":"rt","dpop_key":"MIGHAgEAMBMGByqGSM49\nAgEGCCqGSM49AwEHBG0wawIBAQQgDeL8m5gjpAfK+rXC+VYQ8M5+NzCfc444kisfcOh6gs+hRANCAAT7wc4AIrzkF2EhZPTOqeZSwJmpitQDGxS0KtGRb1xNl3D9G5t0Qk31pNMuU76H7sIQ4+KLPsS9KTrt0b4tosit"}`,
		`{"version":1,"refresh_token":"rt","dpop_key":"not base64!"}`,
		`{"version":1,"refresh_token":"rt","dpop_key":""}`,
		`{"version":1,"refresh_token":"rt","dpop_key":null}`,
		`{"version":1,"refresh_token":"rt","dpop_key":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := DecodeToken(data)
		if err != nil {
			if tok != nil {
				t.Fatalf("a token and an error: %v", err)
			}
			if !errors.Is(err, ErrCorruptStore) {
				t.Fatalf("error %q is not ErrCorruptStore", err)
			}
			if v, ok := fuzzDecodeJSON(bytes.TrimSpace(data)); ok {
				_, values := fuzzBodyValues(map[string]any{"data": v})
				if leaks := fuzzLeaks(err.Error(), nil, values); len(leaks) > 0 {
					t.Fatalf("DecodeToken error %q repeats stored values %q", err, leaks)
				}
			}
			return
		}
		if tok == nil {
			return // an empty token: no token stored
		}
		if tok.AccessToken == "" && tok.RefreshToken == "" {
			t.Fatal("a token with neither access nor refresh token was accepted")
		}
		fuzzRoundTrip(t, tok)
	})
}

// FuzzTokenRoundTrip builds tokens from arbitrary fields and checks that
// the store format keeps every one of them: EncodeToken either fails or
// DecodeToken gives the same token back.
func FuzzTokenRoundTrip(f *testing.F) {
	f.Add("at_KQ2ZB7XN4M5P", "Bearer", "rt_9W3RTY6UIO2P", "", "", int64(1748782800), int64(0), int64(1748779200), "", "")
	f.Add("eyJraWQiOiJNUHE3", "Bearer", "", "eyJraWQiOiI4eXVT", "openid", int64(1748782800), int64(123456789), int64(1748779200), "x_custom", "1")
	f.Add("", "", "rt_only", "", "", int64(0), int64(0), int64(0), "", "")
	f.Add("at", "bearer", "rt", "id", "read write", int64(-62135596800), int64(0), int64(253402300799), "nested", `{"a":[1,"b"]}`)
	f.Add("at\r\n", "DPoP", "rt\x00", "id\t", "s", int64(1), int64(1), int64(1), "k", "v")
	f.Add("at\xff", "", "rt", "", "", int64(0), int64(0), int64(0), "", "")
	f.Fuzz(func(t *testing.T, access, typ, refresh, id, scope string, expiry, expiryNanos, issued int64, extraKey, extraVal string) {
		if access == "" && refresh == "" {
			return // not a token a Source would store
		}
		// Times within the years the format can hold, as a Source
		// computes them.
		const span = 253402300799 + 62135596800 // 0001-01-01 to 9999-12-31
		tok := &Token{AccessToken: access, TokenType: typ, RefreshToken: refresh, IDToken: id, Scope: scope}
		if expiry != 0 {
			tok.Expiry = time.Unix(int64(uint64(expiry)%span)-62135596800, int64(uint64(expiryNanos)%1e9)).UTC()
		}
		if issued != 0 {
			tok.IssuedAt = time.Unix(int64(uint64(issued)%span)-62135596800, 0).UTC()
		}
		if extraKey != "" {
			// Extras hold what a JSON response decodes to.
			if v, ok := fuzzDecodeJSON([]byte(extraVal)); ok {
				tok.raw = map[string]any{extraKey: v}
			} else {
				tok.raw = map[string]any{extraKey: extraVal}
			}
		}
		if _, err := EncodeToken(tok); err != nil {
			return // refused loudly: nothing is lost silently
		}
		fuzzRoundTrip(t, tok)
	})
}

// FuzzOAuth2RoundTrip converts tokens as the library decodes them to
// *oauth2.Token and back, twice, and checks that nothing is lost: every
// field, every extra response field, and IssuedAt whenever the token has a
// lifetime (x/oauth2 has no issue time of its own; see FromOAuth2).
func FuzzOAuth2RoundTrip(f *testing.F) {
	f.Add("at_KQ2ZB7XN4M5P", "Bearer", "rt_9W3RTY6UIO2P", "", "", int64(1748779200), int64(3600), "", "")
	f.Add("eyJraWQiOiJNUHE3", "Bearer", "", "eyJraWQiOiI4eXVT", "openid", int64(1748779200), int64(86400), "x_custom", "1")
	f.Add("at", "", "rt", "", "", int64(1748779200), int64(0), "", "")
	f.Add("at", "DPoP", "", "id", "read write", int64(0), int64(60), "nested", `{"a":[1,"b"],"c":null}`)
	f.Add("at", "bearer", "rt", "", "", int64(-62135596800), int64(1), "expires_in", `"3600"`)
	f.Add("at\xff", "", "", "", "", int64(253402300000), int64(315360000), "k", "not json")
	f.Fuzz(func(t *testing.T, access, typ, refresh, id, scope string, issued, lifetime int64, extraKey, extraVal string) {
		const span = 253402300799 + 62135596800 // 0001-01-01 to 9999-12-31
		tok := &Token{AccessToken: access, TokenType: typ, RefreshToken: refresh, IDToken: id, Scope: scope}
		if issued != 0 {
			tok.IssuedAt = time.Unix(int64(uint64(issued)%span)-62135596800, 0).UTC()
			// Whole seconds, up to the cap, as decodeTokenResponse
			// computes a lifetime.
			if l := time.Duration(uint64(lifetime)%uint64(maxExpiresIn/time.Second)) * time.Second; l > 0 {
				tok.Expiry = tok.IssuedAt.Add(l)
			}
		}
		if extraKey != "" && !wireFields[extraKey] {
			if v, ok := fuzzDecodeJSON([]byte(extraVal)); ok {
				tok.raw = map[string]any{extraKey: v}
			} else {
				tok.raw = map[string]any{extraKey: extraVal}
			}
		}
		ot := tok.OAuth2()
		back := FromOAuth2(ot)
		fuzzSameToken(t, "FromOAuth2(OAuth2())", tok, back)
		again := back.OAuth2()
		if again.AccessToken != ot.AccessToken || again.TokenType != ot.TokenType || again.RefreshToken != ot.RefreshToken ||
			!again.Expiry.Equal(ot.Expiry) || again.ExpiresIn != ot.ExpiresIn {
			t.Fatalf("second OAuth2() = %+v; want %+v", again, ot)
		}
		fuzzSameToken(t, "a second round trip", tok, FromOAuth2(again))
	})
}

// fuzzSameToken fails t unless got equals want in every field and every
// extra field; IssuedAt must be equal when want has a lifetime, and zero
// otherwise.
func fuzzSameToken(t *testing.T, what string, want, got *Token) {
	t.Helper()
	if got.AccessToken != want.AccessToken || got.TokenType != want.TokenType || got.RefreshToken != want.RefreshToken ||
		got.IDToken != want.IDToken || got.Scope != want.Scope || !got.Expiry.Equal(want.Expiry) {
		t.Fatalf("%s = %#v; want %#v", what, fuzzFields(got), fuzzFields(want))
	}
	wantIssued := want.IssuedAt
	if want.Expiry.IsZero() {
		wantIssued = time.Time{}
	}
	if !got.IssuedAt.Equal(wantIssued) {
		t.Fatalf("%s: IssuedAt = %v; want %v", what, got.IssuedAt, wantIssued)
	}
	for k, v := range want.raw {
		if g := got.Extra(k); !reflect.DeepEqual(g, v) {
			t.Fatalf("%s: Extra(%q) = %#v; want %#v", what, k, g, v)
		}
	}
}

// fuzzFields lists a token's fields for a failure message (the fuzz
// tokens hold no real secret).
func fuzzFields(t *Token) []any {
	return []any{t.AccessToken, t.TokenType, t.RefreshToken, t.IDToken, t.Scope, t.Expiry, t.IssuedAt}
}

func fuzzAllUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// Regression tests for what the fuzz targets found.

// TestFuzzRegressionLeaks: a token response's Error() repeats values of
// the body that are neither its code nor its message.
func TestFuzzRegressionLeaks(t *testing.T) {
	t.Parallel()
	const secret = "rt_SECRET0123456789"
	for _, body := range []string{
		`{"access_token":"at","expires_in":"` + secret + `"}`,
		`{"error":{"detail":"` + secret + `"}}`,
		`{"error":["` + secret + `"]}`,
	} {
		_, err := decodeTokenResponse(200, "application/json", []byte(body), fuzzNow)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("decodeTokenResponse(%s) error = %v; want an error without %q", body, err, secret)
		}
	}
}

// TestFuzzRegressionErrorBodyFieldTypes: one field of an unexpected type
// makes parseError drop the whole body, so the code (DAERR-LOG013,
// invalid_grant) and every sentinel match are lost.
func TestFuzzRegressionErrorBodyFieldTypes(t *testing.T) {
	t.Parallel()
	for body, code := range map[string]string{
		`{"code":"DAERR-LOG013","message":"Too many login attempts","infos":{"username":"jane"}}`: "DAERR-LOG013",
		`{"code":"DAERR-AUTH002","message":"bad credentials","api_version":1.3}`:                  "DAERR-AUTH002",
		`{"code":"DAERR-AUTH002","message":42}`:                                                   "DAERR-AUTH002",
		`{"error":"invalid_grant","error_uri":5}`:                                                 "invalid_grant",
		`{"error":"invalid_grant","error_description":["expired"]}`:                               "invalid_grant",
	} {
		e := parseError(http.StatusUnauthorized, nil, []byte(body), fuzzNow)
		if e.Code != code {
			t.Errorf("parseError(%s).Code = %q; want %q (Error() %q)", body, e.Code, code, e)
		}
	}
}

// TestFuzzRegressionServerTimeNaN: "NaN" reads as a date in the year
// 292277026304 instead of the zero time.
func TestFuzzRegressionServerTimeNaN(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{`"NaN"`, `"nan"`} {
		if got := parseServerTime(json.RawMessage(raw)); !got.IsZero() {
			t.Errorf("parseServerTime(%s) = %v; want the zero time", raw, got)
		}
	}
}

// TestFuzzRegressionStoreInvalidUTF8: a form-encoded token response can
// carry bytes that are not UTF-8; the store format replaces them, so the
// refresh token read back after a restart is not the one issued.
func TestFuzzRegressionStoreInvalidUTF8(t *testing.T) {
	t.Parallel()
	tok, err := decodeTokenResponse(200, "application/x-www-form-urlencoded", []byte("access_token=at&refresh_token=rt%FF%FE"), fuzzNow)
	if err != nil {
		return // refusing the response is a fix too
	}
	data, err := EncodeToken(tok)
	if err != nil {
		return // refusing to store it is a fix too
	}
	back, err := DecodeToken(data)
	if err != nil {
		t.Fatalf("DecodeToken = %v", err)
	}
	if back.RefreshToken != tok.RefreshToken {
		t.Errorf("stored refresh token %q; want %q", back.RefreshToken, tok.RefreshToken)
	}
}

// TestFuzzRegressionStoreYearRange: DecodeToken accepts an expiry that
// EncodeToken cannot write back.
func TestFuzzRegressionStoreYearRange(t *testing.T) {
	t.Parallel()
	tok, err := DecodeToken([]byte(`{"version":1,"access_token":"at","expiry":"0000-01-01T00:00:00+01:00"}`))
	if err != nil {
		return // refusing the record is a fix too
	}
	if _, err := EncodeToken(tok); err != nil {
		t.Errorf("EncodeToken(DecodeToken(record)) = %v; want the record to round-trip", err)
	}
}

// FuzzBoundJKT feeds arbitrary access tokens to the reader of their
// cnf.jkt claim: it must never panic, and finds a claim only in a token
// of three dot-separated parts.
func FuzzBoundJKT(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{
		enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`{"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`)) + ".sig",
		enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`{"cnf":{"jkt":5}}`)) + ".sig",
		enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(`{"cnf":null}`)) + ".",
		"at_KQ2ZB7XN4M5P", "a.b.c", "..", "a..c", ".e30.", "a.e30.b.c", "a.%%%.b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, at string) {
		if jkt := boundJKT(at); jkt != "" && strings.Count(at, ".") != 2 {
			t.Fatalf("boundJKT(%q) = %q for a token that is not a JWT", at, jkt)
		}
	})
}
