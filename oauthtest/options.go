package oauthtest

import (
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"time"
)

// Preset selects the provider a Server imitates.
type Preset int

const (
	// Daxium imitates the Daxium Air API v1.3: password and refresh_token
	// grants at /oauth/v2/token, client credentials in the form body, a new
	// refresh token on every refresh, and DAERR error bodies.
	Daxium Preset = iota + 1
	// Transiteo imitates Transiteo: a public client trading a static refresh
	// token for an id_token at /oauth2/token (no refresh_token in the
	// answer), and an API that wants the raw id_token, without "Bearer".
	Transiteo
	// Auth0 imitates an Auth0 tenant: /authorize with PKCE, and the
	// authorization_code, refresh_token and client_credentials grants at
	// /oauth/token, with optional refresh-token rotation and reuse detection.
	Auth0
)

// String returns the preset's name, or "Preset(n)" for an unknown value.
func (p Preset) String() string {
	switch p {
	case Daxium:
		return "Daxium"
	case Transiteo:
		return "Transiteo"
	case Auth0:
		return "Auth0"
	}
	return fmt.Sprintf("Preset(%d)", int(p))
}

// Default values used for the zero fields of Options.
const (
	DefaultClientID      = "test-client"
	DefaultClientSecret  = "test-secret"
	DefaultUser          = "user@example.com"
	DefaultPassword      = "correct horse"
	DefaultAudience      = "https://api.example.com"
	DefaultTokenLifetime = time.Hour
	DefaultLoginLimit    = 5
	DefaultLoginWindow   = time.Minute
)

// Options configures a Server. Only Preset is required; every other zero
// field takes the default given beside it. NewServer copies Options, so
// changing them (or the Users map) afterwards has no effect.
type Options struct {
	// Preset is the provider to imitate. Required.
	Preset Preset

	// ClientID is the only client the server knows. Default DefaultClientID.
	ClientID string
	// ClientSecret is the client's secret. Default DefaultClientSecret.
	// Ignored for Transiteo and for public Auth0 clients, which send none.
	ClientSecret string
	// PublicClient makes the Auth0 client a native/public one: no secret is
	// accepted, and /authorize requires PKCE. Auth0 only.
	PublicClient bool
	// ClientKey registers the client's public key (*rsa.PublicKey,
	// *ecdsa.PublicKey on P-256, or ed25519.PublicKey): the client then
	// authenticates with private_key_jwt only (RFC 7523), and a client
	// secret is refused. Without it a confidential client may also
	// authenticate with client_secret_jwt (an HS256, HS384 or HS512
	// assertion signed with ClientSecret). Assertions must have iss and
	// sub the client ID, aud the token endpoint or the issuer, an exp
	// at most 10 minutes after their iat, and a jti never seen before;
	// else the request gets 401 invalid_client. The same key signs the
	// assertions of the JWT bearer grant (RFC 7523, section 2.1), whose
	// sub is a user of Users or the client itself. Auth0 only.
	ClientKey crypto.PublicKey
	// DPoP requires a DPoP proof (RFC 9449) on every token request; a
	// request without one, or with a bad one (signature, typ, htm, htu,
	// an iat more than a minute old, a jti seen before), gets 400
	// invalid_dpop_proof. Without it a proof is still checked when sent.
	// The tokens of a proven request have token_type DPoP and are bound
	// to the proof's key (its cnf.jkt); so is the refresh token of a
	// PublicClient, which a refresh without a proof under that key
	// cannot redeem (400 invalid_grant). Auth0 only.
	DPoP bool
	// DPoPNonce makes the token endpoint demand the nonce of
	// Server.DPoPNonce in DPoP proofs: a proof without it gets 400
	// use_dpop_nonce and the nonce in the DPoP-Nonce header. Auth0 only.
	DPoPNonce bool
	// MTLS makes the server serve https and authenticate the client by
	// the TLS certificate it registers, binding its access tokens to that
	// certificate (RFC 8705); see MTLS. Auth0 only, for a confidential
	// client without ClientKey.
	MTLS *MTLS

	// Users maps usernames to passwords for the Daxium password grant. The
	// Auth0 /authorize endpoint logs in as the user named by its login_hint
	// parameter, else as the first username in sort order; Transiteo tokens
	// belong to that first user too. Default {DefaultUser: DefaultPassword}.
	Users map[string]string

	// RefreshToken is Transiteo's static refresh token, the one its console
	// hands out. Default: a random one, see Server.RefreshToken. Transiteo only.
	RefreshToken string

	// TokenLifetime is the lifetime of access and id tokens, sent as
	// expires_in in whole seconds. Default DefaultTokenLifetime; at least
	// one second.
	TokenLifetime time.Duration
	// RefreshTokenLifetime, if positive, makes Daxium and Auth0 refresh
	// tokens expire that long after they are issued (on the server clock).
	// Zero: they never expire.
	RefreshTokenLifetime time.Duration
	// ExpiresInAsString sends expires_in as a JSON string ("3600"), as
	// Transiteo documents it once. Meant for Transiteo; honoured by every
	// preset.
	ExpiresInAsString bool

	// Rotation makes Auth0 issue a new refresh token on every refresh and
	// retire the one presented. Auth0 only: Daxium always rotates and
	// Transiteo never does.
	Rotation bool
	// ReuseDetection, with Rotation, makes presenting a retired refresh
	// token revoke its whole family: every refresh token descended from the
	// same login. Auth0 only.
	ReuseDetection bool

	// Audience is the Auth0 API identifier accepted by client_credentials
	// (where it is required) and /authorize (where it is optional).
	// Default DefaultAudience. Auth0 only.
	Audience string
	// RedirectURIs lists the Auth0 redirect URIs allowed, compared exactly.
	// Default: any http URL on a loopback host (127.0.0.1, [::1] or
	// localhost), on any port and path. Auth0 only.
	RedirectURIs []string

	// LoginLimit is how many Daxium password grants a username may attempt
	// within LoginWindow; the next one is refused with 429 CodeTooManyLogins.
	// Every attempt with a valid client counts, right or wrong password;
	// attempts refused with 429 do not.
	// Default DefaultLoginLimit.
	LoginLimit int
	// LoginWindow is the sliding window of LoginLimit, on the server clock.
	// Default DefaultLoginWindow.
	LoginWindow time.Duration

	// Clock is the server's clock. Nil: real time.
	Clock *Clock
}

// normalize validates o and returns a copy with the defaults filled in.
func (o Options) normalize() (Options, error) {
	if err := o.check(); err != nil {
		return o, err
	}
	users := make(map[string]string, len(o.Users))
	for name, pw := range o.Users {
		if name == "" {
			return o, errors.New("oauthtest: Options.Users has an empty username")
		}
		users[name] = pw
	}
	if len(users) == 0 {
		users[DefaultUser] = DefaultPassword
	}
	o.Users = users
	o.RedirectURIs = append([]string(nil), o.RedirectURIs...)
	setString(&o.ClientID, DefaultClientID)
	setString(&o.ClientSecret, DefaultClientSecret)
	setString(&o.Audience, DefaultAudience)
	setDuration(&o.TokenLifetime, DefaultTokenLifetime)
	setDuration(&o.LoginWindow, DefaultLoginWindow)
	if o.LoginLimit == 0 {
		o.LoginLimit = DefaultLoginLimit
	}
	if o.Preset == Transiteo && o.RefreshToken == "" {
		o.RefreshToken = newToken(prefixRefresh)
	}
	return o, nil
}

func setString(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

func setDuration(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// check reports the first problem of o: an option of another preset, or a
// value out of range.
func (o Options) check() error {
	if o.Preset < Daxium || o.Preset > Auth0 {
		return fmt.Errorf("oauthtest: Options.Preset %v is not Daxium, Transiteo or Auth0", o.Preset)
	}
	if err := o.checkPreset(); err != nil {
		return err
	}
	switch {
	case o.TokenLifetime < 0 || (o.TokenLifetime > 0 && o.TokenLifetime < time.Second):
		return fmt.Errorf("oauthtest: Options.TokenLifetime %v is under one second", o.TokenLifetime)
	case o.RefreshTokenLifetime < 0:
		return fmt.Errorf("oauthtest: Options.RefreshTokenLifetime %v is negative", o.RefreshTokenLifetime)
	case o.LoginLimit < 0:
		return fmt.Errorf("oauthtest: Options.LoginLimit %d is negative", o.LoginLimit)
	case o.LoginWindow < 0:
		return fmt.Errorf("oauthtest: Options.LoginWindow %v is negative", o.LoginWindow)
	}
	for _, raw := range o.RedirectURIs {
		if u, err := url.Parse(raw); err != nil || !u.IsAbs() || u.Host == "" || u.Fragment != "" {
			return fmt.Errorf("oauthtest: Options.RedirectURIs: %q is not an absolute URL without fragment", raw)
		}
	}
	return nil
}

// checkPreset reports an option set for a preset that does not have it.
func (o Options) checkPreset() error {
	auth0Only := []struct {
		set  bool
		name string
	}{
		{o.PublicClient, "PublicClient"},
		{o.ClientKey != nil, "ClientKey"},
		{o.MTLS != nil, "MTLS"},
		{o.Rotation, "Rotation"},
		{o.ReuseDetection, "ReuseDetection"},
		{o.Audience != "", "Audience"},
		{len(o.RedirectURIs) > 0, "RedirectURIs"},
	}
	for _, f := range auth0Only {
		if f.set && o.Preset != Auth0 {
			return fmt.Errorf("oauthtest: Options.%s is for Auth0 only, not %v", f.name, o.Preset)
		}
	}
	if o.RefreshToken != "" && o.Preset != Transiteo {
		return fmt.Errorf("oauthtest: Options.RefreshToken is for Transiteo only, not %v", o.Preset)
	}
	if o.ClientKey != nil && (o.PublicClient || !supportedKey(o.ClientKey)) {
		return errors.New("oauthtest: Options.ClientKey must be an RSA, P-256 or Ed25519 public key, for a confidential client")
	}
	if err := o.checkMTLS(); err != nil {
		return err
	}
	if o.ReuseDetection && !o.Rotation {
		return errors.New("oauthtest: Options.ReuseDetection needs Rotation")
	}
	return nil
}

// firstUser is the user that logins without a username act as.
func (o Options) firstUser() string {
	names := make([]string, 0, len(o.Users))
	for name := range o.Users {
		names = append(names, name)
	}
	sort.Strings(names)
	return names[0]
}
