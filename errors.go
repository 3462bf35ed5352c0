package tokenkeeper

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
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
	// ErrLoginRequired: the refresh token is gone or rejected and no login
	// is configured (or logging in again is not allowed yet); a new login
	// is needed.
	ErrLoginRequired = errors.New("tokenkeeper: a new login is needed")
	// ErrClosed: the Source was closed.
	ErrClosed = errors.New("tokenkeeper: source closed")
	// ErrBadCallback: an authorization callback is refused: its state is
	// not the one its flow sent (a forged or stale redirect), or it
	// carries neither a code nor an error. The message says which.
	ErrBadCallback = errors.New("tokenkeeper: authorization callback refused")
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
// Error never prints the body, the header or any credential: its Error
// method and every fmt verb (through Format) show only the status, code,
// message and decoding cause. encoding/json writes the status, code,
// message, url, api_version, server_time and retry_after (as
// nanoseconds), and leaves out Infos, Body, Header and Err, which may echo
// what was sent; an Error read back from that JSON has only those fields.
type Error struct {
	// StatusCode is the HTTP status, or 0 for an authorization callback.
	StatusCode int `json:"status"`
	// Code is the normalized error code: the RFC 6749 "error" value
	// (invalid_grant, ...) or the DAERR code (DAERR-LOG013, ...). Empty if
	// the body had none.
	Code string `json:"code,omitempty"`
	// Message is error_description, or DAERR's message, or a bare
	// "message" field; for a body that is not JSON, a short description
	// of what was received.
	Message string `json:"message,omitempty"`
	// URL is error_uri or DAERR's documentation url.
	URL string `json:"url,omitempty"`
	// APIVersion is DAERR's api_version.
	APIVersion string `json:"api_version,omitempty"`
	// Infos is DAERR's infos array, undecoded.
	Infos []json.RawMessage `json:"-"`
	// ServerTime is DAERR's server_time (unix seconds as a string or a
	// number, or ISO 8601); zero when absent or unreadable.
	ServerTime time.Time `json:"server_time,omitzero"`
	// RetryAfter is the delay the Retry-After header asked for; zero when
	// absent.
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	// Body is the response body, capped at 1 MiB. It is never printed.
	Body []byte `json:"-"`
	// Header is the response header.
	Header http.Header `json:"-"`
	// Err is the underlying cause when the body could not be decoded
	// (ErrMalformedResponse wrapped with details), or nil.
	Err error `json:"-"`

	// clientRejected is set when Code is one of the provider's codes for
	// a rejected client (Config.ClientErrorCodes).
	clientRejected bool
}

// Error returns "tokenkeeper: <status>: <code>: <message>: <cause>",
// leaving out parts that are empty. The cause is Err's text without its
// "tokenkeeper: " prefix; it is left out when it says nothing beyond
// ErrMalformedResponse and the message, so that an empty body, say, is
// described once.
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
	if cause := e.cause(); cause != "" {
		b.WriteString(": ")
		b.WriteString(cause)
	}
	return b.String()
}

// cause returns the text of Err that Error prints: "" for no Err, or for
// an Err that is ErrMalformedResponse with no detail, or with the message
// as its only detail, when there is a message to say it.
func (e *Error) cause() string {
	if e.Err == nil {
		return ""
	}
	text := e.Err.Error()
	if e.Message != "" {
		if detail, ok := strings.CutPrefix(text, ErrMalformedResponse.Error()); ok {
			if detail = strings.TrimPrefix(detail, ": "); detail == "" || detail == e.Message {
				return ""
			}
		}
	}
	return strings.TrimPrefix(text, "tokenkeeper: ")
}

// Format prints the same text as Error for every verb, so that no body or
// header value can reach a log line through %+v or %#v. It has a value
// receiver so that an Error value prints no body either.
func (e Error) Format(f fmt.State, verb rune) {
	io.WriteString(f, e.Error())
}

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
		return e.Code == "invalid_client" || e.clientRejected
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.Code == "unauthorized_client"
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests || e.Code == codeDaxiumTooManyLogins
	case ErrMalformedResponse:
		return errors.Is(e.Err, ErrMalformedResponse)
	}
	return false
}

// retryable reports whether retrying the same request later can succeed:
// true for 5xx, 408 and 429 responses and for responses that could not be
// read completely; false for every 4xx rejection such as invalid_grant.
func (e *Error) retryable() bool {
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

// IsRetryable reports whether err is worth retrying later, because the
// same request can succeed once the network or the server recovers. It is
// true for:
//
//   - an *Error that retrying can cure (5xx, 408, 429,
//     DAERR-LOG013, a 2xx response that could not be read);
//   - a timeout: an error in the chain whose Timeout method reports true
//     (an http.Client Timeout, a dial or TLS handshake timeout, a DNS
//     timeout, a Source's RefreshTimeout);
//   - a connection refused, reset or aborted, or a broken pipe
//     (syscall.ECONNREFUSED, ECONNRESET, ECONNABORTED, EPIPE), and a
//     connection closed before the whole response arrived (io.EOF,
//     io.ErrUnexpectedEOF, or net/http's "server closed idle connection"
//     and lost HTTP/2 connections);
//   - any other failure to dial, read or write (a *net.OpError), and a DNS
//     failure that the resolver calls temporary.
//
// It is false for what a retry cannot cure: a TLS certificate that does
// not verify, a host name that does not exist (DNS not found), a URL that
// the HTTP client cannot use (an unsupported protocol scheme, say) and
// other failures that are not the network's; a provider's refusal such as
// invalid_grant; ErrLoginRequired and ErrClosed; and the caller's own
// context cancellation or deadline.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.retryable()
	}
	if errors.Is(err, ErrInvalidGrant) || errors.Is(err, ErrLoginRequired) || errors.Is(err, ErrClosed) {
		return false
	}
	// The caller's context error also has a Timeout method (and a
	// *url.Error wrapping it is a net.Error), so it is ruled out first.
	if errors.Is(err, context.Canceled) || callerDeadline(err) {
		return false
	}
	if anyInTree(err, isTimeout) {
		return true
	}
	if permanentTransportError(err) {
		return false
	}
	return networkRetryable(err)
}

// networkRetryable reports whether err is a network failure that a later
// attempt can get past: a lost connection, a transient DNS failure, a
// failure to dial, read or write.
func networkRetryable(err error) bool {
	switch {
	case connectionErrno(err):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return true
	case anyInTree(err, isConnectionLost):
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTemporary || dnsErr.IsTimeout
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		switch oe.Op {
		case "dial", "read", "write":
			return true
		}
	}
	return false
}

// permanentTransportError reports whether err is a transport failure that
// retrying cannot cure: a server certificate that does not verify, or a
// host name that DNS says does not exist.
func permanentTransportError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		dnsErr    *net.DNSError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &hostname), errors.As(err, &invalid):
		return true
	case errors.As(err, &dnsErr):
		return dnsErr.IsNotFound && !dnsErr.IsTimeout && !dnsErr.IsTemporary
	}
	return false
}

// isTimeout reports whether err itself says it is a timeout.
func isTimeout(err error) bool {
	t, ok := err.(interface{ Timeout() bool })
	return ok && t.Timeout()
}

// isConnectionLost reports whether err is one of net/http's unexported
// errors for a connection that the server closed under a request: the
// keep-alive race that a POST may see (golang/go#19943), or an HTTP/2
// connection lost or shut down.
func isConnectionLost(err error) bool {
	text := err.Error()
	for _, prefix := range [...]string{
		"http: server closed idle connection",
		"http2: client connection lost",
		"http2: server sent GOAWAY and closed the connection",
	} {
		if strings.HasPrefix(text, prefix) {
			return true
		}
	}
	return false
}

// anyInTree reports whether match holds for err or for any error it wraps,
// following both Unwrap() error and Unwrap() []error.
func anyInTree(err error, match func(error) bool) bool {
	if err == nil {
		return false
	}
	if match(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return anyInTree(u.Unwrap(), match)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if anyInTree(e, match) {
				return true
			}
		}
	}
	return false
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
		e.describeBody(h)
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

// describeBody sets Message (and Err) for a body that is not a JSON
// object, from its content type and size.
func (e *Error) describeBody(h http.Header) {
	ct := ""
	if h != nil {
		ct, _, _ = mime.ParseMediaType(h.Get("Content-Type"))
	}
	if e.StatusCode >= 500 {
		// A proxy's or a server's error page: the status says it all,
		// and retrying can help.
		e.Message = fmt.Sprintf("a %s body of %d bytes", cmp.Or(ct, "non-JSON"), len(e.Body))
		return
	}
	// Without a readable body, a 4xx is no verdict on the grant.
	e.Message = fmt.Sprintf("unreadable body (%s, %d bytes)", cmp.Or(ct, "unknown content type"), len(e.Body))
	e.Err = fmt.Errorf("%w: body is not a JSON object", ErrMalformedResponse)
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

// wrapError is an error that adds context to a cause and reads once: its
// text is the context, then the cause's text without a second
// "tokenkeeper: " prefix. errors.Is and errors.As see both.
type wrapError struct {
	ctx, cause error
}

// wrap returns ctx with cause behind it; see wrapError. A nil cause gives
// ctx.
func wrap(ctx, cause error) error {
	if cause == nil {
		return ctx
	}
	return &wrapError{ctx: ctx, cause: cause}
}

func (e *wrapError) Error() string {
	return e.ctx.Error() + ": " + strings.TrimPrefix(e.cause.Error(), "tokenkeeper: ")
}

func (e *wrapError) Unwrap() []error { return []error{e.ctx, e.cause} }

// The failures of a renewal, and how the renewal policy classes them.

// failure is the class of a failed renewal.
type failure int

const (
	// transient: the same attempt may succeed later (network, 5xx, 429,
	// a cut or unreadable response, a timeout); callers may wait for it.
	transient failure = iota
	// throttled: a login is needed and allowed only later
	// (ReloginInterval); callers may wait for it.
	throttled
	// permanent: retrying cannot help until something changes (a login
	// is needed, the client or the login was rejected); callers fail at
	// once.
	permanent
	// closing: the Source was closed; nothing is recorded.
	closing
)

// classify returns the class of a renewal's failure.
func classify(err error) failure {
	var (
		timeout *refreshTimeoutError
		store   *storeReadError
		unsend  *unsendableError
		wait    *loginWaitError
	)
	switch {
	case errors.Is(err, ErrClosed):
		return closing
	case errors.As(err, &wait):
		return throttled
	case errors.As(err, &timeout), errors.As(err, &store), errors.As(err, &unsend):
		return transient
	case errors.Is(err, ErrInvalidClient):
		return permanent
	case errors.Is(err, ErrMalformedResponse):
		// A rejection whose body arrived cut off or unreadable is no
		// verdict on the grant.
		return transient
	case IsRetryable(err):
		return transient
	}
	return permanent
}

// deadRefreshToken reports whether a refresh failure means the refresh
// token is dead, so that only a login can help: a permanent 400, 401 or
// 403 with an error body the provider wrote, not about the client itself.
func deadRefreshToken(err error) bool {
	var pe *Error
	if !errors.As(err, &pe) || classify(err) != permanent || errors.Is(err, ErrInvalidClient) {
		return false
	}
	switch pe.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return false
}

// refreshTimeoutError is a renewal ended by RefreshTimeout or by the lease
// of a shared lock: the Source's own deadline, not a caller's, and so a
// transient failure (a net.Error that is a timeout) that errors.Is still
// matches with context.DeadlineExceeded.
type refreshTimeoutError struct {
	timeout time.Duration
	what    string // the bound that ran out; "" means RefreshTimeout
	err     error
}

func (e *refreshTimeoutError) Error() string {
	what := e.what
	if what == "" {
		what = "RefreshTimeout"
	}
	return fmt.Sprintf("tokenkeeper: the renewal timed out after %v (%s): %s", e.timeout, what, strings.TrimPrefix(e.err.Error(), "tokenkeeper: "))
}

// Unwrap returns the cause as a list: IsRetryable then sees this error as
// a timeout, not as the caller's context.DeadlineExceeded.
func (e *refreshTimeoutError) Unwrap() []error { return []error{e.err} }

// Timeout reports true: the renewal took too long.
func (e *refreshTimeoutError) Timeout() bool { return true }

// storeReadError is a Store that could not be read, with no login to fall
// back on: transient, as the Store may be back soon.
type storeReadError struct{ err error }

func (e *storeReadError) Error() string {
	return "tokenkeeper: no valid token and the Store could not be read: " + e.err.Error()
}

func (e *storeReadError) Unwrap() error { return e.err }

// unsendableError is a renewal that brought a token whose credential
// cannot be sent. The token is kept for its refresh token; the next
// attempt comes after a transient backoff, as the endpoint may issue a
// better one.
type unsendableError struct{ err error }

func (e *unsendableError) Error() string {
	return "tokenkeeper: the new token cannot be used: " + e.err.Error()
}

func (e *unsendableError) Unwrap() error { return e.err }

// loginWaitError is a login that is needed but not allowed yet: the last
// one was less than ReloginInterval ago.
type loginWaitError struct {
	wait  time.Duration
	cause error // why a login is needed: the refusal of the refresh token or of the last login
}

func (e *loginWaitError) Error() string {
	return fmt.Sprintf("tokenkeeper: a login is needed and allowed again in %v (ReloginInterval): %s",
		e.wait.Round(time.Millisecond), strings.TrimPrefix(e.cause.Error(), "tokenkeeper: "))
}

func (e *loginWaitError) Unwrap() error { return e.cause }

// Is reports that a login wait matches ErrLoginRequired: a new login is
// needed, and not allowed yet.
func (e *loginWaitError) Is(target error) bool { return target == ErrLoginRequired }
