package interop

import (
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
)

// TestDeviceAuthorization runs the device authorization grant with
// x/oauth2, the user approving on the provider's pages.
func TestDeviceAuthorization(t *testing.T) {
	t.Parallel()
	row(t, flowDevice, xo)
	p := startOP(t)
	cfg := p.xConfig(deviceID, deviceSecret, "", oauth2.AuthStyleInHeader)
	// Without openid: the example provider makes the username the subject of
	// a device grant, and then finds no user of that ID for an id_token.
	cfg.Scopes = nil
	ctx := xContext(t, 30*time.Second)
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	if da.UserCode == "" || da.VerificationURI == "" {
		t.Fatalf("device authorization: user code %q, verification URI %q; want both", da.UserCode, da.VerificationURI)
	}
	p.approveDevice(t, da.VerificationURI, da.UserCode)

	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	sent := onlyExchange(t, p, "urn:ietf:params:oauth:grant-type:device_code")
	if tok.AccessToken == "" || tok.AccessToken != sent.Answer.AccessToken || !sent.Basic {
		t.Errorf("access token is the one issued: %v, client sent Basic: %v; want true, true",
			tok.AccessToken == sent.Answer.AccessToken && tok.AccessToken != "", sent.Basic)
	}
}

// TestDeviceAuthorizationTokenkeeper runs the device authorization grant
// with tokenkeeper's Client.DeviceLogin, the user approving on the
// provider's pages from the prompt callback.
func TestDeviceAuthorizationTokenkeeper(t *testing.T) {
	t.Parallel()
	row(t, flowDevice, tk)
	p := startOP(t)
	c, err := tokenkeeper.New(tokenkeeper.Config{
		TokenURL:      p.TokenURL,
		DeviceAuthURL: p.DeviceAuthorizationURL,
		ClientID:      deviceID,
		ClientSecret:  deviceSecret,
		AuthStyle:     tokenkeeper.AuthBasic,
		HTTPClient:    newHTTPClient(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	tok, err := c.DeviceLogin(ctx, func(da oauth2.DeviceAuthResponse) {
		if da.UserCode == "" || da.VerificationURI == "" {
			t.Errorf("device authorization: user code %q, verification URI %q; want both", da.UserCode, da.VerificationURI)
		}
		p.approveDevice(t, da.VerificationURI, da.UserCode)
	})
	if err != nil {
		t.Fatalf("DeviceLogin: %v", err)
	}
	sent := onlyExchange(t, p, "urn:ietf:params:oauth:grant-type:device_code")
	if tok.AccessToken == "" || tok.AccessToken != sent.Answer.AccessToken || !sent.Basic {
		t.Errorf("access token is the one issued: %v, client sent Basic: %v; want true, true",
			tok.AccessToken == sent.Answer.AccessToken && tok.AccessToken != "", sent.Basic)
	}
}
