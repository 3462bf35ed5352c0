package tokenkeeper

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTokenErrorResponses sends every error shape the providers use through
// a real server and checks the *Error it becomes.
func TestTokenErrorResponses(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	huge := `{"error":"invalid_request","pad":"` + strings.Repeat("x", 2*mib) + `"}`
	hugeToken := `{"access_token":"at","pad":"` + strings.Repeat("x", 2*mib) + `"}`
	type want struct {
		code, message, url, apiVersion string
		infos                          []string
		serverTime                     time.Time
		retryAfter                     time.Duration
		is                             []error
		temporary                      bool
		text                           string   // the whole Error(), if set
		contains                       []string // parts of Error()
		bodyLen                        int      // -1: do not check
	}
	tests := []struct {
		name        string
		status      int
		contentType string
		header      []string
		body        string
		want        want
	}{
		{
			name: "RFC 6749 invalid_grant", status: 400, contentType: "application/json",
			body: `{"error":"invalid_grant","error_description":"Refresh token revoked","error_uri":"https://auth.example.com/docs/errors#invalid_grant"}`,
			want: want{code: "invalid_grant", message: "Refresh token revoked", url: "https://auth.example.com/docs/errors#invalid_grant",
				is: []error{ErrInvalidGrant}, text: "tokenkeeper: 400 Bad Request: invalid_grant: Refresh token revoked"},
		},
		{
			name: "Transiteo invalid_grant", status: 400, contentType: "application/json",
			body: `{"error":"invalid_grant"}`,
			want: want{code: "invalid_grant", is: []error{ErrInvalidGrant}, text: "tokenkeeper: 400 Bad Request: invalid_grant"},
		},
		{
			name: "invalid_client 401", status: 401, contentType: "application/json; charset=utf-8",
			body: `{"error":"invalid_client","error_description":"Unknown client"}`,
			want: want{code: "invalid_client", message: "Unknown client", is: []error{ErrInvalidClient, ErrUnauthorized}},
		},
		{
			name: "unauthorized_client 400", status: 400, contentType: "application/json",
			body: `{"error":"unauthorized_client"}`,
			want: want{code: "unauthorized_client", is: []error{ErrUnauthorized}},
		},
		{
			name: "invalid_request", status: 400, contentType: "application/json",
			body: `{"error":"invalid_request","error_description":"Missing parameter"}`,
			want: want{code: "invalid_request", message: "Missing parameter"},
		},
		{
			name: "unsupported_grant_type", status: 400, contentType: "application/json",
			body: `{"error":"unsupported_grant_type"}`,
			want: want{code: "unsupported_grant_type"},
		},
		{
			name: "invalid_scope matches no sentinel", status: 400, contentType: "application/json",
			body: `{"error":"invalid_scope"}`,
			want: want{code: "invalid_scope"},
		},
		{
			name: "DAERR 401, server_time as unix seconds string", status: 401, contentType: "application/json",
			body: `{"code":"DAERR-AUTH001","message":"Invalid credentials","url":"https://doc.daxium-air.com/errors/DAERR-AUTH001","api_version":"v1.3","infos":[],"server_time":"1717243200"}`,
			want: want{code: "DAERR-AUTH001", message: "Invalid credentials", url: "https://doc.daxium-air.com/errors/DAERR-AUTH001",
				apiVersion: "v1.3", infos: []string{}, serverTime: time.Unix(1717243200, 0), is: []error{ErrUnauthorized},
				text: "tokenkeeper: 401 Unauthorized: DAERR-AUTH001: Invalid credentials"},
		},
		{
			name: "DAERR server_time as number, with infos", status: 401, contentType: "application/json",
			body: `{"code":"DAERR-AUTH002","message":"Token expired","api_version":"v1.3","infos":[{"field":"access_token"},"second"],"server_time":1717243200}`,
			want: want{code: "DAERR-AUTH002", message: "Token expired", apiVersion: "v1.3",
				infos: []string{`{"field":"access_token"}`, `"second"`}, serverTime: time.Unix(1717243200, 0), is: []error{ErrUnauthorized}},
		},
		{
			name: "DAERR server_time as fractional seconds", status: 401, contentType: "application/json",
			body: `{"code":"DAERR-AUTH002","server_time":"1717243200.5"}`,
			want: want{code: "DAERR-AUTH002", serverTime: time.Unix(1717243200, 5e8), is: []error{ErrUnauthorized}},
		},
		{
			name: "DAERR server_time as ISO 8601", status: 401, contentType: "application/json",
			body: `{"code":"DAERR-AUTH002","message":"m","server_time":"2024-06-01T14:00:00+02:00"}`,
			want: want{code: "DAERR-AUTH002", message: "m", serverTime: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC), is: []error{ErrUnauthorized}},
		},
		{
			name: "DAERR server_time as ISO 8601 basic offset", status: 401, contentType: "application/json",
			body: `{"code":"DAERR-AUTH002","server_time":"2024-06-01T14:00:00+0200"}`,
			want: want{code: "DAERR-AUTH002", serverTime: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC), is: []error{ErrUnauthorized}},
		},
		{
			name: "DAERR server_time unreadable", status: 401, contentType: "application/json",
			body: `{"code":"DAERR-AUTH002","server_time":"yesterday"}`,
			want: want{code: "DAERR-AUTH002", is: []error{ErrUnauthorized}},
		},
		{
			name: "DAERR-LOG013 with 429 and Retry-After seconds", status: 429, contentType: "application/json",
			header: []string{"Retry-After", "120"},
			body:   `{"code":"DAERR-LOG013","message":"Too many login attempts","api_version":"v1.3","infos":[],"server_time":"1717243200"}`,
			want: want{code: "DAERR-LOG013", message: "Too many login attempts", apiVersion: "v1.3", infos: []string{},
				serverTime: time.Unix(1717243200, 0), retryAfter: 2 * time.Minute, is: []error{ErrRateLimited}, temporary: true,
				text: "tokenkeeper: 429 Too Many Requests: DAERR-LOG013: Too many login attempts"},
		},
		{
			name: "DAERR-LOG013 with another status", status: 401, contentType: "application/json",
			body: `{"code":"DAERR-LOG013","message":"Too many login attempts"}`,
			want: want{code: "DAERR-LOG013", message: "Too many login attempts", is: []error{ErrRateLimited, ErrUnauthorized}, temporary: true},
		},
		{
			name: "429 with Retry-After as HTTP-date", status: 429, contentType: "application/json",
			header: []string{"Retry-After", testEpoch.Add(90 * time.Second).Format(http.TimeFormat)},
			body:   `{"message":"Too Many Requests"}`,
			want:   want{message: "Too Many Requests", retryAfter: 90 * time.Second, is: []error{ErrRateLimited}, temporary: true},
		},
		{
			name: "Retry-After seconds capped", status: 429, contentType: "application/json",
			header: []string{"Retry-After", "86400"},
			body:   `{"error":"slow_down"}`,
			want:   want{code: "slow_down", retryAfter: time.Hour, is: []error{ErrRateLimited}, temporary: true},
		},
		{
			name: "Retry-After HTTP-date capped", status: 503, contentType: "application/json",
			header: []string{"Retry-After", testEpoch.Add(3 * time.Hour).Format(http.TimeFormat)},
			body:   `{"error":"temporarily_unavailable"}`,
			want:   want{code: "temporarily_unavailable", retryAfter: time.Hour, temporary: true},
		},
		{
			name: "Retry-After HTTP-date in the past", status: 503, contentType: "application/json",
			header: []string{"Retry-After", testEpoch.Add(-time.Minute).Format(http.TimeFormat)},
			body:   `{"error":"temporarily_unavailable"}`,
			want:   want{code: "temporarily_unavailable", temporary: true},
		},
		{
			name: "Retry-After unreadable", status: 503, contentType: "application/json",
			header: []string{"Retry-After", "soon"},
			body:   `{"error":"temporarily_unavailable"}`,
			want:   want{code: "temporarily_unavailable", temporary: true},
		},
		{
			name: "200 with an error field", status: 200, contentType: "application/json",
			body: `{"error":"invalid_grant","error_description":"Code already used"}`,
			want: want{code: "invalid_grant", message: "Code already used", is: []error{ErrInvalidGrant},
				text: "tokenkeeper: 200 OK: invalid_grant: Code already used"},
		},
		{
			name: "200 form-encoded error", status: 200, contentType: "application/x-www-form-urlencoded",
			body: `error=access_denied&error_description=Denied+by+policy&error_uri=https%3A%2F%2Fauth.example.com%2Fdenied`,
			want: want{code: "access_denied", message: "Denied by policy", url: "https://auth.example.com/denied",
				text: "tokenkeeper: 200 OK: access_denied: Denied by policy"},
		},
		{
			name: "200 with an error object", status: 200, contentType: "application/json",
			body: `{"error":{"reason":"x"}}`,
			want: want{code: "unknown_error"},
		},
		{
			name: "HTML 502", status: 502, contentType: "text/html; charset=utf-8",
			body: "<html><body><h1>502 Bad Gateway</h1></body></html>",
			want: want{message: "a text/html body of 50 bytes", temporary: true,
				text: "tokenkeeper: 502 Bad Gateway: a text/html body of 50 bytes"},
		},
		{
			name: "200 HTML page", status: 200, contentType: "text/html",
			body: "<!doctype html><title>Login</title>",
			want: want{is: []error{ErrMalformedResponse}, temporary: true, contains: []string{"200 OK", "text/html", "not a JSON object"}},
		},
		{
			name: "malformed JSON", status: 400, contentType: "application/json",
			body: `{"error":"invalid_grant"`,
			want: want{message: "unreadable body (application/json, 24 bytes)", is: []error{ErrMalformedResponse}},
		},
		{
			name: "200 malformed JSON", status: 200, contentType: "application/json",
			body: `{"access_token":`,
			want: want{is: []error{ErrMalformedResponse}, temporary: true,
				text: "tokenkeeper: 200 OK: token response: body is not a JSON object (application/json, 16 bytes)"},
		},
		{
			name: "JSON of the wrong shape", status: 400, contentType: "application/json",
			body: `["invalid_grant"]`,
			want: want{is: []error{ErrMalformedResponse}, contains: []string{"unreadable body"}},
		},
		{
			name: "JSON with a field of the wrong type", status: 400, contentType: "application/json",
			body: `{"error":"invalid_grant","error_description":42,"infos":{"user":"x"},"api_version":1.3}`,
			want: want{code: "invalid_grant", message: "42", apiVersion: "1.3", infos: []string{`{"user":"x"}`}, is: []error{ErrInvalidGrant}},
		},
		{
			name: "text without a content type", status: 400,
			body: `not json`,
			want: want{message: "unreadable body (text/plain, 8 bytes)", is: []error{ErrMalformedResponse}},
		},
		{
			name: "empty body 500", status: 500,
			want: want{message: "empty body", is: []error{ErrMalformedResponse}, temporary: true,
				text: "tokenkeeper: 500 Internal Server Error: empty body"},
		},
		{
			name: "blank body 401", status: 401, contentType: "application/json", body: " \n",
			want: want{message: "empty body", is: []error{ErrMalformedResponse, ErrUnauthorized}},
		},
		{
			name: "200 empty body", status: 200, contentType: "application/json",
			want: want{is: []error{ErrMalformedResponse}, temporary: true, contains: []string{"200 OK", "empty body"}},
		},
		{
			name: "JSON without code or message", status: 403, contentType: "application/json",
			body: `{}`,
			want: want{message: "no error code in body", text: "tokenkeeper: 403 Forbidden: no error code in body"},
		},
		{
			name: "numeric code", status: 400, contentType: "application/json",
			body: `{"code":42,"message":"numeric"}`,
			want: want{code: "42", message: "numeric"},
		},
		{
			name: "RFC 6749 fields win over DAERR ones", status: 400, contentType: "application/json",
			body: `{"error":"invalid_grant","error_description":"d","error_uri":"https://a/u","code":"DAERR-X","message":"m","url":"https://b/u"}`,
			want: want{code: "invalid_grant", message: "d", url: "https://a/u", is: []error{ErrInvalidGrant}},
		},
		{
			name: "408 is temporary", status: 408, contentType: "application/json", body: `{"message":"timeout"}`,
			want: want{message: "timeout", temporary: true},
		},
		{
			name: "body over 1 MiB with an error status", status: 400, contentType: "application/json",
			body: huge,
			want: want{is: []error{ErrMalformedResponse}, contains: []string{"400 Bad Request", "unreadable body (application/json, 1048576 bytes)"}, bodyLen: mib},
		},
		{
			name: "body over 1 MiB with 200", status: 200, contentType: "application/json",
			body: hugeToken,
			want: want{is: []error{ErrMalformedResponse}, temporary: true, contains: []string{"200 OK", "exceeds 1048576 bytes"}, bodyLen: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, _ := serveTokens(t, reply(tt.status, tt.contentType, tt.body, tt.header...), Config{ClientSecret: "s"})
			tok, err := c.Token(context.Background(), RefreshTokenGrant("rt"))
			assert.Nil(t, tok, "token along with an error")
			require.Error(t, err)
			var pe *Error
			require.ErrorAs(t, err, &pe, "error %q is not an *Error", err)
			w := tt.want
			assert.Equal(t, tt.status, pe.StatusCode, "StatusCode")
			assert.Equal(t, w.code, pe.Code, "Code")
			if w.message != "" {
				assert.Equal(t, w.message, pe.Message, "Message")
			}
			assert.Equal(t, w.url, pe.URL, "URL")
			assert.Equal(t, w.apiVersion, pe.APIVersion, "APIVersion")
			if w.infos == nil {
				assert.Nil(t, pe.Infos, "Infos")
			} else {
				got := []string{}
				for _, raw := range pe.Infos {
					got = append(got, string(raw))
				}
				assert.Equal(t, w.infos, got, "Infos")
			}
			assert.True(t, w.serverTime.Equal(pe.ServerTime), "ServerTime = %v; want %v", pe.ServerTime, w.serverTime)
			assert.Equal(t, w.retryAfter, pe.RetryAfter, "RetryAfter")
			assertSentinels(t, err, w.is...)
			assert.Equal(t, w.temporary, pe.retryable(), "Temporary()")
			assert.Equal(t, w.temporary, IsRetryable(err), "IsRetryable")

			text := err.Error()
			prefix := fmt.Sprintf("tokenkeeper: %d %s", tt.status, http.StatusText(tt.status))
			assert.True(t, strings.HasPrefix(text, prefix), "Error() = %q; want it to start with %q", text, prefix)
			if w.text != "" {
				assert.Equal(t, w.text, text, "Error()")
			}
			for _, part := range w.contains {
				assert.Contains(t, text, part, "Error()")
			}
			switch {
			case w.bodyLen > 0:
				assert.Len(t, pe.Body, w.bodyLen, "Body is capped")
			case w.bodyLen == 0:
				assert.Equal(t, tt.body, string(pe.Body), "Body")
			}
			assert.LessOrEqual(t, len(pe.Body), maxBody, "Body cap")
			assert.Less(t, len(text), 1024, "Error() must stay short")
			if tt.contentType != "" {
				assert.Equal(t, tt.contentType, pe.Header.Get("Content-Type"), "Header")
			}
		})
	}
}

// trackedBody is a response body that records Close and can fail reading.
type trackedBody struct {
	r      io.Reader
	err    error
	closed int
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF && b.err != nil {
		return n, b.err
	}
	return n, err
}

func (b *trackedBody) Close() error {
	b.closed++
	return nil
}

func jsonResponse(status int, body string) (*http.Response, *trackedBody) {
	b := &trackedBody{r: strings.NewReader(body)}
	return &http.Response{
		StatusCode: status,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       b,
	}, b
}

func TestDecodeError(t *testing.T) {
	t.Parallel()
	t.Run("Transiteo API 401", func(t *testing.T) {
		t.Parallel()
		resp, body := jsonResponse(http.StatusUnauthorized, `{"message":"The incoming token has expired"}`)
		e := DecodeError(resp)
		require.NotNil(t, e)
		assert.Equal(t, 1, body.closed, "body closed once")
		assert.Equal(t, 401, e.StatusCode)
		assert.Empty(t, e.Code)
		assert.Equal(t, "The incoming token has expired", e.Message)
		assert.Equal(t, "tokenkeeper: 401 Unauthorized: The incoming token has expired", e.Error())
		assertSentinels(t, e, ErrUnauthorized)
		assert.False(t, e.retryable())
	})
	t.Run("Daxium API 401", func(t *testing.T) {
		t.Parallel()
		resp, body := jsonResponse(http.StatusUnauthorized,
			`{"code":"DAERR-AUTH002","message":"Access token expired","url":"https://doc.daxium-air.com/errors","api_version":"v1.3","infos":["a"],"server_time":"1717243200"}`)
		e := DecodeError(resp)
		assert.Equal(t, 1, body.closed)
		assert.Equal(t, "DAERR-AUTH002", e.Code)
		assert.Equal(t, "Access token expired", e.Message)
		assert.Equal(t, "https://doc.daxium-air.com/errors", e.URL)
		assert.Equal(t, "v1.3", e.APIVersion)
		require.Len(t, e.Infos, 1)
		assert.JSONEq(t, `"a"`, string(e.Infos[0]))
		assert.Equal(t, time.Unix(1717243200, 0).UTC(), e.ServerTime)
		assertSentinels(t, e, ErrUnauthorized)
	})
	t.Run("Transiteo token 400", func(t *testing.T) {
		t.Parallel()
		resp, _ := jsonResponse(http.StatusBadRequest, `{"error":"invalid_grant"}`)
		e := DecodeError(resp)
		assert.Equal(t, "invalid_grant", e.Code)
		assertSentinels(t, e, ErrInvalidGrant)
	})
	t.Run("Retry-After seconds", func(t *testing.T) {
		t.Parallel()
		resp, _ := jsonResponse(http.StatusTooManyRequests, `{"message":"slow down"}`)
		resp.Header.Set("Retry-After", "30")
		e := DecodeError(resp)
		assert.Equal(t, 30*time.Second, e.RetryAfter)
		assertSentinels(t, e, ErrRateLimited)
		assert.True(t, e.retryable())
	})
	t.Run("nil response", func(t *testing.T) {
		t.Parallel()
		e := DecodeError(nil)
		require.NotNil(t, e)
		assertSentinels(t, e, ErrMalformedResponse)
		assert.Contains(t, e.Error(), "nil response")
	})
	t.Run("nil body and header", func(t *testing.T) {
		t.Parallel()
		e := DecodeError(&http.Response{StatusCode: http.StatusBadGateway})
		assert.Equal(t, "empty body", e.Message)
		assertSentinels(t, e, ErrMalformedResponse)
		assert.True(t, e.retryable())
	})
	t.Run("text without header", func(t *testing.T) {
		t.Parallel()
		e := DecodeError(&http.Response{StatusCode: http.StatusInternalServerError, Body: io.NopCloser(strings.NewReader("oops"))})
		assert.Equal(t, "a non-JSON body of 4 bytes", e.Message)
		assert.False(t, errors.Is(e, ErrMalformedResponse), "a 5xx page is not a malformed response")
		assert.True(t, e.retryable())
	})
	t.Run("text on a 4xx", func(t *testing.T) {
		t.Parallel()
		e := DecodeError(&http.Response{StatusCode: http.StatusForbidden, Body: io.NopCloser(strings.NewReader("oops"))})
		assert.Equal(t, "unreadable body (unknown content type, 4 bytes)", e.Message)
		assertSentinels(t, e, ErrMalformedResponse)
	})
	t.Run("read error after a readable body", func(t *testing.T) {
		t.Parallel()
		resp, body := jsonResponse(http.StatusBadRequest, `{"error":"invalid_grant"}`)
		body.err = errors.New("connection reset by peer")
		e := DecodeError(resp)
		assert.Equal(t, 1, body.closed)
		assert.Equal(t, "invalid_grant", e.Code, "what was read is decoded")
		assertSentinels(t, e, ErrInvalidGrant, ErrMalformedResponse)
		assert.Contains(t, e.Error(), "connection reset by peer")
	})
	t.Run("body over 1 MiB", func(t *testing.T) {
		t.Parallel()
		resp, body := jsonResponse(http.StatusUnauthorized, `{"message":"`+strings.Repeat("y", 3<<20)+`"}`)
		e := DecodeError(resp)
		assert.Equal(t, 1, body.closed)
		assert.Len(t, e.Body, maxBody)
		assertSentinels(t, e, ErrMalformedResponse, ErrUnauthorized)
	})
}

func TestErrorMethods(t *testing.T) {
	t.Parallel()
	var nilErr *Error
	assert.Equal(t, "tokenkeeper: <nil error>", nilErr.Error())
	assert.NoError(t, nilErr.Unwrap())
	assert.False(t, nilErr.Is(ErrUnauthorized))
	assert.False(t, nilErr.retryable())

	cb := &Error{Code: "access_denied", Message: "User denied"}
	assert.Equal(t, "tokenkeeper: authorization error: access_denied: User denied", cb.Error())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		assert.Equal(t, cb.Error(), fmt.Sprintf(verb, cb), "Sprintf(%q, *Error)", verb)
		assert.Equal(t, cb.Error(), fmt.Sprintf(verb, *cb), "Sprintf(%q, Error)", verb)
	}
	assert.Equal(t, "<nil>", fmt.Sprint(nilErr), "a nil *Error prints without panicking")
	b, err := json.Marshal(&Error{StatusCode: 401, Code: "invalid_client", Body: []byte("body"), Header: http.Header{"Set-Cookie": {"c"}},
		Infos: []json.RawMessage{[]byte(`"info"`)}, Err: errors.New("cause"), RetryAfter: time.Second})
	require.NoError(t, err)
	assert.JSONEq(t, `{"status":401,"code":"invalid_client","retry_after":1000000000}`, string(b), "Error as JSON")
	var back Error
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, Error{StatusCode: 401, Code: "invalid_client", RetryAfter: time.Second}, back, "Error read back from JSON")

	cause := fmt.Errorf("%w: details", ErrMalformedResponse)
	e := &Error{StatusCode: 502, Err: cause}
	assert.Same(t, cause, errors.Unwrap(e))
	assert.False(t, e.Is(errors.New("other")), "an unrelated error")

	wrapped := fmt.Errorf("refreshing: %w", &Error{StatusCode: 400, Code: "invalid_grant"})
	var pe *Error
	require.ErrorAs(t, wrapped, &pe)
	assert.Equal(t, "invalid_grant", pe.Code)
	assert.ErrorIs(t, wrapped, ErrInvalidGrant)
	assert.False(t, IsRetryable(wrapped))
}

// Error says each thing once: a cause that only repeats the sentinel and
// the message is left out, and the package prefix appears once.
func TestErrorTextSaysItOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    *Error
		want string
	}{
		{"empty body", &Error{StatusCode: 503, Message: "empty body", Err: fmt.Errorf("%w: empty body", ErrMalformedResponse)},
			"tokenkeeper: 503 Service Unavailable: empty body"},
		{"the sentinel with a message", &Error{StatusCode: 200, Message: "token response: no access_token", Err: ErrMalformedResponse},
			"tokenkeeper: 200 OK: token response: no access_token"},
		{"the sentinel alone", &Error{StatusCode: 200, Err: ErrMalformedResponse},
			"tokenkeeper: 200 OK: malformed response"},
		{"a detail beyond the message", &Error{StatusCode: 502, Message: "unreadable body (text/html, 9 bytes)", Err: fmt.Errorf("%w: body is not a JSON object", ErrMalformedResponse)},
			"tokenkeeper: 502 Bad Gateway: unreadable body (text/html, 9 bytes): malformed response: body is not a JSON object"},
		{"a read error", &Error{StatusCode: 502, Code: "server_error", Err: fmt.Errorf("%w: reading body: %w", ErrMalformedResponse, io.ErrUnexpectedEOF)},
			"tokenkeeper: 502 Bad Gateway: server_error: malformed response: reading body: unexpected EOF"},
		{"a foreign cause", &Error{StatusCode: 400, Code: "invalid_grant", Err: errors.New("boom")},
			"tokenkeeper: 400 Bad Request: invalid_grant: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.e.Error(); got != tt.want {
				t.Errorf("Error() = %q; want %q", got, tt.want)
			}
			if got := fmt.Sprintf("%+v", tt.e); got != tt.want {
				t.Errorf("%%+v = %q; want %q", got, tt.want)
			}
			if errors.Is(tt.e.Err, ErrMalformedResponse) && !errors.Is(tt.e, ErrMalformedResponse) {
				t.Errorf("errors.Is(%q, ErrMalformedResponse) = false; want true", tt.e)
			}
		})
	}
	resp, _ := jsonResponse(http.StatusServiceUnavailable, "")
	e := DecodeError(resp)
	assert.Equal(t, "tokenkeeper: 503 Service Unavailable: empty body", e.Error(), "DecodeError of an empty 503")
	assert.ErrorIs(t, e, ErrMalformedResponse)
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"5xx", &Error{StatusCode: 503}, true},
		{"wrapped 5xx", fmt.Errorf("x: %w", &Error{StatusCode: 500}), true},
		{"429", &Error{StatusCode: 429}, true},
		{"408", &Error{StatusCode: 408}, true},
		{"DAERR-LOG013", &Error{StatusCode: 401, Code: "DAERR-LOG013"}, true},
		{"2xx unreadable", &Error{StatusCode: 200, Err: ErrMalformedResponse}, true},
		{"2xx with an error code", &Error{StatusCode: 200, Code: "invalid_grant"}, false},
		{"invalid_grant", &Error{StatusCode: 400, Code: "invalid_grant"}, false},
		{"403", &Error{StatusCode: 403}, false},
		{"authorization callback", &Error{Code: "access_denied"}, false},
		{"ErrInvalidGrant", ErrInvalidGrant, false},
		{"ErrLoginRequired wrapped", fmt.Errorf("x: %w", ErrLoginRequired), false},
		{"ErrClosed", ErrClosed, false},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"EOF wrapped", fmt.Errorf("x: %w", io.EOF), true},
		{"net.OpError", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"DNS timeout", &net.DNSError{Err: "timeout", Name: "auth.example.com", IsTimeout: true}, true},
		{"url.Error around a network error", &url.Error{Op: "Post", URL: "https://a/t", Err: &net.OpError{Op: "read", Err: errors.New("reset")}}, true},
		{"context.Canceled", context.Canceled, false},
		{"context.DeadlineExceeded", context.DeadlineExceeded, false},
		{"url.Error around context.Canceled", &url.Error{Op: "Post", URL: "https://a/t", Err: context.Canceled}, false},
		{"url.Error around the caller's deadline", &url.Error{Op: "Post", URL: "https://a/t", Err: context.DeadlineExceeded}, false},
		{"plain error", errors.New("boom"), false},
		{"a Timeout error", testTimeoutError{}, true},
		{"url.Error around a Timeout error", &url.Error{Op: "Post", URL: "https://a/t", Err: testTimeoutError{}}, true},
		{"a Timeout error behind a plain wrapper", &url.Error{Op: "Post", URL: "https://a/t", Err: fmt.Errorf("x: %w", testTimeoutError{})}, true},
		{"a Timeout error listing the deadline", fmt.Errorf("x: %w", &testOwnDeadlineError{}), true},
		{"server closed idle connection", &url.Error{Op: "Post", URL: "https://a/t", Err: errors.New("http: server closed idle connection")}, true},
		{"HTTP/2 connection lost", &url.Error{Op: "Post", URL: "https://a/t", Err: errors.New("http2: client connection lost")}, true},
		{"DNS temporary", &net.DNSError{Err: "server misbehaving", Name: "auth.example.com", IsTemporary: true}, true},
		{"DNS temporary when dialing", &url.Error{Op: "Post", URL: "https://a/t", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "server misbehaving", Name: "a", IsTemporary: true}}}, true},
		{"DNS not found", &net.DNSError{Err: "no such host", Name: "a", IsNotFound: true}, false},
		{"DNS not found when dialing", &url.Error{Op: "Post", URL: "https://a/t", Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "a", IsNotFound: true}}}, false},
		{"unknown authority", &url.Error{Op: "Post", URL: "https://a/t", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, false},
		{"bare unknown authority", &url.Error{Op: "Post", URL: "https://a/t", Err: x509.UnknownAuthorityError{}}, false},
		{"host name mismatch", &url.Error{Op: "Post", URL: "https://a/t", Err: x509.HostnameError{Host: "a"}}, false},
		{"expired certificate", &url.Error{Op: "Post", URL: "https://a/t", Err: x509.CertificateInvalidError{Reason: x509.Expired}}, false},
		{"unsupported protocol scheme", &url.Error{Op: "Post", URL: "ftp://a/t", Err: errors.New(`unsupported protocol scheme "ftp"`)}, false},
		{"url.Error around a plain error", &url.Error{Op: "Post", URL: "https://a/t", Err: errors.New("boom")}, false},
		{"TLS alert from the server", &url.Error{Op: "Post", URL: "https://a/t", Err: &net.OpError{Op: "remote error", Err: errors.New("tls: bad certificate")}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := IsRetryable(tt.err); got != tt.want {
				t.Errorf("IsRetryable(%v) = %v; want %v", tt.err, got, tt.want)
			}
		})
	}
}

// testTimeoutError is a timeout, as a net.Error says.
type testTimeoutError struct{}

func (testTimeoutError) Error() string   { return "i/o timeout" }
func (testTimeoutError) Timeout() bool   { return true }
func (testTimeoutError) Temporary() bool { return true }

// testOwnDeadlineError is a library's own deadline, shaped like a Source's
// refresh timeout: a Timeout error that lists context.DeadlineExceeded
// among its causes.
type testOwnDeadlineError struct{}

func (*testOwnDeadlineError) Error() string   { return "the refresh timed out" }
func (*testOwnDeadlineError) Unwrap() []error { return []error{context.DeadlineExceeded} }
func (*testOwnDeadlineError) Timeout() bool   { return true }

// TestIsTemporaryRealErrors classifies the errors that an http.Client
// really returns, so that IsRetryable follows what net/http and crypto/tls
// produce rather than what a hand-built error looks like.
func TestIsRetryableRealErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  func(t *testing.T) error
		want bool
	}{
		{"self-signed certificate, default client", func(t *testing.T) error {
			srv := quietTLSServer(t)
			return postTo(t, &http.Client{}, srv.URL+"/token")
		}, false},
		{"certificate for another host name", func(t *testing.T) error {
			srv := quietTLSServer(t) // its certificate names 127.0.0.1 and example.com
			_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
			require.NoError(t, err)
			return postTo(t, srv.Client(), "https://localhost:"+port+"/token")
		}, false},
		{"closed loopback port", func(t *testing.T) error {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			addr := ln.Addr().String()
			require.NoError(t, ln.Close())
			return postTo(t, &http.Client{}, "http://"+addr+"/token")
		}, true},
		{"connection reset by the server", func(t *testing.T) error {
			return postTo(t, &http.Client{}, resettingServer(t)+"/token")
		}, true},
		{"ftp scheme", func(t *testing.T) error {
			return postTo(t, &http.Client{}, "ftp://127.0.0.1/token")
		}, false},
		{"DNS not found", func(t *testing.T) error {
			return &url.Error{Op: "Post", URL: "https://auth.example.invalid/token",
				Err: &net.DNSError{Err: "no such host", Name: "auth.example.invalid", IsNotFound: true}}
		}, false},
		{"HTTP client timeout", func(t *testing.T) error {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) })
			return postTo(t, &http.Client{Timeout: 20 * time.Millisecond}, srv.URL+"/token")
		}, true},
		{"self-signed certificate through Client.Token", func(t *testing.T) error {
			srv := quietTLSServer(t)
			transport := http.DefaultTransport.(*http.Transport).Clone()
			t.Cleanup(transport.CloseIdleConnections)
			c, err := New(Config{TokenURL: srv.URL + "/token", ClientID: "c", HTTPClient: &http.Client{Transport: transport}})
			require.NoError(t, err)
			_, err = c.Token(context.Background(), ClientCredentialsGrant())
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.err(t)
			require.Error(t, err)
			if got := IsRetryable(err); got != tt.want {
				t.Errorf("IsRetryable(%q) = %v; want %v", err, got, tt.want)
			}
		})
	}
}

// quietTLSServer starts an HTTPS server with httptest's self-signed
// certificate, whose handshake failures are not logged.
func quietTLSServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// resettingServer returns the base URL of a server that reads the start of
// one request and closes the connection with a reset (RST), never
// answering.
func resettingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conn.Read(make([]byte, 1))
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		conn.Close()
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// postTo posts a token request to target with hc and returns the error.
func postTo(t *testing.T, hc *http.Client, target string) error {
	t.Helper()
	transport := hc.Transport
	if transport == nil {
		// A fresh copy of the default, so that no connection outlives the test.
		transport = http.DefaultTransport.(*http.Transport).Clone()
		hc = &http.Client{Transport: transport, Timeout: hc.Timeout}
	}
	if ci, ok := transport.(interface{ CloseIdleConnections() }); ok {
		t.Cleanup(ci.CloseIdleConnections)
	}
	resp, err := hc.Post(target, "application/x-www-form-urlencoded", strings.NewReader("grant_type=client_credentials"))
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := testEpoch
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"  ", 0},
		{"0", 0},
		{"-5", 0},
		{"1", time.Second},
		{" 120 ", 2 * time.Minute},
		{"3600", time.Hour},
		{"3601", time.Hour},
		{"99999999999999999999", 0}, // not an int64: not a date either
		{"9223372036854775807", time.Hour},
		{now.Add(45 * time.Second).Format(http.TimeFormat), 45 * time.Second},
		{now.Add(45 * time.Second).Format(time.RFC850), 45 * time.Second},
		{now.Add(2 * time.Hour).Format(http.TimeFormat), time.Hour},
		{now.Format(http.TimeFormat), 0},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"tomorrow", 0},
		{"1.5", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseServerTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want time.Time
	}{
		{``, time.Time{}},
		{`null`, time.Time{}},
		{`""`, time.Time{}},
		{`"1717243200"`, time.Unix(1717243200, 0)},
		{`1717243200`, time.Unix(1717243200, 0)},
		{`1717243200.25`, time.Unix(1717243200, 25e7)},
		{`"-1"`, time.Time{}},
		{`1e12`, time.Time{}},
		{`"2024-06-01T12:00:00Z"`, time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)},
		{`"2024-06-01T12:00:00.123456789Z"`, time.Date(2024, 6, 1, 12, 0, 0, 123456789, time.UTC)},
		{`"2024-06-01T14:00:00+0200"`, time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)},
		{`"2024-06-01T12:00:00"`, time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)},
		{`"2024-06-01 12:00:00"`, time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)},
		{`"01/06/2024"`, time.Time{}},
		{`{"t":1}`, time.Time{}},
		{`true`, time.Time{}},
	}
	for _, tt := range tests {
		got := parseServerTime(json.RawMessage(tt.raw))
		if !got.Equal(tt.want) {
			t.Errorf("parseServerTime(%s) = %v; want %v", tt.raw, got, tt.want)
		}
	}
}

func TestReadCapped(t *testing.T) {
	t.Parallel()
	body, err := readCapped(strings.NewReader(strings.Repeat("a", maxBody)))
	require.NoError(t, err, "a body of exactly 1 MiB")
	assert.Len(t, body, maxBody)

	body, err = readCapped(strings.NewReader(strings.Repeat("a", maxBody+1)))
	require.ErrorIs(t, err, ErrMalformedResponse)
	assert.Len(t, body, maxBody)

	_, err = readCapped(&trackedBody{r: strings.NewReader("x"), err: io.ErrUnexpectedEOF})
	require.ErrorIs(t, err, ErrMalformedResponse)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// TestWrapReadsOnce: a wrapped chain says "tokenkeeper:" once, and both
// parts stay reachable.
func TestWrapReadsOnce(t *testing.T) {
	cause := &Error{StatusCode: 401, Code: "invalid_grant"}
	err := wrap(ErrLoginRequired, cause)
	want := "tokenkeeper: a new login is needed: 401 Unauthorized: invalid_grant"
	if err.Error() != want {
		t.Errorf("Error() = %q; want %q", err.Error(), want)
	}
	if !errors.Is(err, ErrLoginRequired) || !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("errors.Is misses a part of %v", err)
	}
	if wrap(ErrClosed, nil) != ErrClosed {
		t.Error("wrap with a nil cause is not the context error")
	}
}
