package multi

import "net/http"

// HTTPClient returns an *http.Client for all the Manager's credentials:
// each request carries the credential of the Key in its context (see
// WithKey), through a tokenkeeper.Transport of that credential's own, so
// that a 401 renews that credential only and the redirect rules hold. A
// request whose context has no Key fails with ErrNoKey and is not sent.
// The client has no overall timeout: give each request a context with a
// deadline.
func (m *Manager) HTTPClient() *http.Client {
	return &http.Client{Transport: &transport{m: m}}
}

// transport finds the credential of each request's Key. It is safe for
// concurrent use.
type transport struct{ m *Manager }

// RoundTrip implements http.RoundTripper. It never modifies req and closes
// req.Body on every path.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	k, ok := req.Context().Value(ctxKey{}).(*Key)
	if !ok {
		closeBody(req)
		return nil, ErrNoKey
	}
	e, err := t.m.acquire(req.Context(), *k)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	defer t.m.release(e)
	return e.tr.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of the Manager's Base,
// if it can.
func (t *transport) CloseIdleConnections() {
	base := t.m.base
	if base == nil {
		base = http.DefaultTransport
	}
	if c, ok := base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
