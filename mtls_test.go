package tokenkeeper

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// tlsAuth0 starts an Auth0 fake provider on a fake clock that
// authenticates its client by the certificate reg registers, with tokens
// of lifetime life (the default when zero).
func tlsAuth0(t *testing.T, reg *oauthtest.MTLS, life time.Duration) (*oauthtest.Clock, *oauthtest.Server) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	return clock, mtProvider(t, oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock, MTLS: reg, TokenLifetime: life})
}

// tlsClient returns an AuthTLSClient Client of srv sending through hc.
func tlsClient(t *testing.T, srv *oauthtest.Server, clock *oauthtest.Clock, hc *http.Client) *Client {
	t.Helper()
	c, err := New(Config{TokenURL: srv.TokenURL(), ClientID: oauthtest.DefaultClientID, AuthStyle: AuthTLSClient, HTTPClient: hc, Clock: clock})
	require.NoError(t, err)
	return c
}

// tlsCNF returns the cnf.x5t#S256 claim of a JWT access token.
func tlsCNF(t *testing.T, access string) string {
	t.Helper()
	parts := strings.Split(access, ".")
	require.Len(t, parts, 3, "the bound access token is not a JWT")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims struct {
		CNF map[string]string `json:"cnf"`
	}
	require.NoError(t, json.Unmarshal(payload, &claims))
	return claims.CNF["x5t#S256"]
}

// tlsRegistrations are the two ways a provider registers a client's
// certificate, each with the certificate that fits it.
func tlsRegistrations(t *testing.T) map[string]struct {
	reg  *oauthtest.MTLS
	cert *mtCert
} {
	self := mtNewCert(t, "self-signed client", nil, false)
	ca := mtNewCert(t, "test CA", nil, true)
	issued := mtNewCert(t, "client", ca, false)
	roots := x509.NewCertPool()
	roots.AddCert(ca.leaf)
	return map[string]struct {
		reg  *oauthtest.MTLS
		cert *mtCert
	}{
		"self_signed_tls_client_auth/thumbprint": {&oauthtest.MTLS{Thumbprint: oauthtest.CertificateThumbprint(self.leaf)}, self},
		"self_signed_tls_client_auth/public key": {&oauthtest.MTLS{PublicKey: self.leaf.PublicKey}, self},
		"tls_client_auth":                        {&oauthtest.MTLS{Roots: roots, SubjectDN: issued.leaf.Subject.String()}, issued},
	}
}

func TestTLSClientAuth(t *testing.T) {
	t.Parallel()
	for name, tc := range tlsRegistrations(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock, srv := tlsAuth0(t, tc.reg, 0)
			c := tlsClient(t, srv, clock, srv.ClientWithCertificate(tc.cert.tls))
			tok, err := c.Token(mtCtx(t), asLogin)
			require.NoError(t, err)
			assert.Equal(t, oauthtest.CertificateThumbprint(tc.cert.leaf), tlsCNF(t, tok.AccessToken))
			assert.Equal(t, 1, srv.Stats().Logins)
		})
	}
}

// TestTLSClientAuthRefused shows a wrong certificate, and none, refused
// with invalid_client, as an *Error.
func TestTLSClientAuthRefused(t *testing.T) {
	t.Parallel()
	regs := tlsRegistrations(t)
	other := mtNewCert(t, "client", nil, false) // the subject fits, the issuer does not
	// A RoundTripper that is not an *http.Transport is trusted by New: this
	// one presents no certificate.
	bare := func(srv *oauthtest.Server) *http.Client {
		return &http.Client{Transport: mtRoundTripFunc(srv.Client().Transport.RoundTrip)}
	}
	for name, tc := range regs {
		for _, bad := range []struct {
			name string
			hc   func(*oauthtest.Server) *http.Client
		}{
			{"wrong certificate", func(srv *oauthtest.Server) *http.Client { return srv.ClientWithCertificate(other.tls) }},
			{"no certificate", bare},
		} {
			t.Run(name+"/"+bad.name, func(t *testing.T) {
				t.Parallel()
				clock, srv := tlsAuth0(t, tc.reg, 0)
				_, err := tlsClient(t, srv, clock, bad.hc(srv)).Token(mtCtx(t), asLogin)
				require.ErrorIs(t, err, ErrInvalidClient)
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
				assert.Equal(t, "invalid_client", e.Code)
			})
		}
	}
}

// TestTLSClientSourceRenewals renews a client credentials token over mutual
// TLS a few times on the fake clock, each token bound to the certificate.
func TestTLSClientSourceRenewals(t *testing.T) {
	t.Parallel()
	cert := mtNewCert(t, "client", nil, false)
	clock, srv := tlsAuth0(t, &oauthtest.MTLS{Thumbprint: oauthtest.CertificateThumbprint(cert.leaf)}, 10*time.Minute)
	s := mtSource(t, tlsClient(t, srv, clock, srv.ClientWithCertificate(cert.tls)), SourceConfig{Login: asLogin})
	var last string
	for i := range 4 {
		tok, err := s.TokenContext(mtCtx(t))
		require.NoError(t, err, "renewal %d", i)
		assert.NotEqual(t, last, tok.AccessToken, "renewal %d served the old token", i)
		assert.Equal(t, oauthtest.CertificateThumbprint(cert.leaf), tlsCNF(t, tok.AccessToken))
		last = tok.AccessToken
		clock.Advance(time.Hour)
	}
	assert.Equal(t, 4, srv.Stats().Logins)
}

// TestTransportPresentsClientCertificate shows a Transport without Base
// presenting the Client's certificate to an API that checks the token's
// binding, and one with another Base refused.
func TestTransportPresentsClientCertificate(t *testing.T) {
	t.Parallel()
	cert := mtNewCert(t, "client", nil, false)
	clock, srv := tlsAuth0(t, &oauthtest.MTLS{Thumbprint: oauthtest.CertificateThumbprint(cert.leaf)}, 0)
	s := mtSource(t, tlsClient(t, srv, clock, srv.ClientWithCertificate(cert.tls)), SourceConfig{Login: asLogin})

	status, err := mtGet(mtCtx(t), &http.Client{Transport: &Transport{Source: s}}, srv.APIURL())
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, status)

	without := &http.Client{Transport: &Transport{Source: s, Base: srv.Client().Transport}}
	req, err := http.NewRequestWithContext(mtCtx(t), http.MethodGet, srv.APIURL(), nil)
	require.NoError(t, err)
	resp, err := without.Do(req)
	require.NoError(t, err)
	e := DecodeError(resp)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, e.StatusCode)
	assert.Equal(t, "invalid_token", e.Code)
	assert.Contains(t, e.Message, "client certificate")
}

func TestNewTLSClientValidation(t *testing.T) {
	t.Parallel()
	cert := mtNewCert(t, "client", nil, false)
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert.tls}}}}
	withFunc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert.tls, nil },
	}}}
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	other := &http.Client{Transport: mtRoundTripFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("unused") })}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" when New accepts cfg
	}{
		{"certificate", Config{HTTPClient: withCert}, ""},
		{"GetClientCertificate", Config{HTTPClient: withFunc}, ""},
		{"other RoundTripper", Config{HTTPClient: other}, ""},
		{"no HTTPClient", Config{}, "needs an HTTPClient"},
		{"default transport", Config{HTTPClient: &http.Client{}}, "needs an HTTPClient"},
		{"no TLS config", Config{HTTPClient: &http.Client{Transport: &http.Transport{}}}, "has no client certificate"},
		{"no certificate", Config{HTTPClient: noCert}, "has no client certificate"},
		{"secret", Config{HTTPClient: withCert, ClientSecret: "s3cr3t-value"}, "ClientSecret is set"},
		{"key", Config{HTTPClient: withCert, ClientKey: asEC}, "not AuthStyle tls_client_auth"},
		{"assertion", Config{HTTPClient: withCert, ClientAssertion: func(context.Context) (string, error) { return "", nil }}, "not AuthStyle tls_client_auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.TokenURL, cfg.ClientID, cfg.AuthStyle = "https://auth.example.com/oauth/token", "client", AuthTLSClient
			_, err := New(cfg)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "s3cr3t-value")
		})
	}
}
