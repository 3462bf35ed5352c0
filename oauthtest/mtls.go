package oauthtest

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
)

// This file serves mutual TLS client authentication and
// certificate-bound access tokens (RFC 8705), for Auth0.

// MTLS registers the certificate a client authenticates with by mutual
// TLS (RFC 8705, section 2). Set it in Options to make the server serve
// https on loopback and ask every connection for a client certificate;
// the token endpoint then authenticates the client by that certificate
// only (client_id in the body, no secret, no assertion), and refuses a
// missing or wrong one with 401 invalid_client.
//
// Register either the self-signed way (self_signed_tls_client_auth: a
// Thumbprint or a PublicKey) or the PKI way (tls_client_auth: Roots and
// SubjectDN), not both.
//
// The access tokens of such a client are bound to its certificate (RFC
// 8705, section 3): they are JWTs signed by the server's key (JWKSURL)
// whose cnf claim holds the certificate's x5t#S256, and the API endpoint
// answers 401 invalid_token to one presented over a connection without
// that certificate.
type MTLS struct {
	// Thumbprint is the base64url SHA-256 of the client certificate's DER
	// encoding, as CertificateThumbprint computes it.
	Thumbprint string
	// PublicKey is the client certificate's public key: any certificate
	// with that key is accepted.
	PublicKey crypto.PublicKey
	// Roots are the CAs that issue client certificates: the certificate
	// presented must chain to one of them (with the intermediates the
	// client sends), be valid on the server clock and allow client
	// authentication.
	Roots *x509.CertPool
	// SubjectDN is the subject the certificate must have, as
	// pkix.Name.String writes it (RFC 4514), such as "CN=client,O=Example".
	// Required with Roots.
	SubjectDN string
}

// checkMTLS reports an Options.MTLS that is empty, mixes the two ways,
// or comes with a public client or a ClientKey.
func (o Options) checkMTLS() error {
	m := o.MTLS
	if m == nil {
		return nil
	}
	if o.PublicClient || o.ClientKey != nil {
		return errors.New("oauthtest: Options.MTLS is for a confidential client without ClientKey")
	}
	selfSigned := m.Thumbprint != "" || m.PublicKey != nil
	pki := m.Roots != nil || m.SubjectDN != ""
	switch {
	case selfSigned && pki:
		return errors.New("oauthtest: Options.MTLS: set Thumbprint or PublicKey, or Roots and SubjectDN, not both")
	case !selfSigned && !pki:
		return errors.New("oauthtest: Options.MTLS registers no certificate")
	case pki && (m.Roots == nil || m.SubjectDN == ""):
		return errors.New("oauthtest: Options.MTLS: Roots and SubjectDN go together")
	}
	if _, ok := m.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); m.PublicKey != nil && !ok {
		return errors.New("oauthtest: Options.MTLS.PublicKey is not a public key of crypto/*")
	}
	return nil
}

// CertificateThumbprint returns the base64url SHA-256 of cert's DER
// encoding: its x5t#S256 (RFC 8705, section 3.1).
func CertificateThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// startServer starts the httptest server of h: plain http, or, with
// Options.MTLS, https asking for a client certificate that the handlers
// check themselves (so a missing one is an OAuth error, not a failed
// handshake).
func (s *Server) startServer(h http.Handler) *httptest.Server {
	if s.opts.MTLS == nil {
		return httptest.NewServer(h)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	ts.StartTLS()
	return ts
}

// ClientWithCertificate returns an HTTP client that trusts the server's
// TLS certificate and presents cert as its client certificate, for a
// server with Options.MTLS. Close closes its idle connections.
func (s *Server) ClientWithCertificate(cert tls.Certificate) *http.Client {
	base, _ := s.ts.Client().Transport.(*http.Transport)
	if base == nil {
		base = http.DefaultTransport.(*http.Transport)
	}
	t := base.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.Certificates = []tls.Certificate{cert}
	s.mu.Lock()
	s.certClients = append(s.certClients, t)
	s.mu.Unlock()
	return &http.Client{Transport: t}
}

// closeCertClients closes the idle connections of ClientWithCertificate's
// clients.
func (s *Server) closeCertClients() {
	s.mu.Lock()
	clients := s.certClients
	s.certClients = nil
	s.mu.Unlock()
	for _, t := range clients {
		t.CloseIdleConnections()
	}
}

// authenticateCert authenticates the client of a token request by its TLS
// certificate: client_id in the body, and no other credential.
func (s *Server) authenticateCert(r *http.Request, form url.Values) (reply, bool) {
	_, _, basic := r.BasicAuth()
	switch id := form.Get("client_id"); {
	case basic || r.Header.Get("Authorization") != "" || form.Has("client_secret") || form.Has("client_assertion"):
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request",
			desc: "the client authenticates with its TLS certificate only"}), false
	case id == "":
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: "Missing required parameter: client_id"}), false
	case id != s.opts.ClientID:
		return s.fail(http.StatusUnauthorized, problem{oauth: "invalid_client", desc: "Unknown client."}), false
	}
	if why := s.certProblem(r); why != "" {
		return s.fail(http.StatusUnauthorized, problem{oauth: "invalid_client", desc: why}), false
	}
	return reply{}, true
}

// certProblem says why the client certificate of r is not the registered
// one, or returns "".
func (s *Server) certProblem(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "no client certificate was presented"
	}
	m, certs := s.opts.MTLS, r.TLS.PeerCertificates
	leaf := certs[0]
	if m.Roots == nil {
		if m.Thumbprint != "" && CertificateThumbprint(leaf) == m.Thumbprint {
			return ""
		}
		if k, ok := m.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && k.Equal(leaf.PublicKey) {
			return ""
		}
		return "the client certificate is not the one registered for the client"
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: m.Roots, Intermediates: inter, CurrentTime: s.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		return "the client certificate does not chain to a trusted CA"
	}
	if leaf.Subject.String() != m.SubjectDN {
		return "the client certificate's subject is not the one registered for the client"
	}
	return ""
}

// bindCert binds the access token of a successful reply to the client
// certificate of r (RFC 8705, section 3.1): it becomes a JWT with
// cnf.x5t#S256, recorded with that thumbprint.
func (s *Server) bindCert(r *http.Request, rep reply) reply {
	body, ok := rep.body.(map[string]any)
	if s.opts.MTLS == nil || rep.status != http.StatusOK || !ok || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return rep
	}
	x5t := CertificateThumbprint(r.TLS.PeerCertificates[0])
	at, _ := body["access_token"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.access[at]
	if rec == nil {
		return rep
	}
	now := s.now()
	bound := s.proto.sign(map[string]any{
		"iss": s.Issuer(), "sub": rec.user, "aud": s.opts.Audience, "scope": rec.scope,
		"iat": now.Unix(), "exp": rec.expires.Unix(), "jti": rand.Text(),
		"cnf": map[string]string{"x5t#S256": x5t},
	})
	delete(s.access, at)
	rec.x5t = x5t
	s.access[bound] = rec
	body["access_token"] = bound
	return rep
}

// certBinding checks that a token bound to a certificate comes over a
// connection that presented it.
func certBinding(r *http.Request, rec *grantRecord) (*grantRecord, *reply) {
	if rec.x5t == "" || r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && CertificateThumbprint(r.TLS.PeerCertificates[0]) == rec.x5t {
		return rec, nil
	}
	const desc = "the access token is bound to a client certificate that this connection did not present"
	return nil, &reply{
		status: http.StatusUnauthorized,
		header: http.Header{"Www-Authenticate": {`Bearer error="invalid_token", error_description=` + strconv.Quote(desc)}},
		body:   oauthError("invalid_token", desc),
	}
}
