package oauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// selfSignedCert returns a self-signed ECDSA P-256 client certificate
// valid for an hour.
func selfSignedCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "client"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func TestMTLSOptionsChecked(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options{
		"empty":          {Preset: Auth0, MTLS: &MTLS{}},
		"both ways":      {Preset: Auth0, MTLS: &MTLS{Thumbprint: "x", Roots: x509.NewCertPool(), SubjectDN: "CN=c"}},
		"roots only":     {Preset: Auth0, MTLS: &MTLS{Roots: x509.NewCertPool()}},
		"public client":  {Preset: Auth0, PublicClient: true, MTLS: &MTLS{Thumbprint: "x"}},
		"not Auth0":      {Preset: Daxium, MTLS: &MTLS{Thumbprint: "x"}},
		"not a key type": {Preset: Auth0, MTLS: &MTLS{PublicKey: "key"}},
	} {
		if s, err := NewServer(o); err == nil {
			s.Close()
			t.Errorf("%s: NewServer accepted %+v", name, o.MTLS)
		}
	}
}

// mtlsPost posts form to the token endpoint through hc.
func mtlsPost(t *testing.T, s *Server, hc *http.Client, form url.Values) result {
	t.Helper()
	resp, err := hc.PostForm(s.TokenURL(), form)
	if err != nil {
		t.Fatalf("POST %s: %v", s.TokenURL(), err)
	}
	return read(t, resp)
}

// mtlsAPI calls the API endpoint with access through hc.
func mtlsAPI(t *testing.T, s *Server, hc *http.Client, access string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.APIURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", s.APIURL(), err)
	}
	return read(t, resp)
}

// TestMTLSClientAuthentication shows the token endpoint refusing a missing
// or wrong certificate and a secret, and binding the tokens it issues to
// the right certificate, which the API then requires.
func TestMTLSClientAuthentication(t *testing.T) {
	t.Parallel()
	cert, wrong := selfSignedCert(t), selfSignedCert(t)
	s := start(t, Options{Preset: Auth0, MTLS: &MTLS{Thumbprint: CertificateThumbprint(cert.Leaf)}})
	if !strings.HasPrefix(s.TokenURL(), "https://127.0.0.1:") {
		t.Fatalf("TokenURL = %q; want https on loopback", s.TokenURL())
	}
	form := with(auth0ClientCredentials(), "client_secret", "-")
	good := s.ClientWithCertificate(cert)

	wantError(t, mtlsPost(t, s, s.Client(), form), http.StatusUnauthorized, "invalid_client")
	wantError(t, mtlsPost(t, s, s.ClientWithCertificate(wrong), form), http.StatusUnauthorized, "invalid_client")
	wantError(t, mtlsPost(t, s, good, auth0ClientCredentials()), http.StatusBadRequest, "invalid_request")

	r := mtlsPost(t, s, good, form)
	wantStatus(t, r, http.StatusOK)
	access := r.str("access_token")
	if got, want := cnfX5T(t, access), CertificateThumbprint(cert.Leaf); got != want {
		t.Errorf("cnf.x5t#S256 = %q; want %q", got, want)
	}
	wantStatus(t, mtlsAPI(t, s, good, access), http.StatusOK)
	for _, hc := range []*http.Client{s.Client(), s.ClientWithCertificate(wrong)} {
		r := mtlsAPI(t, s, hc, access)
		wantError(t, r, http.StatusUnauthorized, "invalid_token")
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q; want an invalid_token challenge", got)
		}
	}
}

// wantError checks r's status and RFC 6749 error code.
func wantError(t *testing.T, r result, status int, code string) {
	t.Helper()
	wantStatus(t, r, status)
	if got := r.str("error"); got != code {
		t.Errorf("error = %q; want %q (%s)", got, code, r.raw)
	}
}

// cnfX5T returns the cnf.x5t#S256 claim of a JWT access token.
func cnfX5T(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token %q is not a JWT", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		CNF map[string]string `json:"cnf"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c.CNF["x5t#S256"]
}
