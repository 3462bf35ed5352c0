package tokenkeeper

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// Grant is a way to obtain a token (RFC 6749, sections 4 and 6). Build one
// with PasswordGrant, RefreshTokenGrant, AuthorizationCodeGrant,
// ClientCredentialsGrant, TokenExchangeGrant, JWTBearerGrant or
// ExtensionGrant; the set is closed, and Client
// adds client authentication itself. A Grant prints (with every fmt verb,
// slog and encoding/json) its grant type and its public parameters only:
// passwords, codes, verifiers, tokens and any other parameter are shown as
// REDACTED. A Grant is immutable and safe for concurrent use.
type Grant interface {
	// grantType returns the grant_type value.
	grantType() string
	// form returns a new copy of the grant's parameters, or an error if a
	// required one is missing.
	form() (url.Values, error)
}

// GrantOption adds a parameter to a grant. Build one with Param.
type GrantOption interface {
	apply(url.Values)
}

// Param returns a GrantOption that adds key=value to a grant's form: scope,
// audience (Auth0), resource (RFC 8707), a client assertion, or any
// parameter a provider asks for. It can be given more than once for the
// same key. It cannot override the grant's own parameters, nor client_id
// and client_secret, which the Client owns.
func Param(key, value string) GrantOption { return param{key, value} }

type param struct{ key, value string }

// Format prints the key, and the value only for a public parameter.
func (p param) Format(f fmt.State, _ rune) {
	value := "REDACTED"
	if publicParams[p.key] {
		value = strconv.Quote(p.value)
	}
	fmt.Fprintf(f, "tokenkeeper.Param(%q=%s)", p.key, value)
}

func (p param) apply(v url.Values) {
	if p.key != "client_id" && p.key != "client_secret" {
		v.Add(p.key, p.value)
	}
}

// grant is the one implementation of Grant.
type grant struct {
	typ    string
	values url.Values // grant_type, the grant's own parameters, the options'
	err    error      // a required parameter that is missing
}

func (g grant) grantType() string { return g.typ }

func (g grant) form() (url.Values, error) {
	if g.err != nil {
		return nil, g.err
	}
	v := make(url.Values, len(g.values)+2)
	for k, vs := range g.values {
		v[k] = append([]string(nil), vs...)
	}
	return v, nil
}

// newGrant builds a grant of type typ: the options first, then own, which
// wins. Empty values of own are left out.
func newGrant(typ string, err error, opts []GrantOption, own ...string) grant {
	v := make(url.Values, len(opts)+len(own)/2+1)
	for _, o := range opts {
		if o != nil {
			o.apply(v)
		}
	}
	for i := 0; i+1 < len(own); i += 2 {
		if own[i+1] != "" {
			v.Set(own[i], own[i+1])
		}
	}
	v.Set("grant_type", typ)
	return grant{typ: typ, values: v, err: err}
}

// PasswordGrant is the resource owner password credentials grant
// (RFC 6749, section 4.3), Daxium Air's login. Both username and password
// are required.
func PasswordGrant(username, password string, opts ...GrantOption) Grant {
	var err error
	if username == "" || password == "" {
		err = errors.New("username and password are required")
	}
	return newGrant("password", err, opts, "username", username, "password", password)
}

// RefreshTokenGrant redeems a refresh token (RFC 6749, section 6). An empty
// refresh token is an error that matches ErrLoginRequired.
func RefreshTokenGrant(refreshToken string, opts ...GrantOption) Grant {
	var err error
	if refreshToken == "" {
		err = wrap(errors.New("the refresh token is empty"), ErrLoginRequired)
	}
	return newGrant("refresh_token", err, opts, "refresh_token", refreshToken)
}

// AuthorizationCodeGrant exchanges an authorization code (RFC 6749,
// section 4.1.3) with its PKCE code verifier (RFC 7636; empty if PKCE was
// not used). redirectURI must equal the one sent to the authorization
// endpoint. AuthCodeFlow.Callback returns this grant for a flow.
func AuthorizationCodeGrant(code, redirectURI, verifier string, opts ...GrantOption) Grant {
	var err error
	if code == "" {
		err = errors.New("empty authorization code")
	}
	return newGrant("authorization_code", err, opts, "code", code, "redirect_uri", redirectURI, "code_verifier", verifier)
}

// ClientCredentialsGrant gets a token for the client itself (RFC 6749,
// section 4.4). Auth0 wants the API's identifier: Param("audience", ...).
func ClientCredentialsGrant(opts ...GrantOption) Grant {
	return newGrant("client_credentials", nil, opts)
}

// JWTBearerGrant presents assertion, a JWT signed by an issuer the
// provider trusts, as the authorization grant (RFC 7523, section 2.1): a
// service account acting as a user, or a workload identity token. The
// assertion is short-lived: for a Source, sign or read a new one in
// SourceConfig.LoginFunc and call Client.Token with this grant there.
// Package [github.com/tokenkeeper/tokenkeeper/jwtbearer] signs them with a
// private key and makes such a LoginFunc.
// Client authentication, if the Client has one, is added as for any grant.
func JWTBearerGrant(assertion string, opts ...GrantOption) Grant {
	var err error
	if assertion == "" {
		err = errors.New("the assertion is empty")
	}
	return newGrant(grantTypeJWT, err, opts, "assertion", assertion)
}

// ExtensionGrant is any other grant type (RFC 6749, section 4.5), such as
// token exchange: grantType is the absolute URI or name sent as
// grant_type, and the options carry its parameters.
func ExtensionGrant(grantType string, opts ...GrantOption) Grant {
	var err error
	if grantType == "" {
		err = errors.New("the grant type is empty")
	}
	return newGrant(grantType, err, opts)
}

// TokenExchangeGrant exchanges subjectToken, a token of type
// subjectTokenType, for another token (RFC 8693): such as
// "urn:ietf:params:oauth:token-type:access_token" or ...:id_token. Both
// are required. The options carry the rest of RFC 8693, section 2.1:
// Param("actor_token", ...) with Param("actor_token_type", ...),
// Param("resource", ...) and Param("audience", ...) (each as often as
// needed), Param("scope", ...) and Param("requested_token_type", ...). The
// type of the token issued is tok.Extra("issued_token_type").
func TokenExchangeGrant(subjectToken, subjectTokenType string, opts ...GrantOption) Grant {
	var err error
	if subjectToken == "" || subjectTokenType == "" {
		err = errors.New("the subject token and its type are required")
	}
	return newGrant("urn:ietf:params:oauth:grant-type:token-exchange", err, opts,
		"subject_token", subjectToken, "subject_token_type", subjectTokenType)
}

// Format prints the grant type and the public parameters; the value of any
// other parameter is REDACTED.
func (g grant) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "tokenkeeper.Grant{%s}", describeForm(g.values))
}

// MarshalJSON writes the text of Format as a JSON string.
func (g grant) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprint(g)) }

// describeForm prints a form in key order, with the value of every
// parameter that is not public redacted.
func describeForm(v url.Values) string {
	keys := slices.Sorted(maps.Keys(v))
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if !publicParams[k] {
			b.WriteString("REDACTED")
			continue
		}
		b.WriteString(strconv.Quote(strings.Join(v[k], " ")))
	}
	return b.String()
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
	// Nonce is the OpenID Connect nonce, signed by the provider into the
	// id_token; check it with the oidc package. If empty, a random one
	// is generated.
	Nonce string
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
// hides State, Nonce and Verifier. Its methods only read it: it is safe for
// concurrent use once built.
type AuthCodeFlow struct {
	// URL is the authorization URL to redirect the user to.
	URL string
	// State is the state sent, to compare with the callback's.
	State string
	// Nonce is the nonce sent, which the id_token must carry.
	Nonce string
	// Verifier is the PKCE code verifier; empty if PKCE is disabled.
	Verifier string
	// RedirectURI is the redirect URI sent.
	RedirectURI string
}

// Format prints the flow without its state, nonce and verifier.
func (f AuthCodeFlow) Format(s fmt.State, verb rune) {
	fmt.Fprintf(s, "tokenkeeper.AuthCodeFlow{RedirectURI:%q State:%s Nonce:%s Verifier:%s}", f.RedirectURI, redacted(f.State), redacted(f.Nonce), redacted(f.Verifier))
}

// MarshalJSON fails: the verifier is a secret that must not reach a log,
// and a flow written as a redacted text could not be read back. Keep the
// flow in server memory until the callback, or store its fields yourself.
func (f AuthCodeFlow) MarshalJSON() ([]byte, error) {
	return nil, errors.New("tokenkeeper: an AuthCodeFlow is not encoded as JSON: it holds the PKCE verifier; store its fields yourself")
}

// AuthCodeURL starts an authorization code flow: it returns the URL with
// response_type=code, client_id, redirect_uri, scope, state, nonce,
// audience, the extra parameters and, unless disabled, an S256 PKCE challenge. The
// Client must have an AuthURL.
func (c *Client) AuthCodeURL(r AuthCodeRequest) (*AuthCodeFlow, error) {
	if c.authURL == nil {
		return nil, errors.New("tokenkeeper: AuthCodeURL: Config.AuthURL is empty")
	}
	flow := &AuthCodeFlow{State: r.State, Nonce: r.Nonce, RedirectURI: r.RedirectURI}
	if flow.State == "" {
		flow.State = randomString(24)
	}
	if flow.Nonce == "" {
		flow.Nonce = randomString(24)
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
	q.Set("nonce", flow.Nonce)
	if !r.DisablePKCE {
		flow.Verifier = oauth2.GenerateVerifier()
		q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(flow.Verifier))
		q.Set("code_challenge_method", "S256")
	}
	u := *c.authURL
	u.RawQuery = q.Encode()
	flow.URL = u.String()
	return flow, nil
}

// Callback checks the query of the redirect back from the authorization
// endpoint and returns the grant that exchanges its code for tokens. The
// state must equal f.State (compared in constant time), or the error
// matches ErrBadCallback; an error parameter becomes an *Error
// (StatusCode 0) with the provider's error, error_description and
// error_uri; a query with no code matches ErrBadCallback too.
func (f *AuthCodeFlow) Callback(query url.Values) (Grant, error) {
	state := query.Get("state")
	if f.State == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return nil, errStateMismatch
	}
	if e := query.Get("error"); e != "" {
		return nil, &Error{Code: e, Message: query.Get("error_description"), URL: query.Get("error_uri")}
	}
	code := query.Get("code")
	if code == "" {
		return nil, errMissingCode
	}
	return AuthorizationCodeGrant(code, f.RedirectURI, f.Verifier), nil
}

// The refusals of Callback.
var (
	errStateMismatch = fmt.Errorf("%w: the state does not match the flow's", ErrBadCallback)
	errMissingCode   = fmt.Errorf("%w: no code", ErrBadCallback)
)

// randomString returns n random bytes, base64url encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails, as documented since Go 1.24
	return strings.TrimRight(base64.URLEncoding.EncodeToString(b), "=")
}
