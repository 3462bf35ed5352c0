package tokenkeeper

import (
	"errors"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
)

// maxDrain is the most bytes of a discarded response body read so that its
// connection can be reused.
const maxDrain = 64 << 10

// Transport is an http.RoundTripper that puts the Source's credential on
// every request, as the Client's Credential says (the preset's header and
// scheme), with the Client's extra headers, and recovers once from a 401.
//
// When the API answers 401 to a request sent with the token that is still
// current, Transport makes the Source renew it (once, however many
// requests saw that 401; see Source.Renew), and replays the request once
// with the new token if its body can be replayed (no body, or GetBody set,
// as http.NewRequest does for in-memory bodies). Otherwise the 401 is
// returned and the renewal serves the next request. The first response's
// body is drained (up to 64 KiB) and closed before the replay. When the
// renewal fails, the 401 is returned; if it failed for good
// (ErrLoginRequired, say), the Source answers with that error instead of
// the refused token until a renewal succeeds. A 401 to a token that a
// renewal forced by a 401 produced less than 10 seconds ago forces no new
// one, so that an API that refuses every token (a missing scope) does not
// cost a token call per request.
//
// The credential (and the Client's extra headers) is not sent on a
// redirect to another origin: another host or port, or another scheme,
// such as a downgrade from https to http on the same host.
//
// A Transport is safe for concurrent use by multiple goroutines. Its fields
// must not change once it is in use.
type Transport struct {
	// Source supplies the token. Required.
	Source *Source
	// Base sends the requests. If nil, the Transport of the Client's
	// Config.HTTPClient is used when the Client authenticates with
	// AuthTLSClient, so that a certificate-bound access token (RFC 8705,
	// section 3) goes out with its certificate; otherwise
	// http.DefaultTransport. A Base that is set is used as is: with a
	// certificate-bound token, it must present the same certificate.
	Base http.RoundTripper
}

// HTTPClient returns an *http.Client whose requests carry the Source's
// credential, sent through base (nil: as for Transport.Base). It has no
// overall timeout: give each request a context with a deadline.
func (s *Source) HTTPClient(base http.RoundTripper) *http.Client {
	return &http.Client{Transport: &Transport{Source: s, Base: base}}
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	if t.Source != nil && t.Source.c.certTransport != nil {
		return t.Source.c.certTransport
	}
	return http.DefaultTransport
}

// RoundTrip implements http.RoundTripper. It never modifies req and closes
// req.Body on every path.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Source == nil {
		closeBody(req)
		return nil, errors.New("tokenkeeper: Transport has no Source")
	}
	if crossOriginRedirect(req) {
		return t.base().RoundTrip(req)
	}
	src := t.Source
	st, err := src.get(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := src.send(t.base(), req, st, req.Body)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || st.ath != "" && nonceChallenge(resp) {
		// A DPoP nonce challenge still standing is no reason to renew.
		return resp, err
	}
	ctx := req.Context()
	unauthorized := func(err error) { src.emitContext(ctx, nil, Event{Kind: EventUnauthorized, Err: err}) }
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		// Not replayable: renew for the next request and hand the 401
		// back.
		src.renewAfter401(ctx, st)
		unauthorized(nil)
		return resp, nil
	}
	if !src.mayForce(st) {
		unauthorized(errForcedTooSoon)
		return resp, nil
	}
	next, err := src.replace(ctx, st)
	if err != nil {
		unauthorized(err)
		return resp, nil
	}
	body := req.Body
	if req.GetBody != nil {
		if body, err = req.GetBody(); err != nil {
			unauthorized(err)
			return resp, nil
		}
	}
	src.noteForced(next)
	drainClose(resp.Body)
	src.emitContext(ctx, nil, Event{Kind: EventUnauthorized, Recovered: true})
	return src.send(t.base(), req, next, body)
}

// send sends req with the credential of st and body through base, with a
// DPoP proof when st's token is DPoP-bound.
func (s *Source) send(base http.RoundTripper, req *http.Request, st *state, body io.ReadCloser) (*http.Response, error) {
	r := s.authorize(req, st, body)
	if st.ath == "" {
		return base.RoundTrip(r)
	}
	return s.sendDPoP(base, req, r, st)
}

// authorize returns a shallow copy of req with its own header map holding
// the credential of st and the Client's extra headers (unless the request
// sets them), and body. The header values of req are shared, not copied:
// neither this package nor net/http writes to them.
func (s *Source) authorize(req *http.Request, st *state, body io.ReadCloser) *http.Request {
	r := new(http.Request)
	*r = *req
	if len(req.Header) == 0 {
		// The common case: a copy of the header prepared with st.
		r.Header = maps.Clone(st.header)
	} else {
		r.Header = s.c.requestHeader(req.Header, st.hdr)
	}
	r.Body = body
	return r
}

// requestHeader returns a new header map holding the entries of own, the
// Client's extra headers that own does not set, and the credential cred.
func (c *Client) requestHeader(own http.Header, cred []string) http.Header {
	extra := c.header
	h := make(http.Header, len(own)+1+len(extra))
	for k, v := range own {
		h[k] = v
	}
	for k, v := range extra { // canonical since New
		if _, ok := h[k]; !ok {
			h[k] = v
		}
	}
	h[c.credential.Header] = cred
	return h
}

// crossOriginRedirect reports whether req follows a redirect to an origin
// (scheme, host and port) other than the one the first request went to.
// When the chain cannot be followed back to the first request, it answers
// true: the credential is then not sent rather than risked.
func crossOriginRedirect(req *http.Request) bool {
	if req.Response == nil {
		return false
	}
	first := req
	for range maxRedirectChain {
		if first.Response == nil {
			return !sameOrigin(first.URL, req.URL)
		}
		if first.Response.Request == nil {
			return true
		}
		first = first.Response.Request
	}
	return true
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (RFC 6454), the default port of the scheme filled in.
func sameOrigin(a, b *url.URL) bool {
	if a == nil || b == nil || !strings.EqualFold(a.Scheme, b.Scheme) || !strings.EqualFold(a.Hostname(), b.Hostname()) {
		return false
	}
	return originPort(a) == originPort(b)
}

func originPort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// maxRedirectChain bounds the walk back to the first request of a redirect
// chain; net/http stops after 10 redirects by default.
const maxRedirectChain = 64

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func drainClose(body io.ReadCloser) {
	if body == nil {
		return
	}
	io.CopyN(io.Discard, body, maxDrain)
	body.Close()
}

// CloseIdleConnections closes the idle connections of Base, if it can, so
// that http.Client.CloseIdleConnections reaches them.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
