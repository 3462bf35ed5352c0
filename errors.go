package tokenkeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody is the most bytes read from any response body: token responses,
// error bodies and API errors alike.
const maxBody = 1 << 20

// Sentinel errors. Test for them with errors.Is; a provider failure is an
// *Error whose Is method matches the sentinel for its code or status.
var (
	// ErrInvalidGrant: the server answered the RFC 6749 code
	// invalid_grant: the grant (refresh token, code, password) was
	// rejected, and retrying it cannot help. Daxium Air rejects a grant
	// with a 401 and a DAERR code instead, which matches ErrUnauthorized;
	// a Source treats any permanent 400, 401 or 403 to a refresh as a
	// dead refresh token.
	ErrInvalidGrant = errors.New("tokenkeeper: invalid grant")
	// ErrInvalidClient: client authentication failed.
	ErrInvalidClient = errors.New("tokenkeeper: invalid client")
	// ErrUnauthorized: the server answered 401, or the error code is
	// unauthorized_client.
	ErrUnauthorized = errors.New("tokenkeeper: unauthorized")
	// ErrRateLimited: the server answered 429 or DAERR-LOG013 (too many
	// login attempts).
	ErrRateLimited = errors.New("tokenkeeper: rate limited")
	// ErrInvalidRequest: the server rejected the request as malformed
	// (invalid_request or unsupported_grant_type).
	ErrInvalidRequest = errors.New("tokenkeeper: invalid request")
	// ErrLoginRequired: the refresh token is gone or rejected and no login
	// is configured (or logging in again is not allowed yet); a new login
	// is needed.
	ErrLoginRequired = errors.New("tokenkeeper: a new login is needed")
	// ErrClosed: the Source was closed.
	ErrClosed = errors.New("tokenkeeper: source closed")
	// ErrMalformedResponse: a response could not be decoded (not JSON,
	// truncated, over 1 MiB, or missing access_token).
	ErrMalformedResponse = errors.New("tokenkeeper: malformed response")
)

// codeDaxiumTooManyLogins is the DAERR code Daxium Air sends with 429 when
// an account made too many login attempts.
const codeDaxiumTooManyLogins = "DAERR-LOG013"

// Error is a failure reported by a token endpoint, an authorization
// callback or an API: a non-2xx response, or a 2xx response carrying an
// error. It normalizes RFC 6749 bodies ("error", "error_description",
// "error_uri"), Daxium Air's DAERR bodies ("code", "message", "url",
// "api_version", "infos", "server_time") and bare {"message": ...} bodies.
//
// Error never prints the body or any credential: Error(), String() and every
// fmt verb show only the status, code and message.
type Error struct {
	// StatusCode is the HTTP status, or 0 for an authorization callback.
	StatusCode int
	// Code is the normalized error code: the RFC 6749 "error" value
	// (invalid_grant, ...) or the DAERR code (DAERR-LOG013, ...). Empty if
	// the body had none.
	Code string
	// Message is error_description, or DAERR's message, or a bare
	// "message" field; for a body that is not JSON, a short description
	// of what was received.
	Message string
	// URL is error_uri or DAERR's documentation url.
	URL string
	// APIVersion is DAERR's api_version.
	APIVersion string
	// Infos is DAERR's infos array, undecoded.
	Infos []json.RawMessage
	// ServerTime is DAERR's server_time (unix seconds as a string or a
	// number, or ISO 8601); zero when absent or unreadable.
	ServerTime time.Time
	// RetryAfter is the delay the Retry-After header asked for; zero when
	// absent.
	RetryAfter time.Duration
	// Body is the response body, capped at 1 MiB. It is never printed.
	Body []byte
	// Header is the response header.
	Header http.Header
	// Err is the underlying cause when the body could not be decoded
	// (ErrMalformedResponse wrapped with details), or nil.
	Err error
}

// Error returns "tokenkeeper: <status>: <code>: <message>", leaving out
// parts that are empty.
func (e *Error) Error() string {
	if e == nil {
		return "tokenkeeper: <nil error>"
	}
	var b strings.Builder
	b.WriteString("tokenkeeper: ")
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	} else {
		b.WriteString("authorization error")
	}
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Format prints the same text as Error for every verb, so that no body or
// header value can reach a log line through %+v or %#v. It has a value
// receiver so that an Error value prints no body either.
func (e Error) Format(f fmt.State, verb rune) {
	io.WriteString(f, e.Error())
}

// MarshalJSON writes the text of Error as a JSON string: the body and
// header are never serialized.
func (e Error) MarshalJSON() ([]byte, error) { return json.Marshal(e.Error()) }

// Unwrap returns the decoding cause, if any.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Is reports whether e matches one of the package's sentinel errors.
func (e *Error) Is(target error) bool {
	if e == nil {
		return false
	}
	switch target {
	case ErrInvalidGrant:
		return e.Code == "invalid_grant"
	case ErrInvalidClient:
		return e.Code == "invalid_client"
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.Code == "unauthorized_client"
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests || e.Code == codeDaxiumTooManyLogins
	case ErrInvalidRequest:
		return e.Code == "invalid_request" || e.Code == "unsupported_grant_type"
	case ErrMalformedResponse:
		return errors.Is(e.Err, ErrMalformedResponse)
	}
	return false
}

// Temporary reports whether retrying the same request later can succeed:
// true for 5xx, 408 and 429 responses and for responses that could not be
// read completely; false for every 4xx rejection such as invalid_grant.
func (e *Error) Temporary() bool {
	if e == nil {
		return false
	}
	switch {
	case e.StatusCode >= 500, e.StatusCode == http.StatusTooManyRequests,
		e.StatusCode == http.StatusRequestTimeout:
		return true
	case e.Code == codeDaxiumTooManyLogins:
		return true
	case e.StatusCode >= 200 && e.StatusCode < 300 && e.Code == "":
		// A 2xx whose body could not be read: a proxy or a cut
		// connection, not a verdict on the grant.
		return true
	}
	return false
}

// IsTemporary reports whether err is worth retrying later: a network error
// or timeout, or an *Error whose Temporary method says so. Context
// cancellation and deadline errors of the caller are not temporary.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Temporary()
	}
	if errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrLoginRequired) || errors.Is(err, ErrClosed) {
		return false
	}
	// A *url.Error is a net.Error even when it only wraps the caller's
	// context error, so those are ruled out first.
	if errors.Is(err, context.Canceled) || callerDeadline(err) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// callerDeadline reports whether context.DeadlineExceeded itself is in
// err's chain. The error of an http.Client Timeout also matches it with
// errors.Is, but that one is a network timeout, worth a retry.
func callerDeadline(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err == context.DeadlineExceeded {
			return true
		}
	}
	return false
}

// DecodeError reads (at most 1 MiB of) resp's body, closes it, and returns
// the *Error it describes. Use it on API responses too: a Daxium Air 401
// (DAERR body), a Transiteo 401 ({"message": ...}) and an RFC 6749 error
// decode to the same type. It never returns nil and never panics, whatever
// the body holds.
func DecodeError(resp *http.Response) *Error {
	if resp == nil {
		return &Error{Err: fmt.Errorf("%w: nil response", ErrMalformedResponse)}
	}
	var body []byte
	var readErr error
	if resp.Body != nil {
		body, readErr = readCapped(resp.Body)
		resp.Body.Close()
	}
	e := parseError(resp.StatusCode, resp.Header, body, time.Now())
	if readErr != nil {
		// Over 1 MiB or cut short: that, not what the first part
		// looked like, is the cause.
		e.Err = readErr
	}
	return e
}

// readCapped reads at most maxBody bytes; a longer body is an error that
// wraps ErrMalformedResponse. The first maxBody bytes are returned either
// way.
func readCapped(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return body, fmt.Errorf("%w: reading body: %w", ErrMalformedResponse, err)
	}
	if len(body) > maxBody {
		return body[:maxBody], fmt.Errorf("%w: body exceeds %d bytes", ErrMalformedResponse, maxBody)
	}
	return body, nil
}

// parseError builds an *Error from a response's parts. now is the time the
// Retry-After header is measured from.
//
// The body is read leniently: each known field is taken if it has a usable
// shape and ignored otherwise, so that one odd field (a PHP "infos" object,
// a numeric api_version) never hides the error code.
func parseError(status int, h http.Header, body []byte, now time.Time) *Error {
	e := &Error{StatusCode: status, Body: body, Header: h}
	if h != nil {
		e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), now)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		e.Message = "empty body"
		e.Err = fmt.Errorf("%w: empty body", ErrMalformedResponse)
		return e
	}
	var fields map[string]json.RawMessage
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &fields) != nil {
		ct := ""
		if h != nil {
			ct, _, _ = mime.ParseMediaType(h.Get("Content-Type"))
		}
		if ct == "" {
			ct = "unknown content type"
		}
		e.Message = fmt.Sprintf("unreadable body (%s, %d bytes)", ct, len(body))
		e.Err = fmt.Errorf("%w: body is not a JSON object", ErrMalformedResponse)
		return e
	}
	field := func(names ...string) string {
		for _, n := range names {
			if v := jsonString(fields[n]); v != "" {
				return v
			}
		}
		return ""
	}
	e.Code = field("error", "code")
	if e.Code == "" && len(bytes.TrimSpace(fields["error"])) > 0 && !bytes.Equal(bytes.TrimSpace(fields["error"]), []byte("null")) {
		e.Code = "unknown_error"
	}
	e.Message = field("error_description", "message")
	e.URL = field("error_uri", "url")
	e.APIVersion = field("api_version")
	var infos []json.RawMessage
	if raw, ok := fields["infos"]; ok {
		if json.Unmarshal(raw, &infos) != nil {
			// Not an array (PHP encodes a non-empty list as an
			// object): kept whole, as one item.
			infos = []json.RawMessage{raw}
		}
	}
	e.Infos = infos
	e.ServerTime = parseServerTime(fields["server_time"])
	if e.Code == "" && e.Message == "" {
		e.Message = "no error code in body"
	}
	return e
}

// jsonString returns raw as a string if it is a JSON string or number, and
// "" otherwise.
func jsonString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// parseServerTime accepts unix seconds (as a JSON string or number) and
// ISO 8601 / RFC 3339 strings. It returns the zero time for anything else.
func parseServerTime(raw json.RawMessage) time.Time {
	s := jsonString(raw)
	if s == "" {
		return time.Time{}
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(n) || n < 0 || n > 1e11 {
			return time.Time{}
		}
		sec := int64(n)
		return time.Unix(sec, int64((n-float64(sec))*1e9)).UTC()
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// maxRetryAfter bounds a Retry-After delay, so a hostile or broken server
// cannot park a client for days.
const maxRetryAfter = time.Hour

// parseRetryAfter reads a Retry-After header value: delay-seconds or an
// HTTP-date (RFC 9110, section 10.2.3). It returns 0 when absent or
// unreadable and caps the delay at one hour.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
