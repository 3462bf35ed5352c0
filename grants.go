package tokenkeeper

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Grant is a way to obtain a token (RFC 6749, section 4 and 6):
// PasswordGrant, RefreshTokenGrant, AuthorizationCodeGrant,
// ClientCredentialsGrant or ExtensionGrant. The set is closed; Client adds
// client authentication itself.
type Grant interface {
	// grantType returns the grant_type value.
	grantType() string
	// form returns the grant's parameters, or an error if a required one
	// is missing.
	form() (url.Values, error)
}

// PasswordGrant is the resource owner password credentials grant
// (RFC 6749, section 4.3), Daxium Air's login. Its Format method hides the
// password.
type PasswordGrant struct {
	// Username is the resource owner's name (Daxium Air: an e-mail).
	Username string
	// Password is the resource owner's password.
	Password string
	// Scope is optional, space separated.
	Scope string
	// Params are extra form parameters; they cannot override the grant's
	// own.
	Params url.Values
}

func (PasswordGrant) grantType() string { return "password" }

func (g PasswordGrant) form() (url.Values, error) {
	if g.Username == "" || g.Password == "" {
		return nil, errors.New("username and password are required")
	}
	v := withParams(g.Params)
	v.Set("grant_type", "password")
	v.Set("username", g.Username)
	v.Set("password", g.Password)
	setIf(v, "scope", g.Scope)
	return v, nil
}

// Format prints the grant with its password redacted.
func (g PasswordGrant) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "tokenkeeper.PasswordGrant{Username:%q Password:%s Scope:%q}", g.Username, redacted(g.Password), g.Scope)
}

// MarshalJSON writes the text of Format as a JSON string.
func (g PasswordGrant) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprint(g)) }

// RefreshTokenGrant refreshes an access token (RFC 6749, section 6). Its
// Format method hides the refresh token.
type RefreshTokenGrant struct {
	// RefreshToken is the refresh token to redeem.
	RefreshToken string
	// Scope optionally narrows the scope.
	Scope string
	// Params are extra form parameters.
	Params url.Values
}

func (RefreshTokenGrant) grantType() string { return "refresh_token" }

func (g RefreshTokenGrant) form() (url.Values, error) {
	if g.RefreshToken == "" {
		return nil, fmt.Errorf("RefreshToken is empty: %w", ErrLoginRequired)
	}
	v := withParams(g.Params)
	v.Set("grant_type", "refresh_token")
	v.Set("refresh_token", g.RefreshToken)
	setIf(v, "scope", g.Scope)
	return v, nil
}

// Format prints the grant with its refresh token redacted.
func (g RefreshTokenGrant) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "tokenkeeper.RefreshTokenGrant{RefreshToken:%s Scope:%q}", redacted(g.RefreshToken), g.Scope)
}

// MarshalJSON writes the text of Format as a JSON string.
func (g RefreshTokenGrant) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprint(g)) }

// AuthorizationCodeGrant exchanges an authorization code (RFC 6749,
// section 4.1.3) with its PKCE code verifier (RFC 7636). Its Format method
// hides the code and the verifier.
type AuthorizationCodeGrant struct {
	// Code is the authorization code from the callback.
	Code string
	// RedirectURI must equal the one sent to the authorization endpoint.
	RedirectURI string
	// CodeVerifier is the PKCE verifier; empty if PKCE was not used.
	CodeVerifier string
	// Params are extra form parameters.
	Params url.Values
}

func (AuthorizationCodeGrant) grantType() string { return "authorization_code" }

func (g AuthorizationCodeGrant) form() (url.Values, error) {
	if g.Code == "" {
		return nil, errors.New("empty authorization code")
	}
	v := withParams(g.Params)
	v.Set("grant_type", "authorization_code")
	v.Set("code", g.Code)
	setIf(v, "redirect_uri", g.RedirectURI)
	setIf(v, "code_verifier", g.CodeVerifier)
	return v, nil
}

// Format prints the grant with its code and verifier redacted.
func (g AuthorizationCodeGrant) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "tokenkeeper.AuthorizationCodeGrant{Code:%s RedirectURI:%q CodeVerifier:%s}", redacted(g.Code), g.RedirectURI, redacted(g.CodeVerifier))
}

// MarshalJSON writes the text of Format as a JSON string.
func (g AuthorizationCodeGrant) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprint(g)) }

// ClientCredentialsGrant gets a token for the client itself (RFC 6749,
// section 4.4). Audience is Auth0's API identifier. Its Format method
// leaves out Params, which may hold a client assertion.
type ClientCredentialsGrant struct {
	// Scope is optional, space separated.
	Scope string
	// Audience is the API the token is for (Auth0); optional.
	Audience string
	// Params are extra form parameters.
	Params url.Values
}

func (ClientCredentialsGrant) grantType() string { return "client_credentials" }

func (g ClientCredentialsGrant) form() (url.Values, error) {
	v := withParams(g.Params)
	v.Set("grant_type", "client_credentials")
	setIf(v, "scope", g.Scope)
	setIf(v, "audience", g.Audience)
	return v, nil
}

// Format prints the grant without its parameters' values.
func (g ClientCredentialsGrant) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "tokenkeeper.ClientCredentialsGrant{Scope:%q Audience:%q Params:%d}", g.Scope, g.Audience, len(g.Params))
}

// MarshalJSON writes the text of Format as a JSON string.
func (g ClientCredentialsGrant) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprint(g)) }

// ExtensionGrant is any other grant type (RFC 6749, section 4.5), such as
// token exchange. Its Format method prints only the grant type.
type ExtensionGrant struct {
	// GrantType is the absolute URI or name sent as grant_type.
	GrantType string
	// Params are the grant's form parameters.
	Params url.Values
}

func (g ExtensionGrant) grantType() string { return g.GrantType }

func (g ExtensionGrant) form() (url.Values, error) {
	if g.GrantType == "" {
		return nil, errors.New("GrantType is empty")
	}
	v := withParams(g.Params)
	v.Set("grant_type", g.GrantType)
	return v, nil
}

// Format prints the grant type only: parameters may hold secrets.
func (g ExtensionGrant) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "tokenkeeper.ExtensionGrant{GrantType:%q Params:%d}", g.GrantType, len(g.Params))
}

// MarshalJSON writes the text of Format as a JSON string.
func (g ExtensionGrant) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprint(g)) }

// withParams returns a copy of p, without the client authentication
// parameters that Client owns.
func withParams(p url.Values) url.Values {
	v := make(url.Values, len(p)+4)
	for k, vs := range p {
		if k == "client_id" || k == "client_secret" {
			continue
		}
		v[k] = append([]string(nil), vs...)
	}
	return v
}

func setIf(v url.Values, k, s string) {
	if s != "" {
		v.Set(k, s)
	}
}

// AuthCodeRequest describes a request to the authorization endpoint
// (RFC 6749, section 4.1.1).
type AuthCodeRequest struct {
	// RedirectURI is where the provider sends the user back.
	RedirectURI string
	// Scope, space separated. Auth0 issues a refresh token only with
	// offline_access, an id_token only with openid.
	Scope string
	// State is echoed back by the provider. If empty, a random one is
	// generated.
	State string
	// Audience is Auth0's API identifier; optional.
	Audience string
	// DisablePKCE turns off PKCE. By default an S256 challenge (RFC 7636)
	// is sent and the verifier kept in the returned AuthCodeFlow.
	DisablePKCE bool
	// Params are extra query parameters (prompt, login_hint, ...).
	Params url.Values
}

// AuthCodeFlow is one authorization code flow in progress: the URL to send
// the user to, and what is needed to check the callback and exchange the
// code. Keep it (server-side) until the callback arrives. Its Format method
// hides State and Verifier. Its methods only read it: it is safe for
// concurrent use once built.
type AuthCodeFlow struct {
	// URL is the authorization URL to redirect the user to.
	URL string
	// State is the state sent, to compare with the callback's.
	State string
	// Verifier is the PKCE code verifier; empty if PKCE is disabled.
	Verifier string
	// RedirectURI is the redirect URI sent.
	RedirectURI string
}

// Format prints the flow without its state and verifier.
func (f AuthCodeFlow) Format(s fmt.State, verb rune) {
	fmt.Fprintf(s, "tokenkeeper.AuthCodeFlow{RedirectURI:%q State:%s Verifier:%s}", f.RedirectURI, redacted(f.State), redacted(f.Verifier))
}

// MarshalJSON writes the text of Format as a JSON string, so that a logged
// flow shows no verifier. To keep a flow in a session store, save its
// fields one by one.
func (f AuthCodeFlow) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprint(f)) }

// AuthCodeURL starts an authorization code flow: it returns the URL with
// response_type=code, client_id, redirect_uri, scope, state, audience, the
// extra parameters and, unless disabled, an S256 PKCE challenge. The
// Client must have an AuthURL.
func (c *Client) AuthCodeURL(r AuthCodeRequest) (*AuthCodeFlow, error) {
	if c.authURL == nil {
		return nil, errors.New("tokenkeeper: AuthCodeURL: Config.AuthURL is empty")
	}
	flow := &AuthCodeFlow{State: r.State, RedirectURI: r.RedirectURI}
	if flow.State == "" {
		flow.State = randomString(24)
	}
	q := c.authURL.Query()
	for k, vs := range r.Params {
		q[k] = append([]string(nil), vs...)
	}
	q.Set("response_type", "code")
	q.Set("client_id", c.clientID)
	setIf(q, "redirect_uri", r.RedirectURI)
	setIf(q, "scope", r.Scope)
	setIf(q, "audience", r.Audience)
	q.Set("state", flow.State)
	if !r.DisablePKCE {
		flow.Verifier = NewVerifier()
		q.Set("code_challenge", S256Challenge(flow.Verifier))
		q.Set("code_challenge_method", "S256")
	}
	u := *c.authURL
	u.RawQuery = q.Encode()
	flow.URL = u.String()
	return flow, nil
}

// Callback checks the query of the redirect back from the authorization
// endpoint: the state must equal f.State (compared in constant time), an
// error parameter becomes an *Error (StatusCode 0) with the provider's
// error, error_description and error_uri, and otherwise the code is
// returned.
func (f *AuthCodeFlow) Callback(query url.Values) (code string, err error) {
	state := query.Get("state")
	if f.State == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return "", errors.New("tokenkeeper: authorization callback: state does not match")
	}
	if e := query.Get("error"); e != "" {
		return "", &Error{Code: e, Message: query.Get("error_description"), URL: query.Get("error_uri")}
	}
	code = query.Get("code")
	if code == "" {
		return "", errors.New("tokenkeeper: authorization callback: no code")
	}
	return code, nil
}

// Grant returns the grant that exchanges code for tokens in this flow.
func (f *AuthCodeFlow) Grant(code string) AuthorizationCodeGrant {
	return AuthorizationCodeGrant{Code: code, RedirectURI: f.RedirectURI, CodeVerifier: f.Verifier}
}

// NewVerifier returns a new random PKCE code verifier (RFC 7636, section
// 4.1): 32 random bytes, base64url encoded.
func NewVerifier() string { return oauth2.GenerateVerifier() }

// S256Challenge returns the S256 code challenge of a verifier (RFC 7636,
// section 4.2).
func S256Challenge(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }

// randomString returns n random bytes, base64url encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails, as documented since Go 1.24
	return strings.TrimRight(base64.URLEncoding.EncodeToString(b), "=")
}
