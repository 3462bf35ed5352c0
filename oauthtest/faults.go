package oauthtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// oversizedBytes is the size of an OversizedNext body: twice the 1 MiB a
// careful client reads.
const oversizedBytes = 2 << 20

type faultKind int

const (
	faultStatus faultKind = iota + 1
	faultRateLimit
	faultMalformed
	faultOversized
	faultTruncate
	faultReset
	faultHang
)

// fault is a queued fault and how many more calls it applies to.
type fault struct {
	kind       faultKind
	status     int
	retryAfter time.Duration
	left       int
}

// Faults apply to token-endpoint calls only, in the order they were set:
// FailNext(1, 502) then MalformedNext(1) makes the next call fail with 502
// and the one after get broken JSON. A faulted call still counts in Stats
// but does not reach the preset's grant, so it changes no token state.

// SetLatency makes every token call wait d (real time) before it is
// answered, faults included. A waiting call returns early, without a
// response, when its client goes away or the server closes. Zero or
// negative d removes the latency.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = max(d, 0)
}

// FailNext makes the next n token calls answer status with an HTML body,
// as a proxy in front of the provider would. It panics unless status is a
// 4xx or 5xx code. n <= 0 does nothing.
func (s *Server) FailNext(n int, status int) {
	if status < 400 || status > 599 {
		panic(fmt.Sprintf("oauthtest: FailNext status %d is not 4xx or 5xx", status))
	}
	s.addFault(n, fault{kind: faultStatus, status: status})
}

// RateLimitNext makes the next n token calls answer 429 with a Retry-After
// header of retryAfter in whole seconds, rounded up. The body is the
// preset's error: DAERR CodeTooManyLogins for Daxium, error
// "too_many_requests" for the others.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.addFault(n, fault{kind: faultRateLimit, retryAfter: max(retryAfter, 0)})
}

// MalformedNext makes the next n token calls answer 200 with a JSON body
// cut short.
func (s *Server) MalformedNext(n int) { s.addFault(n, fault{kind: faultMalformed}) }

// OversizedNext makes the next n token calls answer 200 with a 2 MiB JSON
// body (valid, but padded past what a client should read).
func (s *Server) OversizedNext(n int) { s.addFault(n, fault{kind: faultOversized}) }

// TruncateNext makes the next n token calls answer 200 with a
// Content-Length larger than the bytes sent, then close the connection.
func (s *Server) TruncateNext(n int) { s.addFault(n, fault{kind: faultTruncate}) }

// ResetNext makes the next n token calls close the connection without any
// response.
func (s *Server) ResetNext(n int) { s.addFault(n, fault{kind: faultReset}) }

// HangNext makes the next n token calls hang until their client gives up
// or the server closes, then close the connection without a response.
func (s *Server) HangNext(n int) { s.addFault(n, fault{kind: faultHang}) }

// LoseNextRotation makes the next successful refresh_token grant take
// effect (a rotating preset retires the old refresh token and records the
// new one) and then close the connection without a response, so the client
// never learns the new refresh token.
func (s *Server) LoseNextRotation() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseNext = true
}

func (s *Server) addFault(n int, f fault) {
	if n <= 0 {
		return
	}
	f.left = n
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// nextFault takes one call's worth of the oldest queued fault.
func (s *Server) nextFault() (fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return fault{}, false
	}
	f := s.faults[0]
	if s.faults[0].left--; s.faults[0].left == 0 {
		s.faults = s.faults[1:]
	}
	return f, true
}

func (s *Server) takeLoseRotation() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	lose := s.loseNext
	s.loseNext = false
	return lose
}

// delay waits out the latency; false if the client or the server went away.
func (s *Server) delay(r *http.Request) bool {
	s.mu.Lock()
	d := s.latency
	s.mu.Unlock()
	if d == 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.done:
		return false
	}
}

func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, f fault) {
	switch f.kind {
	case faultStatus:
		text := fmt.Sprintf("%d %s", f.status, http.StatusText(f.status))
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.status)
		fmt.Fprintf(w, "<html><head><title>%s</title></head><body><h1>%s</h1></body></html>\n", text, text)
	case faultRateLimit:
		rep := s.fail(http.StatusTooManyRequests, problem{"too_many_requests", CodeTooManyLogins, "Too many requests"})
		rep.header = http.Header{"Retry-After": {retryAfterSeconds(f.retryAfter)}}
		writeJSON(w, rep)
	case faultMalformed:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, `{"access_token":"%s","token_type":`, newToken(prefixAccess))
	case faultOversized:
		writeOversized(w)
	case faultTruncate:
		truncate(w)
	case faultReset:
		abort(w)
	case faultHang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		abort(w)
	}
}

// retryAfterSeconds formats d as a Retry-After value, rounding up.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// writeOversized writes a valid JSON token body of exactly oversizedBytes.
func writeOversized(w http.ResponseWriter) {
	head := fmt.Sprintf(`{"access_token":"%s","token_type":"Bearer","expires_in":3600,"padding":"`, newToken(prefixAccess))
	const tail = `"}`
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(oversizedBytes))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write([]byte(head)); err != nil {
		return
	}
	chunk := []byte(strings.Repeat("x", 32<<10))
	for left := oversizedBytes - len(head) - len(tail); left > 0; left -= len(chunk) {
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			return
		}
	}
	_, _ = w.Write([]byte(tail))
}

// truncate sends a 200 whose Content-Length promises more than is sent,
// then closes the connection.
func truncate(w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer conn.Close()
	part := `{"access_token":"` + newToken(prefixAccess)
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		len(part)+1024, part)
	_ = buf.Flush()
}

// abort closes the connection without a response.
func abort(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (never the case for httptest's HTTP/1 server):
		// net/http aborts the response on this panic.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
