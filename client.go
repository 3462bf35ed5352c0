package tokenkeeper

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// clock is Config.Clock's type.
type clock = interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// AuthStyle is how the client authenticates to the token endpoint. It is
// always chosen, never probed: resending a password after a failed attempt
// can lock an account out.
type AuthStyle int

const (
	// AuthInBody sends client_id and client_secret in the form body
	// (RFC 6749, section 2.3.1), as Daxium Air, Transiteo and Auth0
	// document. It is the zero value. With no ClientSecret only client_id
	// is sent.
	AuthInBody AuthStyle = iota
	// AuthBasic sends the client ID and secret with HTTP Basic
	// authentication, each form-encoded first as RFC 6749 asks.
	AuthBasic
	// AuthNone is a public client: client_id in the body and no secret
	// (Transiteo, Auth0 native apps). A ClientSecret is then an error.
	AuthNone
	// AuthJWT authenticates with a JWT, a client assertion (RFC 7523,
	// section 2.2; OpenID Connect Core, section 9), signed by whichever
	// of these is set, one only: Config.ClientKey, the client's private
	// key, signs a new assertion for every request, or
	// Config.ClientAssertion supplies one (private_key_jwt); or
	// Config.ClientSecret signs it by HMAC (client_secret_jwt), and the
	// secret itself never crosses the network.
	AuthJWT
	// AuthTLSClient authenticates with the client's TLS certificate
	// (RFC 8705, section 2): tls_client_auth, where the provider checks
	// the chain and the subject registered for the client, and
	// self_signed_tls_client_auth, where it checks the certificate
	// registered for the client. On the wire the two are the same:
	// client_id in the body and no secret. The certificate is the one the
	// TLS configuration of Config.HTTPClient presents
	// (TLSClientConfig.Certificates or GetClientCertificate): New refuses
	// an *http.Transport without one, and a nil HTTPClient or Transport;
	// another RoundTripper is trusted to present it. A ClientSecret,
	// ClientKey or ClientAssertion is then an error. A Transport whose
	// Base is nil sends API requests through that same HTTPClient's
	// Transport, so certificate-bound access tokens (RFC 8705, section 3)
	// go out with their certificate.
	AuthTLSClient

	// authSecretJWT is AuthJWT signed with the ClientSecret, as a Client
	// tells it apart.
	authSecretJWT AuthStyle = 100
)

// name returns the style's name.
func (s AuthStyle) name() string {
	switch s {
	case AuthInBody:
		return "in-body"
	case AuthBasic:
		return "basic"
	case AuthNone:
		return "none"
	case AuthJWT:
		return "private_key_jwt"
	case authSecretJWT:
		return "client_secret_jwt"
	case AuthTLSClient:
		return "tls_client_auth"
	}
	return fmt.Sprintf("AuthStyle(%d)", int(s))
}

// defaultTimeout bounds every token request made with the default HTTP
// client.
const defaultTimeout = 30 * time.Second

// Config describes a token endpoint and the client registered with it. It
// is read once by New; changing it afterwards has no effect. Start from a
// preset (DaxiumAir, Transiteo, Auth0), which fills the endpoint and the
// provider's quirks, or fill it by hand.
type Config struct {
	// TokenURL is the token endpoint. It must be absolute and https,
	// unless its host is an IP loopback literal (127.0.0.1, [::1]) or
	// exactly "localhost", or AllowInsecureHTTP is set. A name such as
	// auth.localhost is resolved through DNS and needs https.
	TokenURL string
	// BaseURL, if set, moves every endpoint (TokenURL, AuthURL,
	// RevocationURL, DeviceAuthURL) to it, keeping their paths: a preset
	// pointed at a test server (oauthtest) or a staging host. The same
	// scheme rule applies.
	BaseURL string
	// AuthURL is the authorization endpoint, for the authorization code
	// flow. Optional; the same scheme rule applies.
	AuthURL string
	// RevocationURL is the token revocation endpoint (RFC 7009), for
	// Client.Revoke and Source.Logout. Optional; the same scheme rule
	// applies.
	RevocationURL string
	// DeviceAuthURL is the device authorization endpoint (RFC 8628), for
	// Client.DeviceLogin. Optional; the same scheme rule applies.
	DeviceAuthURL string
	// AllowInsecureHTTP allows plain http URLs on hosts other than
	// loopback. Credentials then cross the network in clear text: use it
	// only inside a trusted network.
	AllowInsecureHTTP bool

	// ClientID identifies the client. Required.
	ClientID string
	// ClientSecret authenticates a confidential client. Empty for a
	// public client.
	ClientSecret string
	// AuthStyle is how the client authenticates; the zero value is
	// AuthInBody.
	AuthStyle AuthStyle
	// ClientKey signs the client assertions of AuthJWT: an
	// *rsa.PrivateKey, *ecdsa.PrivateKey (P-256), ed25519.PrivateKey, or
	// any crypto.Signer with such a public key (a key in a KMS or an HSM).
	// Each token request gets a new assertion: iss and sub the ClientID,
	// aud the AssertionAudience, a random jti, iat now and exp a minute
	// later.
	ClientKey crypto.Signer
	// ClientKeyID, if set, is sent as the kid of the assertions' header,
	// the key's ID as registered with the provider.
	ClientKeyID string
	// AssertionAlg is the JWS algorithm of the client assertions. Empty
	// means the key's default: RS256 for RSA (RS384, RS512, PS256, PS384
	// and PS512 are accepted too), ES256 for P-256, EdDSA for Ed25519,
	// and HS256 (or HS384, HS512) for AuthJWT with a ClientSecret.
	AssertionAlg string
	// AssertionAudience is the aud of the client assertions: the
	// provider's issuer when it asks for it. Empty means TokenURL, which
	// every provider accepts (RFC 7523, section 3).
	AssertionAudience string
	// ClientAssertion, with AuthJWT and instead of ClientKey,
	// returns the client assertion of each token request: for a signer
	// that lives elsewhere (a signing service, a workload identity token
	// file). It is called with the request's context, from many
	// goroutines at once, and its result is sent as is.
	ClientAssertion func(ctx context.Context) (string, error)

	// DPoPKey, if set, makes every token request carry a DPoP proof
	// (RFC 9449) signed with it, so the provider binds the tokens it
	// issues to the key: an *ecdsa.PrivateKey on P-256 (ES256, the
	// usual choice), an *rsa.PrivateKey (RS256), an ed25519.PrivateKey
	// (EdDSA), or a crypto.Signer with such a public key. A token
	// endpoint's use_dpop_nonce refusal is retried once with the nonce it
	// gave, which later proofs carry too.
	DPoPKey crypto.Signer

	// Credential says how a Transport presents the token to an API. The
	// zero value sends "Authorization: Bearer <access_token>".
	Credential Credential
	// Header holds extra headers sent with every token request and, by a
	// Transport, with every API request (Daxium Air's X-Accept-Version).
	Header http.Header
	// UserAgent, if set, is sent as User-Agent on token requests.
	UserAgent string
	// ClientErrorCodes are provider error codes that mean the client
	// itself was rejected, like RFC 6749's invalid_client (presets fill
	// it). Errors with these codes match ErrInvalidClient.
	ClientErrorCodes []string

	// HTTPClient sends token requests. If nil, a client with
	// a 30 s Timeout and http.DefaultTransport is used. Its Timeout, if
	// any, bounds each request in addition to the context. New copies it
	// and never follows redirects for token requests (a 3xx is an
	// *Error), so that credentials are never re-posted elsewhere.
	HTTPClient *http.Client
	// Clock tells the time for expiry computations; nil means the system
	// clock. Tests inject a fake one (an *oauthtest.Clock) to move time
	// forward without sleeping. Now is called from many goroutines at
	// once, on every request: it must be safe for concurrent use and
	// cheap.
	//
	// A Clock that also has a method
	//
	//	AfterFunc(d time.Duration, f func()) (stop func() bool)
	//
	// (oauthtest.Clock has one) runs a Source's waits for its next attempt
	// and the device flow's polls on its own time: f must run once the
	// clock has moved d forward. Otherwise those waits use the system's
	// timers.
	Clock interface{ Now() time.Time }
	// Logger, if set, receives debug events for token requests. Nothing
	// is logged otherwise. Secrets are never logged.
	Logger *slog.Logger
}

// Format prints the configuration without the client secret.
func (c Config) Format(f fmt.State, verb rune) {
	base := ""
	if c.BaseURL != "" {
		base = fmt.Sprintf(" BaseURL:%q", c.BaseURL)
	}
	fmt.Fprintf(f, "tokenkeeper.Config{TokenURL:%q%s AuthURL:%q ClientID:%q ClientSecret:%s AuthStyle:%v}",
		c.TokenURL, base, c.AuthURL, c.ClientID, redacted(c.ClientSecret), c.AuthStyle.name())
}

// MarshalJSON writes the text of Format as a JSON string, so that a Config
// logged as JSON (slog's JSONHandler) shows no secret either.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprint(c)) }

// Client requests tokens from one token endpoint. Create it with New; the
// zero value is not usable. A Client is immutable and safe for concurrent
// use by multiple goroutines.
type Client struct {
	tokenURL   string
	authURL    *url.URL
	revokeURL  string // "" when none
	deviceURL  string // "" when none
	clientID   string
	secret     string
	style      AuthStyle
	credential Credential
	header     http.Header
	userAgent  string
	hc         *http.Client
	clock      clock
	// signer signs client assertions; assertionFunc replaces it when set.
	signer        *jwtSigner
	assertionFunc func(context.Context) (string, error)
	assertionAud  string
	dpop          *dpopProver // nil without a DPoPKey
	// certTransport, with AuthTLSClient, is the RoundTripper that presents
	// the client certificate: a Transport without Base sends through it.
	certTransport http.RoundTripper
	logger        *slog.Logger
	// clientCodes are the codes that mean the client was rejected.
	clientCodes map[string]bool
}

// New validates cfg and returns a Client. Every problem with cfg is
// reported here, not at the first request.
func New(cfg Config) (*Client, error) {
	cfg = cfg.rebased()
	authURL, errs := cfg.check()
	signer, assertErrs := cfg.assertionSigner()
	errs = append(errs, assertErrs...)
	var dpop *dpopProver
	if cfg.DPoPKey != nil {
		var err error
		if dpop, err = newDPoPProver(cfg.DPoPKey); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// One line a problem, each with the prefix.
		for i, err := range errs {
			errs[i] = wrap(errInvalidConfig, err)
		}
		return nil, errors.Join(errs...)
	}
	c := &Client{
		tokenURL:   cfg.TokenURL,
		authURL:    authURL,
		revokeURL:  cfg.RevocationURL,
		deviceURL:  cfg.DeviceAuthURL,
		clientID:   cfg.ClientID,
		secret:     cfg.ClientSecret,
		style:      cfg.style(),
		credential: cfg.Credential.withDefaults(),
		header:     canonicalHeader(cfg.Header),
		userAgent:  cfg.UserAgent,
		clock:      cfg.Clock,
		logger:     cfg.Logger,

		signer:        signer,
		assertionFunc: cfg.ClientAssertion,
		assertionAud:  cfg.AssertionAudience,
		dpop:          dpop,
	}
	if c.assertionAud == "" {
		c.assertionAud = cfg.TokenURL
	}
	// Token requests never follow redirects: a 3xx would re-post the
	// form, credentials included, to wherever it points. The caller's
	// client is copied, not changed.
	hc := http.Client{Timeout: defaultTimeout}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = refuseRedirect
	c.hc = &hc
	if c.style == AuthTLSClient {
		c.certTransport = hc.Transport
	}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	for _, code := range cfg.ClientErrorCodes {
		if c.clientCodes == nil {
			c.clientCodes = make(map[string]bool)
		}
		c.clientCodes[code] = true
	}
	return c, nil
}

// check returns every problem of c, and its parsed AuthURL (nil if none).
func (c Config) check() (authURL *url.URL, errs []error) {
	if c.BaseURL != "" {
		if _, err := checkEndpoint("BaseURL", c.BaseURL, c.AllowInsecureHTTP); err != nil {
			errs = append(errs, err) // the endpoints moved to it say no more
		}
	}
	if len(errs) == 0 {
		authURL, errs = c.checkEndpoints()
	}
	if strings.TrimSpace(c.ClientID) == "" {
		errs = append(errs, errors.New("ClientID is empty"))
	}
	if err := checkAuthStyle(c.AuthStyle, c.ClientSecret, c.HTTPClient); err != nil {
		errs = append(errs, err)
	}
	if err := c.Credential.validate(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, checkHeader(c.Header)...)
	if !validHeaderValue(c.UserAgent) {
		errs = append(errs, errors.New("UserAgent has control characters"))
	}
	return authURL, errs
}

// checkEndpoints returns the problems of c's endpoints, and its parsed
// AuthURL (nil if none).
func (c Config) checkEndpoints() (authURL *url.URL, errs []error) {
	if _, err := checkEndpoint("TokenURL", c.TokenURL, c.AllowInsecureHTTP); err != nil {
		errs = append(errs, err)
	}
	if c.AuthURL != "" {
		u, err := checkEndpoint("AuthURL", c.AuthURL, c.AllowInsecureHTTP)
		if err != nil {
			errs = append(errs, err)
		}
		authURL = u
	}
	for _, e := range []struct{ name, url string }{{"RevocationURL", c.RevocationURL}, {"DeviceAuthURL", c.DeviceAuthURL}} {
		if e.url == "" {
			continue
		}
		if _, err := checkEndpoint(e.name, e.url, c.AllowInsecureHTTP); err != nil {
			errs = append(errs, err)
		}
	}
	return authURL, errs
}

// checkAuthStyle reports a style that is unknown or does not fit whether
// there is a client secret, or, for AuthTLSClient, hc.
func checkAuthStyle(style AuthStyle, secret string, hc *http.Client) error {
	switch style {
	case AuthInBody:
	case AuthBasic:
		if secret == "" {
			return errors.New("no ClientSecret for AuthStyle AuthBasic")
		}
	case AuthNone:
		if secret != "" {
			return errors.New("a ClientSecret is set with AuthStyle AuthNone (public client)")
		}
	case AuthJWT:
		// assertionSigner checks them.
	case AuthTLSClient:
		if secret != "" {
			return errors.New("a ClientSecret is set with AuthStyle AuthTLSClient (the client certificate authenticates)")
		}
		return checkClientCertificate(hc)
	default:
		return fmt.Errorf("unknown AuthStyle %d", int(style))
	}
	return nil
}

// checkClientCertificate reports an HTTPClient that cannot present a
// client certificate: nil, with the default transport, or with an
// *http.Transport that has none. Other RoundTrippers are trusted.
func checkClientCertificate(hc *http.Client) error {
	const where = "TLSClientConfig.Certificates or GetClientCertificate"
	if hc == nil || hc.Transport == nil {
		return errors.New("AuthTLSClient needs an HTTPClient whose Transport presents the client certificate (" + where + ")")
	}
	t, ok := hc.Transport.(*http.Transport)
	if ok && (t.TLSClientConfig == nil || len(t.TLSClientConfig.Certificates) == 0 && t.TLSClientConfig.GetClientCertificate == nil) {
		return errors.New("AuthTLSClient: the *http.Transport of HTTPClient has no client certificate (" + where + ")")
	}
	return nil
}

// checkHeader reports every header name or value that cannot be sent.
// canonicalHeader returns a copy of h whose keys are canonical, so that
// token requests and API requests send the same names, and neither
// canonicalizes per request.
func canonicalHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		out[ck] = append(out[ck], vs...)
	}
	return out
}

func checkHeader(h http.Header) []error {
	var errs []error
	for k, vs := range h {
		if !validHeaderName(k) {
			errs = append(errs, fmt.Errorf("invalid header name %q in Header", k))
			continue
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				errs = append(errs, fmt.Errorf("control characters in the value of Header %q", k))
			}
		}
	}
	return errs
}

// errInvalidConfig prefixes each problem New finds.
var errInvalidConfig = errors.New("tokenkeeper: invalid Config")

func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// checkEndpoint parses an endpoint URL and enforces https except on
// loopback hosts (see isLoopback) or when insecure is set.
func checkEndpoint(name, raw string, insecure bool) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%s is empty", name)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is not a URL: %w", name, err)
	}
	if !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("%s %q is not an absolute URL", name, raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s must not carry user information", name)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !insecure && !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("%s %q uses plain http on a host that is not loopback (set AllowInsecureHTTP to allow it)", name, raw)
		}
	default:
		return nil, fmt.Errorf("%s %q has scheme %q; want https", name, raw, u.Scheme)
	}
	return u, nil
}

// isLoopback reports whether host is an IP loopback literal (127.0.0.0/8,
// ::1) or the name localhost. Other names, "*.localhost" included, go
// through DNS, which may answer with any address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Format prints the client's endpoint and ID, never its secret. It has a
// value receiver so that a Client value prints no secret either.
func (c Client) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "tokenkeeper.Client{TokenURL:%q ClientID:%q AuthStyle:%v}", c.tokenURL, c.clientID, c.style.name())
}

// now returns the client's current time.
func (c *Client) now() time.Time { return c.clock.Now() }

// Token performs grant against the token endpoint and returns the token it
// issues. ctx bounds the request. A provider's refusal is an *Error; a
// network failure is returned wrapped, and IsRetryable tells whether
// retrying can help.
func (c *Client) Token(ctx context.Context, g Grant) (*Token, error) {
	if g == nil {
		return nil, errors.New("tokenkeeper: nil Grant")
	}
	form, err := g.form()
	if err != nil {
		name := g.grantType()
		if name == "" {
			name = "extension"
		}
		return nil, wrap(fmt.Errorf("tokenkeeper: %s grant", name), err)
	}
	return c.do(ctx, g.grantType(), form)
}

// refresh redeems refreshToken. The returned token keeps refreshToken when
// the response carries none.
func (c *Client) refresh(ctx context.Context, refreshToken string) (*Token, error) {
	t, err := c.Token(ctx, RefreshTokenGrant(refreshToken))
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" {
		t.RefreshToken = refreshToken
	}
	return t, nil
}

// do sends one token request with form (grant parameters only; client
// authentication is added here).
// With a DPoPKey, a refusal asking for a new DPoP nonce is retried once.
func (c *Client) do(ctx context.Context, grantType string, form url.Values) (*Token, error) {
	for attempt := 0; ; attempt++ {
		r, err := c.send(ctx, grantType, form)
		if err != nil {
			return nil, err
		}
		if p := c.prover(ctx); p != nil && p.keepNonce(r.resp.Request.URL, r.resp.Header) && attempt == 0 && wantsNonce(r.resp, r.body) {
			continue
		}
		return c.decode(r.resp, r.body, r.readErr, form)
	}
}

// tokenReply is a token endpoint's response, its body read (up to readErr)
// and closed.
type tokenReply struct {
	resp    *http.Response
	body    []byte
	readErr error
}

// send posts one token request and reads its response.
func (c *Client) send(ctx context.Context, grantType string, form url.Values) (tokenReply, error) {
	req, err := c.newRequest(ctx, c.tokenURL, form)
	if p := c.prover(ctx); err == nil && p != nil {
		err = c.signDPoP(p, req, "")
	}
	if err != nil {
		return tokenReply{}, fmt.Errorf("tokenkeeper: building token request: %w", err)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		err = redactURLError(err)
		c.log(ctx, "tokenkeeper: token request failed", slog.String("grant_type", grantType), slog.Duration("elapsed", time.Since(start)), slog.String("error", err.Error()))
		return tokenReply{}, fmt.Errorf("tokenkeeper: %s grant: %w", grantType, err)
	}
	body, readErr := readCapped(resp.Body)
	resp.Body.Close()
	c.log(ctx, "tokenkeeper: token response", slog.String("grant_type", grantType), slog.Int("status", resp.StatusCode), slog.Duration("elapsed", time.Since(start)))
	return tokenReply{resp, body, readErr}, nil
}

// newRequest builds the POST of form to endpoint (the token endpoint, or
// another that authenticates clients the same way), with the client's
// authentication (form is changed for AuthInBody and AuthNone) and headers.
func (c *Client) newRequest(ctx context.Context, endpoint string, form url.Values) (*http.Request, error) {
	switch c.style {
	case AuthInBody:
		form.Set("client_id", c.clientID)
		if c.secret != "" {
			form.Set("client_secret", c.secret)
		}
	case AuthNone, AuthTLSClient:
		form.Set("client_id", c.clientID)
	case AuthJWT, authSecretJWT:
		a, err := c.clientAssertion(ctx)
		if err != nil {
			return nil, err
		}
		form.Set("client_id", c.clientID)
		form.Set("client_assertion_type", assertionTypeJWT)
		form.Set("client_assertion", a)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	for k, vs := range c.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if c.style == AuthBasic {
		cred := url.QueryEscape(c.clientID) + ":" + url.QueryEscape(c.secret)
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	return req, nil
}

// decode turns a token response (body read up to readErr) into a token or
// an *Error, with every credential that form carried redacted from the
// error's printed fields.
func (c *Client) decode(resp *http.Response, body []byte, readErr error, form url.Values) (*Token, error) {
	now := c.now()
	if isRedirect(resp.StatusCode) {
		return nil, redirectError(resp, body)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := parseError(resp.StatusCode, resp.Header, body, now)
		if readErr != nil {
			e.Err = readErr
		}
		e.clientRejected = c.clientCodes[e.Code]
		return nil, c.redactEchoes(e, form)
	}
	if readErr != nil {
		return nil, &Error{StatusCode: resp.StatusCode, Header: resp.Header, Body: body, Message: "token response", Err: readErr}
	}
	t, err := decodeTokenResponse(resp.StatusCode, resp.Header.Get("Content-Type"), body, now)
	if err == nil && t.Expiry.IsZero() && c.credential.IDToken {
		// The API takes the id_token: without expires_in, its exp says
		// when the credential ends (Transiteo).
		if exp := idTokenExpiry(t.IDToken); exp.After(now) {
			t.Expiry = exp
		}
	}
	var pe *Error
	if errors.As(err, &pe) {
		pe.Header = resp.Header
		pe.clientRejected = c.clientCodes[pe.Code]
		if pe.Body == nil {
			pe.Body = body
		}
		c.redactEchoes(pe, form)
	}
	return t, err
}

// isRedirect reports whether status is a redirect that an HTTP client
// would follow.
func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// redirectError describes a token endpoint that answered with a redirect:
// where it points (without query, fragment or user information) and that
// token requests do not follow it. It is not retryable: the next request
// gets the same answer.
func redirectError(resp *http.Response, body []byte) *Error {
	where := "no Location"
	if loc, err := resp.Location(); err == nil {
		loc.RawQuery, loc.ForceQuery, loc.Fragment, loc.RawFragment, loc.User = "", false, "", "", nil
		where = loc.String()
	}
	return &Error{
		StatusCode: resp.StatusCode,
		Header:     resp.Header,
		Body:       body,
		Message:    "the token endpoint redirects to " + where + "; token requests do not follow redirects, so that credentials are never re-sent elsewhere: set TokenURL to the final URL",
	}
}

// publicParams are the token request parameters that are not credentials.
var publicParams = map[string]bool{
	"grant_type": true, "client_id": true, "username": true, "scope": true,
	"redirect_uri": true, "audience": true, "resource": true,
	"subject_token_type": true, "client_assertion_type": true, "actor_token_type": true, "requested_token_type": true,
}

// standardCodes are error codes that never need redacting: rewriting one
// would break errors.Is.
var standardCodes = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
	"access_denied": true, "server_error": true, "temporarily_unavailable": true,
	codeDaxiumTooManyLogins: true,
}

// minEchoRedaction is the shortest value redactEchoes looks for: shorter
// ones would garble ordinary words of the message.
const minEchoRedaction = 4

// redactEchoes removes from the printed fields of e every credential the
// request carried (the client secret and the value of every parameter that
// is not public), in case the server echoed one back. Body and Infos are
// left as received: they are never printed.
func (c *Client) redactEchoes(e *Error, form url.Values) *Error {
	secrets := []string{c.secret}
	for k, vs := range form {
		if !publicParams[k] {
			secrets = append(secrets, vs...)
		}
	}
	fields := []*string{&e.Message, &e.URL, &e.APIVersion}
	if !standardCodes[e.Code] {
		fields = append(fields, &e.Code)
	}
	for _, s := range secrets {
		if len(s) < minEchoRedaction {
			continue
		}
		for _, f := range fields {
			*f = strings.ReplaceAll(*f, s, "REDACTED")
		}
	}
	return e
}

func (c *Client) log(ctx context.Context, msg string, attrs ...slog.Attr) {
	if c.logger == nil {
		return
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, msg, attrs...)
}

// redactURLError strips the query from a *url.Error's URL. Token requests
// carry no secret in their URL, but a caller-supplied TokenURL might.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && (u.RawQuery != "" || u.User != nil) {
			u.RawQuery = ""
			u.User = nil
			return &url.Error{Op: ue.Op, URL: u.String(), Err: ue.Err}
		}
	}
	return err
}

// validHeaderName reports whether s is a valid HTTP field name (RFC 9110
// token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s can be sent as a header value without
// injecting a line: no CR, LF, NUL or other control character.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
