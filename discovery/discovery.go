// Package discovery fetches an authorization server's metadata (RFC 8414,
// and OpenID Connect Discovery 1.0) and builds a tokenkeeper.Config from
// it.
package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

// maxDocument caps the metadata document read.
const maxDocument = 256 << 10

// Metadata is an authorization server's metadata: the fields tokenkeeper
// uses. A Metadata is a plain value, safe for concurrent use once built;
// cache it as long as suits (the document changes rarely).
type Metadata struct {
	Issuer                      string   `json:"issuer"`
	AuthorizationEndpoint       string   `json:"authorization_endpoint"`
	TokenEndpoint               string   `json:"token_endpoint"`
	RevocationEndpoint          string   `json:"revocation_endpoint"`
	DeviceAuthorizationEndpoint string   `json:"device_authorization_endpoint"`
	IntrospectionEndpoint       string   `json:"introspection_endpoint"`
	JWKSURI                     string   `json:"jwks_uri"`
	TokenEndpointAuthMethods    []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethods        []string `json:"code_challenge_methods_supported"`
	GrantTypes                  []string `json:"grant_types_supported"`
	IDTokenSigningAlgs          []string `json:"id_token_signing_alg_values_supported"`
	// TLSClientCertificateBoundAccessTokens says the server binds access
	// tokens to the client's TLS certificate (RFC 8705, section 3.3).
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens"`
	// MTLSEndpointAliases are the endpoints, by metadata name
	// ("token_endpoint", ...), that a client doing mutual TLS calls
	// instead of the top-level ones (RFC 8705, section 5).
	MTLSEndpointAliases map[string]string `json:"mtls_endpoint_aliases"`
}

// Error is a metadata document that cannot be used: unreachable, refused,
// too large, malformed, or for another issuer.
type Error struct {
	// Issuer is the issuer asked for.
	Issuer string
	// Reason says what is wrong.
	Reason string
	// Err is the cause, if any.
	Err error
}

func (e *Error) Error() string {
	s := "discovery: " + e.Issuer + ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Options configure Discover. The zero value uses http.DefaultClient and
// refuses plain http except on loopback hosts.
type Options struct {
	// HTTPClient fetches the document; nil means http.DefaultClient.
	HTTPClient *http.Client
	// AllowInsecureHTTP allows http endpoints on hosts other than
	// loopback, as tokenkeeper.Config's option of that name.
	AllowInsecureHTTP bool
}

// Discover fetches the metadata of issuer: from
// issuer/.well-known/openid-configuration, or, when that is not found, the
// RFC 8414 location (/.well-known/oauth-authorization-server inserted
// before the issuer's path). The document's issuer must equal the one
// asked (RFC 8414, section 3.3), and every endpoint must be https, unless
// on loopback or allowed. Any failure is an *Error.
func Discover(ctx context.Context, issuer string, opts Options) (*Metadata, error) {
	u, err := checkURL(issuer, opts.AllowInsecureHTTP)
	if err != nil {
		return nil, &Error{Issuer: issuer, Reason: "bad issuer", Err: err}
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	path := strings.TrimSuffix(u.Path, "/")
	oidc := *u
	oidc.Path = path + "/.well-known/openid-configuration"
	md, status, err := fetch(ctx, hc, oidc.String())
	if status == http.StatusNotFound {
		rfc := *u
		rfc.Path = "/.well-known/oauth-authorization-server" + path
		md, _, err = fetch(ctx, hc, rfc.String())
	}
	if err != nil {
		return nil, &Error{Issuer: issuer, Reason: "fetching the metadata", Err: err}
	}
	if err := md.check(issuer, opts.AllowInsecureHTTP); err != nil {
		return nil, &Error{Issuer: issuer, Reason: "invalid metadata", Err: err}
	}
	return md, nil
}

// fetch gets and decodes one document.
func fetch(ctx context.Context, hc *http.Client, where string) (*Metadata, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, fmt.Errorf("status %s", resp.Status)
	}
	md, err := Parse(body)
	return md, resp.StatusCode, err
}

// Parse decodes a metadata document, at most 256 KiB, without checking
// it against an issuer.
func Parse(doc []byte) (*Metadata, error) {
	if len(doc) > maxDocument {
		return nil, fmt.Errorf("the document exceeds %d bytes", maxDocument)
	}
	var md Metadata
	if err := json.Unmarshal(doc, &md); err != nil {
		return nil, fmt.Errorf("the document is not a JSON object: %w", err)
	}
	return &md, nil
}

// check verifies the issuer and the endpoints.
func (m *Metadata) check(issuer string, insecure bool) error {
	if m.Issuer != issuer {
		return fmt.Errorf("the document's issuer %q is not the one asked for", m.Issuer)
	}
	if m.TokenEndpoint == "" {
		return errors.New("no token_endpoint")
	}
	for name, v := range map[string]string{
		"token_endpoint": m.TokenEndpoint, "authorization_endpoint": m.AuthorizationEndpoint,
		"revocation_endpoint": m.RevocationEndpoint, "device_authorization_endpoint": m.DeviceAuthorizationEndpoint,
		"introspection_endpoint": m.IntrospectionEndpoint, "jwks_uri": m.JWKSURI,
	} {
		if v == "" {
			continue
		}
		if _, err := checkURL(v, insecure); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for name, v := range m.MTLSEndpointAliases {
		if _, err := checkURL(v, insecure); err != nil {
			return fmt.Errorf("mtls_endpoint_aliases %s: %w", name, err)
		}
	}
	return nil
}

// checkURL parses an absolute URL and enforces https except on loopback
// hosts or when insecure is set.
func checkURL(raw string, insecure bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch {
	case !u.IsAbs() || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%q is not an absolute URL without query or fragment", raw)
	case u.Scheme == "https":
	case u.Scheme == "http" && (insecure || loopback(u.Hostname())):
	default:
		return nil, fmt.Errorf("%q is not https", raw)
	}
	return u, nil
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
}

// Config returns base with the endpoints of m: token, authorization,
// revocation and device authorization. It chooses AuthBasic when the
// server supports only client_secret_basic and base has a secret. With
// base.AuthStyle tokenkeeper.AuthTLSClient, the token, revocation and
// device authorization endpoints are the mtls_endpoint_aliases, where the
// server has them (RFC 8705, section 5). Start from a preset
// (tokenkeeper.Auth0) or a Config with the client's ID.
func (m *Metadata) Config(base tokenkeeper.Config) tokenkeeper.Config {
	alias := func(name, top string) string {
		if a := m.MTLSEndpointAliases[name]; a != "" && base.AuthStyle == tokenkeeper.AuthTLSClient {
			return a
		}
		return top
	}
	base.TokenURL = alias("token_endpoint", m.TokenEndpoint)
	base.AuthURL = m.AuthorizationEndpoint
	base.RevocationURL = alias("revocation_endpoint", m.RevocationEndpoint)
	base.DeviceAuthURL = alias("device_authorization_endpoint", m.DeviceAuthorizationEndpoint)
	if base.ClientSecret != "" && len(m.TokenEndpointAuthMethods) == 1 && m.TokenEndpointAuthMethods[0] == "client_secret_basic" {
		base.AuthStyle = tokenkeeper.AuthBasic
	}
	return base
}
