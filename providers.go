package tokenkeeper

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Credential says how an API expects the token: which of the token's
// credentials, in which header, after which scheme. The zero value is
// "Authorization: Bearer <access_token>" (RFC 6750).
type Credential struct {
	// Header is the header name; empty means "Authorization".
	Header string
	// Scheme is written before the token, followed by a space. Empty means
	// the token's own type ("Bearer"), unless Raw is set.
	Scheme string
	// Raw sends the token alone, with no scheme (Transiteo).
	Raw bool
	// IDToken sends the OpenID Connect id_token instead of the access
	// token (Transiteo).
	IDToken bool
}

func (c Credential) validate() error {
	if c.Header != "" && !validHeaderName(c.Header) {
		return fmt.Errorf("Credential.Header %q is not a valid header name", c.Header)
	}
	if c.Raw && c.Scheme != "" {
		return errors.New("Credential has both Raw and a Scheme")
	}
	if strings.ContainsAny(c.Scheme, " \t\r\n") || !validHeaderValue(c.Scheme) {
		return fmt.Errorf("Credential.Scheme %q has spaces or control characters", c.Scheme)
	}
	return nil
}

func (c Credential) withDefaults() Credential {
	if c.Header == "" {
		c.Header = "Authorization"
	}
	c.Header = http.CanonicalHeaderKey(c.Header)
	return c
}

// value returns the header value for t, or an error if t lacks the
// credential or it cannot be sent in a header.
func (c Credential) value(t *Token) (string, error) {
	if t == nil {
		return "", errors.New("tokenkeeper: no token to send")
	}
	tok, kind := t.AccessToken, "access_token"
	if c.IDToken {
		tok, kind = t.IDToken, "id_token"
	}
	if tok == "" {
		return "", fmt.Errorf("tokenkeeper: the token has no %s to send", kind)
	}
	if !validHeaderValue(tok) || strings.ContainsAny(tok, " \t") {
		return "", fmt.Errorf("tokenkeeper: the %s has characters not allowed in a header", kind)
	}
	if c.Raw {
		return tok, nil
	}
	scheme := c.Scheme
	if scheme == "" {
		// The server's token_type: it must not smuggle a line either.
		scheme = t.typ()
		if !validHeaderValue(scheme) || strings.ContainsAny(scheme, " \t") {
			return "", errors.New("tokenkeeper: the token_type has characters not allowed in a header")
		}
	}
	return scheme + " " + tok, nil
}

// rebased returns c with its endpoints moved to c.BaseURL, if set, with
// the same paths.
func (c Config) rebased() Config {
	if c.BaseURL == "" {
		return c
	}
	c.TokenURL = rebase(c.TokenURL, c.BaseURL)
	c.AuthURL = rebase(c.AuthURL, c.BaseURL)
	c.RevocationURL = rebase(c.RevocationURL, c.BaseURL)
	c.DeviceAuthURL = rebase(c.DeviceAuthURL, c.BaseURL)
	return c
}

func rebase(endpoint, base string) string {
	if endpoint == "" {
		return ""
	}
	i := strings.Index(endpoint, "://")
	if i < 0 {
		return endpoint
	}
	rest := endpoint[i+3:]
	path := ""
	if j := strings.IndexByte(rest, '/'); j >= 0 {
		path = rest[j:]
	}
	return strings.TrimRight(base, "/") + path
}

// DaxiumAir returns the Config for Daxium Air API v1.3 and a client
// registered with it: password and refresh_token grants with client_id and
// client_secret in the form body, a new refresh token on every refresh,
// "Authorization: Bearer <access_token>" and "X-Accept-Version: v1.3" on
// API calls. Its errors are DAERR bodies. Each call returns a new value.
func DaxiumAir(clientID, clientSecret string) Config {
	return Config{
		TokenURL:     "https://api.daxium-air.com/oauth/v2/token",
		ClientID:     clientID,
		ClientSecret: clientSecret,
		AuthStyle:    AuthInBody,
		Header:       http.Header{"X-Accept-Version": {"v1.3"}},
		// Daxium Air documents no code of its own for a rejected client;
		// DAERR-AUTH001 is the one oauthtest's fake answers with.
		ClientErrorCodes: []string{"DAERR-AUTH001"},
	}
}

// Transiteo returns the Config for Transiteo and a client registered with
// it: a public client (client_id only) refreshing a static refresh token
// from the Transiteo console. Responses carry no new refresh token, and its
// API takes the raw id_token: "Authorization: <id_token>", with no scheme.
func Transiteo(clientID string) Config {
	return Config{
		TokenURL:   "https://auth.transiteo.io/oauth2/token",
		ClientID:   clientID,
		AuthStyle:  AuthNone,
		Credential: Credential{Raw: true, IDToken: true},
	}
}

// Auth0 returns the Config for an Auth0 tenant domain such as
// "example.eu.auth0.com" and an application registered with it: /authorize,
// /oauth/token, /oauth/revoke and /oauth/device/code, the client secret in
// the form body (set AuthStyle to
// AuthBasic, or to AuthNone with no secret for a native application),
// "Authorization: Bearer <access_token>".
func Auth0(domain, clientID, clientSecret string) Config {
	domain = strings.TrimSuffix(strings.TrimPrefix(domain, "https://"), "/")
	return Config{
		TokenURL:      "https://" + domain + "/oauth/token",
		AuthURL:       "https://" + domain + "/authorize",
		RevocationURL: "https://" + domain + "/oauth/revoke",
		DeviceAuthURL: "https://" + domain + "/oauth/device/code",
		ClientID:      clientID,
		ClientSecret:  clientSecret,
		AuthStyle:     AuthInBody,
	}
}
