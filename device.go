package tokenkeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
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

// DeviceAuth is what the user needs to approve a device authorization
// (RFC 8628, section 3.2): the code to enter and where. It holds no
// secret (the device code stays inside Client.DeviceLogin), and is safe
// for concurrent use.
type DeviceAuth struct {
	// UserCode is the code the user enters at VerificationURI.
	UserCode string
	// VerificationURI is the page where the user enters UserCode.
	VerificationURI string
	// VerificationURIComplete, if the server gives one, already holds the
	// code (for a QR code or a link).
	VerificationURIComplete string
	// Expiry is when the codes expire, by the Client's clock.
	Expiry time.Time
	// Interval is how long the device waits between polls.
	Interval time.Duration
}

// DeviceLogin runs the device authorization grant (RFC 8628): it asks
// Config.DeviceAuthURL for a device code (opts add parameters such as
// Param("scope", ...) or Auth0's Param("audience", ...)), hands prompt the
// codes to show the user, then polls the token endpoint every Interval
// until the user decides: authorization_pending polls again, slow_down
// adds 5 seconds to the interval. A denial is an *Error with Code
// "access_denied" (it matches no retry); expired codes one with Code
// "expired_token", whether the server says so or the Client's clock does.
// ctx ends the wait at any time.
//
// To use it as a Source's login, call it from SourceConfig.LoginFunc, and
// give the Source a RefreshTimeout long enough for a person to act (or log
// in first and pass the token as SourceConfig.Token).
func (c *Client) DeviceLogin(ctx context.Context, prompt func(DeviceAuth), opts ...GrantOption) (*Token, error) {
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
		prompt(da)
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
func decodeDeviceAuth(body []byte, now time.Time) (DeviceAuth, string, error) {
	var r deviceResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return DeviceAuth{}, "", malformed(200, "device authorization response: %v", err)
	}
	if r.VerificationURI == "" {
		r.VerificationURI = r.VerificationURL
	}
	if r.DeviceCode == "" || r.UserCode == "" || r.VerificationURI == "" {
		return DeviceAuth{}, "", malformed(200, "device authorization response without device_code, user_code or verification_uri")
	}
	life, err := parseSeconds(r.ExpiresIn)
	if err != nil || life <= 0 {
		return DeviceAuth{}, "", malformed(200, "device authorization response: expires_in missing or invalid")
	}
	interval, err := parseSeconds(r.Interval)
	if err != nil {
		return DeviceAuth{}, "", malformed(200, "device authorization response: invalid interval")
	}
	if interval <= 0 {
		interval = defaultDeviceInterval
	}
	da := DeviceAuth{
		UserCode:                r.UserCode,
		VerificationURI:         r.VerificationURI,
		VerificationURIComplete: r.VerificationURIComplete,
		Expiry:                  now.Add(min(life, maxDeviceLifetime)),
		Interval:                min(interval, time.Minute),
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
func (c *Client) pollDevice(ctx context.Context, da DeviceAuth, code string) (*Token, error) {
	interval := da.Interval
	g := newGrant(grantDeviceCode, nil, nil, "device_code", code)
	for range maxDevicePolls {
		if !c.now().Add(interval).Before(da.Expiry) {
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
