package tokenkeeper

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// TokenKind names one of a token's credentials.
type TokenKind int

const (
	// AccessToken is the OAuth 2.0 access token (the zero value).
	AccessToken TokenKind = iota
	// IDToken is the OpenID Connect id_token.
	IDToken
)

// String returns the kind's wire name.
func (k TokenKind) String() string {
	switch k {
	case AccessToken:
		return "access_token"
	case IDToken:
		return "id_token"
	}
	return fmt.Sprintf("TokenKind(%d)", int(k))
}

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
	// Token is which credential to send.
	Token TokenKind
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
	if c.Token != AccessToken && c.Token != IDToken {
		return fmt.Errorf("Credential.Token: unknown %v", c.Token)
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
	tok := t.AccessToken
	if c.Token == IDToken {
		tok = t.IDToken
	}
	if tok == "" {
		return "", fmt.Errorf("tokenkeeper: the token has no %v to send", c.Token)
	}
	if !validHeaderValue(tok) || strings.ContainsAny(tok, " \t") {
		return "", fmt.Errorf("tokenkeeper: the %v has characters not allowed in a header", c.Token)
	}
	if c.Raw {
		return tok, nil
	}
	scheme := c.Scheme
	if scheme == "" {
		// The server's token_type: it must not smuggle a line either.
		scheme = t.Type()
		if !validHeaderValue(scheme) || strings.ContainsAny(scheme, " \t") {
			return "", errors.New("tokenkeeper: the token_type has characters not allowed in a header")
		}
	}
	return scheme + " " + tok, nil
}

// Provider describes a token provider: its endpoints, how clients
// authenticate, the headers it wants and how its APIs take the token. The
// functions DaxiumAir, Transiteo and Auth0 return presets, a new value on
// every call; Config turns one into a Config to complete.
type Provider struct {
	// Name is a human-readable name.
	Name string
	// TokenURL is the token endpoint.
	TokenURL string
	// AuthURL is the authorization endpoint, if the provider has one.
	AuthURL string
	// AuthStyle is how the provider authenticates clients.
	AuthStyle AuthStyle
	// Header holds headers the provider asks clients to send.
	Header http.Header
	// Credential is how its APIs take the token.
	Credential Credential
	// ClientErrorCodes are the error codes with which the provider's token
	// endpoint rejects the client itself (a wrong client secret), beyond
	// RFC 6749's invalid_client. An *Error with one of them matches
	// ErrInvalidClient, and a Source does not take it for a rejected
	// refresh token.
	ClientErrorCodes []string
}

// Config returns a Config for this provider with the given client
// credentials; pass "" as clientSecret for a public client. The headers are
// copied.
func (p Provider) Config(clientID, clientSecret string) Config {
	return Config{
		TokenURL:     p.TokenURL,
		AuthURL:      p.AuthURL,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		AuthStyle:    p.AuthStyle,
		Header:       p.Header.Clone(),
		Credential:   p.Credential,

		ClientErrorCodes: slices.Clone(p.ClientErrorCodes),
	}
}

// WithBaseURL returns a copy of p whose endpoints point at baseURL (for
// example a test server) with the same paths.
func (p Provider) WithBaseURL(baseURL string) Provider {
	p.TokenURL = rebase(p.TokenURL, baseURL)
	p.AuthURL = rebase(p.AuthURL, baseURL)
	p.Header = p.Header.Clone()
	p.ClientErrorCodes = slices.Clone(p.ClientErrorCodes)
	return p
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

// DaxiumAir returns the preset for Daxium Air API v1.3: password and
// refresh_token grants with client_id and client_secret in the form body, a
// new refresh token on every refresh, "Authorization: Bearer
// <access_token>" and "X-Accept-Version: v1.3" on API calls. Its errors are
// DAERR bodies. Each call returns a new value: changing it changes no other.
func DaxiumAir() Provider {
	return Provider{
		Name:       "Daxium Air",
		TokenURL:   "https://api.daxium-air.com/oauth/v2/token",
		AuthStyle:  AuthInBody,
		Header:     http.Header{"X-Accept-Version": {"v1.3"}},
		Credential: Credential{},
		// Daxium Air documents no code of its own for a rejected client;
		// DAERR-AUTH001 is the one oauthtest's fake answers with.
		ClientErrorCodes: []string{"DAERR-AUTH001"},
	}
}

// Transiteo returns the preset for Transiteo: a public client (client_id
// only) refreshing a static refresh token from the Transiteo console.
// Responses carry no new refresh token, and its API takes the raw
// id_token: "Authorization: <id_token>", with no scheme. Each call returns a
// new value.
func Transiteo() Provider {
	return Provider{
		Name:       "Transiteo",
		TokenURL:   "https://auth.transiteo.io/oauth2/token",
		AuthStyle:  AuthNone,
		Credential: Credential{Raw: true, Token: IDToken},
	}
}

// Auth0 returns the preset for an Auth0 tenant domain such as
// "example.eu.auth0.com": /authorize and /oauth/token, the client secret in
// the form body (use AuthBasic or AuthNone in the Config for other
// application types), "Authorization: Bearer <access_token>".
func Auth0(domain string) Provider {
	domain = strings.TrimSuffix(strings.TrimPrefix(domain, "https://"), "/")
	return Provider{
		Name:      "Auth0",
		TokenURL:  "https://" + domain + "/oauth/token",
		AuthURL:   "https://" + domain + "/authorize",
		AuthStyle: AuthInBody,
	}
}
