package tokenkeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"
)

// This file holds the device authorization grant (RFC 8628): a device
// without a browser shows a code, the user approves it elsewhere, and the
// device polls the token endpoint until then.

const (
	grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
	// defaultDeviceInterval is the polling interval when the server gives
	// none (RFC 8628, section 3.2), and slowDownStep what slow_down adds
	// (section 3.5).
	defaultDeviceInterval = 5 * time.Second
	slowDownStep          = 5 * time.Second
	// maxDevicePolls bounds the polls of one authorization, whatever the
	// server's expires_in.
	maxDevicePolls = 1000
)

// deviceAuth is a device authorization (RFC 8628, section 3.2) without
// its device code.
type deviceAuth struct {
	userCode, verificationURI, verificationURIComplete string
	expiry                                             time.Time // by the Client's clock
	interval                                           time.Duration
}

// public returns what the user needs to approve da, in the type x/oauth2
// uses for it, without the device code.
func (da deviceAuth) public() oauth2.DeviceAuthResponse {
	return oauth2.DeviceAuthResponse{
		UserCode:                da.userCode,
		VerificationURI:         da.verificationURI,
		VerificationURIComplete: da.verificationURIComplete,
		Expiry:                  da.expiry,
		Interval:                int64(da.interval / time.Second),
	}
}

// DeviceLogin runs the device authorization grant (RFC 8628): it asks
// Config.DeviceAuthURL for a device code (opts add parameters such as
// Param("scope", ...) or Auth0's Param("audience", ...)), hands prompt
// what to show the user (UserCode, VerificationURI and, if the server
// gives one, VerificationURIComplete, a link that holds the code; Expiry
// by the Client's clock; Interval in seconds), with DeviceCode left empty:
// the device code stays inside DeviceLogin. Then it polls the token
// endpoint every Interval until the user decides: authorization_pending polls again, slow_down
// adds 5 seconds to the interval. A denial is an *Error with Code
// "access_denied" (it matches no retry); expired codes one with Code
// "expired_token", whether the server says so or the Client's clock does.
// ctx ends the wait at any time.
//
// To use it as a Source's login, call it from SourceConfig.LoginFunc, and
// give the Source a RefreshTimeout long enough for a person to act (or log
// in first and pass the token as SourceConfig.Token).
func (c *Client) DeviceLogin(ctx context.Context, prompt func(oauth2.DeviceAuthResponse), opts ...GrantOption) (*Token, error) {
	if c.deviceURL == "" {
		return nil, fmt.Errorf("tokenkeeper: Config.DeviceAuthURL is empty: the provider's device authorization endpoint is unknown: %w", errors.ErrUnsupported)
	}
	form := newGrant("", nil, opts).values
	form.Del("grant_type")
	resp, body, err := c.post(ctx, c.deviceURL, "device authorization", form)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := parseError(resp.StatusCode, resp.Header, body, c.now())
		e.clientRejected = c.clientCodes[e.Code]
		return nil, c.redactEchoes(e, form)
	}
	da, code, err := decodeDeviceAuth(body, c.now())
	if err != nil {
		return nil, err
	}
	if prompt != nil {
		prompt(da.public())
	}
	return c.pollDevice(ctx, da, code)
}

// deviceResponse is the device authorization response (RFC 8628, section
// 3.2); verification_url is Google's spelling.
type deviceResponse struct {
	DeviceCode              string          `json:"device_code"`
	UserCode                string          `json:"user_code"`
	VerificationURI         string          `json:"verification_uri"`
	VerificationURL         string          `json:"verification_url"`
	VerificationURIComplete string          `json:"verification_uri_complete"`
	ExpiresIn               json.RawMessage `json:"expires_in"`
	Interval                json.RawMessage `json:"interval"`
}

// maxDeviceLifetime caps the expires_in a server may give.
const maxDeviceLifetime = 24 * time.Hour

// decodeDeviceAuth decodes a device authorization response received at
// now, and returns what the user needs and the device code.
func decodeDeviceAuth(body []byte, now time.Time) (deviceAuth, string, error) {
	var r deviceResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return deviceAuth{}, "", malformed(200, "device authorization response: %v", err)
	}
	if r.VerificationURI == "" {
		r.VerificationURI = r.VerificationURL
	}
	if r.DeviceCode == "" || r.UserCode == "" || r.VerificationURI == "" {
		return deviceAuth{}, "", malformed(200, "device authorization response without device_code, user_code or verification_uri")
	}
	life, err := parseSeconds(r.ExpiresIn)
	if err != nil || life <= 0 {
		return deviceAuth{}, "", malformed(200, "device authorization response: expires_in missing or invalid")
	}
	interval, err := parseSeconds(r.Interval)
	if err != nil {
		return deviceAuth{}, "", malformed(200, "device authorization response: invalid interval")
	}
	if interval <= 0 {
		interval = defaultDeviceInterval
	}
	da := deviceAuth{
		userCode:                r.UserCode,
		verificationURI:         r.VerificationURI,
		verificationURIComplete: r.VerificationURIComplete,
		expiry:                  now.Add(min(life, maxDeviceLifetime)),
		interval:                min(interval, time.Minute),
	}
	return da, r.DeviceCode, nil
}

// parseSeconds reads a JSON number (or numeric string) of seconds; absent
// is 0.
func parseSeconds(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	return parseExpiresIn(n)
}

// pollDevice polls the token endpoint with code until the user decides,
// the codes expire, or ctx ends.
func (c *Client) pollDevice(ctx context.Context, da deviceAuth, code string) (*Token, error) {
	interval := da.interval
	g := newGrant(grantDeviceCode, nil, nil, "device_code", code)
	for range maxDevicePolls {
		if !c.now().Add(interval).Before(da.expiry) {
			break
		}
		if err := c.sleep(ctx, interval); err != nil {
			return nil, fmt.Errorf("tokenkeeper: device authorization: %w", err)
		}
		t, err := c.Token(ctx, g)
		var e *Error
		switch {
		case err == nil:
			return t, nil
		case errors.As(err, &e) && e.Code == "authorization_pending":
		case errors.As(err, &e) && e.Code == "slow_down":
			interval += slowDownStep
		case IsRetryable(err) && ctx.Err() == nil:
			// A passing outage: poll again at the next interval.
		default:
			return nil, err
		}
	}
	return nil, &Error{Code: "expired_token", Message: "the device code expired before the user approved it"}
}

// sleep waits d on the Client's clock (on its timer when it has one, as
// oauthtest.Clock does), or until ctx ends.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	done := make(chan struct{})
	var stop func()
	if ck, ok := c.clock.(interface {
		AfterFunc(time.Duration, func()) func() bool
	}); ok {
		s := ck.AfterFunc(d, func() { close(done) })
		stop = func() { s() }
	} else {
		t := time.AfterFunc(d, func() { close(done) })
		stop = func() { t.Stop() }
	}
	defer stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
