package tokenkeeper_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Mutual TLS (RFC 8705): the client authenticates with its certificate,
// which the HTTPClient's transport presents, and the Transport sends API
// requests through that same transport, so the certificate-bound token
// goes out with its certificate. Without the certificate the provider
// refuses the client.
func ExampleConfig_mutualTLS() {
	cert := selfSignedCertificate()
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0,
		MTLS: &oauthtest.MTLS{Thumbprint: oauthtest.CertificateThumbprint(cert.Leaf)}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	cfg := tokenkeeper.Config{
		TokenURL:   srv.TokenURL(),
		ClientID:   oauthtest.DefaultClientID,
		AuthStyle:  tokenkeeper.AuthTLSClient,
		HTTPClient: srv.ClientWithCertificate(cert), // in production: TLSClientConfig.Certificates
	}
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	login := tokenkeeper.ClientCredentialsGrant(tokenkeeper.Param("audience", oauthtest.DefaultAudience))
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{Login: login})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	api := &http.Client{Transport: &tokenkeeper.Transport{Source: src}} // no Base: the certificate goes out
	resp, err := api.Get(srv.APIURL())
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println("API status:", resp.StatusCode)

	cfg.HTTPClient = srv.ClientWithCertificate(selfSignedCertificate()) // not the registered one
	other, _ := tokenkeeper.New(cfg)
	_, err = other.Token(context.Background(), login)
	var e *tokenkeeper.Error
	if errors.As(err, &e) {
		fmt.Println("another certificate:", e.Code)
	}
	// Output:
	// API status: 200
	// another certificate: invalid_client
}

// selfSignedCertificate returns a new self-signed client certificate.
func selfSignedCertificate() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "example client"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
