package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/discovery"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func newAuth0(t *testing.T) *oauthtest.Server {
	t.Helper()
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

// The Auth0 fake's document gives a Config that gets tokens and revokes.
func TestDiscoverAuth0(t *testing.T) {
	srv := newAuth0(t)
	md, err := discovery.Discover(ctx(t), srv.Issuer(), discovery.Options{HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if md.TokenEndpoint != srv.TokenURL() || md.RevocationEndpoint != srv.RevocationURL() ||
		md.DeviceAuthorizationEndpoint != srv.DeviceAuthURL() || md.JWKSURI != srv.JWKSURL() {
		t.Errorf("metadata = %+v", md)
	}
	cfg := md.Config(tokenkeeper.Auth0("tenant", oauthtest.DefaultClientID, oauthtest.DefaultClientSecret))
	cfg.HTTPClient = srv.Client()
	c, err := tokenkeeper.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Token(ctx(t), tokenkeeper.ClientCredentialsGrant(tokenkeeper.Param("audience", oauthtest.DefaultAudience)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctx(t), tok.AccessToken, "access_token"); err != nil {
		t.Errorf("Revoke = %v", err)
	}
}

// A bad document, another issuer, plain http elsewhere, a 404 on both
// locations and a fault are *Error values.
func TestDiscoverErrors(t *testing.T) {
	srv := newAuth0(t)
	var de *discovery.Error
	if _, err := discovery.Discover(ctx(t), srv.URL(), discovery.Options{HTTPClient: srv.Client()}); !errors.As(err, &de) || !strings.Contains(err.Error(), "issuer") {
		t.Errorf("issuer without its slash: %v; want an issuer mismatch", err)
	}
	srv.FailNext(1, http.StatusServiceUnavailable)
	if _, err := discovery.Discover(ctx(t), srv.Issuer(), discovery.Options{HTTPClient: srv.Client()}); !errors.As(err, &de) {
		t.Errorf("503: %v; want *discovery.Error", err)
	}
	if _, err := discovery.Discover(ctx(t), "http://example.com/", discovery.Options{}); !errors.As(err, &de) || !strings.Contains(err.Error(), "https") {
		t.Errorf("plain http: %v; want a refusal", err)
	}
	for name, body := range map[string]string{
		"not json":      "<html>",
		"http endpoint": `{"issuer":"%s","token_endpoint":"http://example.com/token"}`,
		"no token":      `{"issuer":"%s"}`,
		"http alias":    `{"issuer":"%s","token_endpoint":"%[1]s/token","mtls_endpoint_aliases":{"token_endpoint":"http://example.com/token"}}`,
		"too large":     `{"issuer":"%s","x":"` + strings.Repeat("a", 300<<10) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			var ts *httptest.Server
			ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/.well-known/oauth-authorization-server" {
					http.NotFound(w, r)
					return
				}
				fmt.Fprintf(w, body, ts.URL)
			}))
			defer ts.Close()
			if _, err := discovery.Discover(ctx(t), ts.URL, discovery.Options{}); !errors.As(err, &de) {
				t.Errorf("Discover = %v; want *discovery.Error", err)
			}
		})
	}
}

// FuzzParse: any document parses or fails, never panics; a parsed one
// checks its endpoints without panicking either.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://a.example/","token_endpoint":"https://a.example/token","jwks_uri":"https://a.example/jwks","grant_types_supported":["authorization_code"]}`))
	f.Add([]byte(`{"issuer":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"token_endpoint_auth_methods_supported":["client_secret_basic"]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		md, err := discovery.Parse(doc)
		if err != nil {
			return
		}
		cfg := md.Config(tokenkeeper.Config{ClientID: "c", ClientSecret: "s"})
		if cfg.TokenURL != md.TokenEndpoint {
			t.Fatalf("Config dropped the token endpoint")
		}
	})
}

// Discover an Auth0 tenant (here the fake) and build its Config.
func ExampleDiscover() {
	srv, _ := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0})
	defer srv.Close()
	md, err := discovery.Discover(context.Background(), srv.Issuer(), discovery.Options{HTTPClient: srv.Client()})
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := md.Config(tokenkeeper.Auth0("tenant", "client-id", "secret"))
	fmt.Println(strings.TrimPrefix(cfg.TokenURL, srv.URL()))
	fmt.Println(strings.TrimPrefix(cfg.RevocationURL, srv.URL()))
	fmt.Println(strings.TrimPrefix(cfg.DeviceAuthURL, srv.URL()))
	// Output:
	// /oauth/token
	// /oauth/revoke
	// /oauth/device/code
}

// TestConfigMTLSAliases shows a client doing mutual TLS sent to the
// mtls_endpoint_aliases, and any other client to the top-level endpoints.
func TestConfigMTLSAliases(t *testing.T) {
	md, err := discovery.Parse([]byte(`{"issuer":"https://a.example/","token_endpoint":"https://a.example/token",
		"revocation_endpoint":"https://a.example/revoke","tls_client_certificate_bound_access_tokens":true,
		"mtls_endpoint_aliases":{"token_endpoint":"https://mtls.a.example/token"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !md.TLSClientCertificateBoundAccessTokens {
		t.Error("TLSClientCertificateBoundAccessTokens = false; want true")
	}
	cfg := md.Config(tokenkeeper.Config{ClientID: "c", AuthStyle: tokenkeeper.AuthTLSClient})
	if cfg.TokenURL != "https://mtls.a.example/token" || cfg.RevocationURL != "https://a.example/revoke" {
		t.Errorf("AuthTLSClient: TokenURL = %q, RevocationURL = %q; want the token alias and the top-level revocation endpoint", cfg.TokenURL, cfg.RevocationURL)
	}
	if cfg := md.Config(tokenkeeper.Config{ClientID: "c"}); cfg.TokenURL != "https://a.example/token" {
		t.Errorf("AuthInBody: TokenURL = %q; want the top-level endpoint", cfg.TokenURL)
	}
}
