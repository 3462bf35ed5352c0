package tokenkeeper

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// dpAuth0 starts an Auth0 fake provider that requires DPoP proofs (and,
// with nonce, its nonce in them).
func dpAuth0(t *testing.T, nonce bool) (*oauthtest.Clock, *oauthtest.Server) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	return clock, mtProvider(t, oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock, DPoP: true, DPoPNonce: nonce})
}

// dpRefused asserts that err is the provider's invalid_dpop_proof refusal.
func dpRefused(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, code, e.Code)
	assert.Equal(t, http.StatusBadRequest, e.StatusCode)
}

func TestDPoPTokenRequest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ES256", asEC}, {"RS256", asRSA}, {"EdDSA", asEd}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock, srv := dpAuth0(t, false)
			c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret, DPoPKey: tc.key})
			for range 2 {
				tok, err := c.Token(mtCtx(t), asLogin)
				require.NoError(t, err)
				assert.Equal(t, "DPoP", tok.TokenType)
			}
			assert.Equal(t, 2, srv.Stats().TokenCallsTotal)
		})
	}
}

func TestDPoPRequiredWithoutKey(t *testing.T) {
	t.Parallel()
	clock, srv := dpAuth0(t, false)
	c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret})
	_, err := c.Token(mtCtx(t), asLogin)
	dpRefused(t, err, "invalid_dpop_proof")
}

// dpLiar signs with one key and claims another.
type dpLiar struct{ crypto.Signer }

func (dpLiar) Public() crypto.PublicKey { return asOtherEC.Public() }

func TestDPoPWrongKey(t *testing.T) {
	t.Parallel()
	clock, srv := dpAuth0(t, false)
	c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret, DPoPKey: dpLiar{asEC}})
	_, err := c.Token(mtCtx(t), asLogin)
	dpRefused(t, err, "invalid_dpop_proof")
}

// dpReplayer sends the first DPoP proof it sees on every request.
type dpReplayer struct {
	mu    sync.Mutex
	first string
	next  http.RoundTripper
}

func (r *dpReplayer) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	if r.first == "" {
		r.first = req.Header.Get("DPoP")
	}
	proof := r.first
	r.mu.Unlock()
	req = req.Clone(req.Context())
	req.Header.Set("DPoP", proof)
	return r.next.RoundTrip(req)
}

func TestDPoPReplayedJTI(t *testing.T) {
	t.Parallel()
	clock, srv := dpAuth0(t, false)
	c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret, DPoPKey: asEC})
	c.hc.Transport = &dpReplayer{next: srv.Client().Transport}
	_, err := c.Token(mtCtx(t), asLogin)
	require.NoError(t, err)
	_, err = c.Token(mtCtx(t), asLogin)
	dpRefused(t, err, "invalid_dpop_proof")
}

func TestDPoPStaleIat(t *testing.T) {
	t.Parallel()
	_, srv := dpAuth0(t, false)
	late := oauthtest.NewClock(mtT0.Add(-10 * time.Minute))
	c := asClient(t, srv, late, Config{ClientSecret: oauthtest.DefaultClientSecret, DPoPKey: asEC})
	_, err := c.Token(mtCtx(t), asLogin)
	dpRefused(t, err, "invalid_dpop_proof")
}

func TestDPoPNonceRetry(t *testing.T) {
	t.Parallel()
	clock, srv := dpAuth0(t, true)
	c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret, DPoPKey: asEC})
	tok, err := c.Token(mtCtx(t), asLogin)
	require.NoError(t, err, "the use_dpop_nonce refusal is retried with the nonce")
	assert.Equal(t, "DPoP", tok.TokenType)
	assert.Equal(t, 2, srv.Stats().TokenCallsTotal)

	_, err = c.Token(mtCtx(t), asLogin)
	require.NoError(t, err)
	assert.Equal(t, 3, srv.Stats().TokenCallsTotal, "the nonce is kept for the next request")

	srv.RotateDPoPNonce()
	_, err = c.Token(mtCtx(t), asLogin)
	require.NoError(t, err, "a rotated nonce is retried with the new one")
	assert.Equal(t, 5, srv.Stats().TokenCallsTotal)
}

// dpNonceEveryTime asks for a new nonce on every request.
type dpNonceEveryTime struct{ n int }

func (d *dpNonceEveryTime) RoundTrip(req *http.Request) (*http.Response, error) {
	d.n++
	resp := mtResponse(req, http.StatusBadRequest, io.NopCloser(strings.NewReader(`{"error":"use_dpop_nonce"}`)))
	resp.Header.Set("DPoP-Nonce", fmt.Sprint("n", d.n))
	resp.Header.Set("Content-Type", "application/json")
	return resp, nil
}

func TestDPoPNonceRetriedOnce(t *testing.T) {
	t.Parallel()
	rt := &dpNonceEveryTime{}
	c, err := New(Config{TokenURL: "http://127.0.0.1:1/token", ClientID: "c", DPoPKey: asEC,
		HTTPClient: &http.Client{Transport: rt}})
	require.NoError(t, err)
	_, err = c.Token(mtCtx(t), asLogin)
	dpRefused(t, err, "use_dpop_nonce")
	assert.Equal(t, 2, rt.n, "one retry, not more")
}

func TestDPoPKeyRefused(t *testing.T) {
	t.Parallel()
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	_, err = New(Config{TokenURL: "http://127.0.0.1:1/token", ClientID: "c", DPoPKey: p384})
	require.ErrorContains(t, err, "DPoPKey")
}

// dpSource returns a Source logging in with client credentials through a
// DPoP client of srv, and an HTTP client through its Transport.
func dpSource(t *testing.T, srv *oauthtest.Server, clock *oauthtest.Clock, key crypto.Signer, tok *Token) (*Source, *http.Client) {
	t.Helper()
	c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret, DPoPKey: key})
	s := mtSource(t, c, SourceConfig{Login: asLogin, Token: tok})
	return s, s.HTTPClient(srv.Client().Transport)
}

// dpCall sends method to the API with body (replayable or not) and
// returns the status and response body.
func dpCall(t *testing.T, hc *http.Client, method, u string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(mtCtx(t), method, u, body)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestDPoPTransport(t *testing.T) {
	t.Parallel()
	clock, srv := dpAuth0(t, false)
	_, hc := dpSource(t, srv, clock, asEC, nil)
	status, _ := dpCall(t, hc, http.MethodGet, srv.APIURL()+"?q=1#f", nil)
	assert.Equal(t, http.StatusOK, status)
	status, body := dpCall(t, hc, http.MethodPost, srv.APIURL(), strings.NewReader("hello"))
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "hello")
	st := srv.Stats()
	assert.Equal(t, 2, st.APICalls)
	assert.Zero(t, st.API401s)
}

func TestDPoPTransportNonce(t *testing.T) {
	t.Parallel()
	clock, srv := dpAuth0(t, true)
	_, hc := dpSource(t, srv, clock, asEC, nil)
	status, _ := dpCall(t, hc, http.MethodGet, srv.APIURL(), nil)
	assert.Equal(t, http.StatusOK, status, "the token endpoint's nonce serves its origin's API too")
	assert.Equal(t, 1, srv.Stats().APICalls)

	srv.RotateDPoPNonce()
	status, body := dpCall(t, hc, http.MethodPut, srv.APIURL(), strings.NewReader("again"))
	assert.Equal(t, http.StatusOK, status, "a use_dpop_nonce 401 is retried with the new nonce")
	assert.Contains(t, body, "again")
	st := srv.Stats()
	assert.Equal(t, 3, st.APICalls)
	assert.Equal(t, 1, st.API401s)
	assert.Equal(t, 2, st.TokenCallsTotal, "a nonce challenge renews no token")

	srv.RotateDPoPNonce()
	status, _ = dpCall(t, hc, http.MethodPost, srv.APIURL(), io.MultiReader(strings.NewReader("once")))
	assert.Equal(t, http.StatusUnauthorized, status, "a body that cannot be replayed is not")
	assert.Equal(t, 2, srv.Stats().TokenCallsTotal)
	status, _ = dpCall(t, hc, http.MethodGet, srv.APIURL(), nil)
	assert.Equal(t, http.StatusOK, status, "the next request carries the new nonce")
}

func TestDPoPTransportOtherKey(t *testing.T) {
	t.Parallel()
	clock, srv := dpAuth0(t, false)
	c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret, DPoPKey: asEC})
	tok, err := c.Token(mtCtx(t), asLogin)
	require.NoError(t, err)
	_, hc := dpSource(t, srv, clock, asOtherEC, tok)
	status, _ := dpCall(t, hc, http.MethodGet, srv.APIURL(), nil)
	assert.Equal(t, http.StatusOK, status, "the 401 of a token bound to another key renews it")
	st := srv.Stats()
	assert.Equal(t, 1, st.API401s)
	assert.Equal(t, 2, st.Logins)
}

func TestDPoPBoundTokenRefusedAsBearer(t *testing.T) {
	t.Parallel()
	clock, srv := dpAuth0(t, false)
	c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret, DPoPKey: asEC})
	tok, err := c.Token(mtCtx(t), asLogin)
	require.NoError(t, err)
	for _, scheme := range []string{"Bearer ", "DPoP "} {
		req, err := http.NewRequestWithContext(mtCtx(t), http.MethodGet, srv.APIURL(), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", scheme+tok.AccessToken)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s without a proof", scheme)
	}
}

// dpPublic starts an Auth0 fake for a public client that checks DPoP
// proofs (and, with required, requires them), and returns a Client for it without a DPoPKey and a LoginFunc
// that signs in by the code flow (with the key of the ctx it is given).
func dpPublic(t *testing.T, required bool) (*oauthtest.Clock, *oauthtest.Server, *Client, func(context.Context) (*Token, error)) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock, DPoP: required, PublicClient: true})
	cfg := Auth0("tenant.example.com", oauthtest.DefaultClientID, "")
	cfg.BaseURL = srv.URL()
	cfg.AuthStyle, cfg.Clock, cfg.HTTPClient = AuthNone, clock, srv.Client()
	c, err := New(cfg)
	require.NoError(t, err)
	login := func(ctx context.Context) (*Token, error) {
		flow, err := c.AuthCodeURL(AuthCodeRequest{RedirectURI: "http://127.0.0.1:4242/cb", Scope: "openid offline_access"})
		if err != nil {
			return nil, err
		}
		hc := *srv.Client()
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, flow.URL, nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			return nil, err
		}
		g, err := flow.Callback(loc.Query())
		if err != nil {
			return nil, err
		}
		return c.Token(ctx, g)
	}
	return clock, srv, c, login
}

// dpClient is an HTTP client whose requests carry the credential of s.
func dpClient(s *Source, srv *oauthtest.Server) *http.Client {
	return &http.Client{Transport: &Transport{Source: s, Base: srv.Client().Transport}}
}

// A public client's Source generates its DPoP key, and keeps it with the
// token in the Store: after a restart, the refresh token bound to it
// still works, and the new tokens pass the API's binding check.
func TestDPoPSourceKeyAfterRestart(t *testing.T) {
	t.Parallel()
	clock, srv, c, login := dpPublic(t, true)
	store, err := NewFileStore(filepath.Join(t.TempDir(), "token.json"))
	require.NoError(t, err)

	a := mtSource(t, c, SourceConfig{Store: store, LoginFunc: login, DPoP: true})
	status, _ := dpCall(t, dpClient(a, srv), http.MethodGet, srv.APIURL(), nil)
	require.Equal(t, http.StatusOK, status)
	first, err := a.TokenContext(mtCtx(t))
	require.NoError(t, err)
	assert.Equal(t, "DPoP", first.TokenType)
	require.NotEmpty(t, first.RefreshToken)
	require.NotNil(t, first.dpop, "the token carries the Source's key")
	require.NoError(t, a.Close())

	clock.Advance(2 * time.Hour) // the access token is dead: a refresh is due
	b := mtSource(t, c, SourceConfig{Store: store, DPoP: true})
	status, _ = dpCall(t, dpClient(b, srv), http.MethodPost, srv.APIURL(), strings.NewReader("after restart"))
	assert.Equal(t, http.StatusOK, status)
	second, err := b.TokenContext(mtCtx(t))
	require.NoError(t, err)
	assert.NotEqual(t, first.AccessToken, second.AccessToken)
	require.NotNil(t, second.dpop)
	assert.Equal(t, first.dpop.jkt, second.dpop.jkt, "the key read back from the Store")
	st := srv.Stats()
	assert.Equal(t, 1, st.Logins)
	assert.Equal(t, 1, st.TokenCalls["refresh_token"])
	assert.Zero(t, st.API401s)
}

// A public client's refresh token presented with another key, or with no
// proof, is refused for good: the Source says a login is needed.
func TestDPoPSourceOtherKeyRefused(t *testing.T) {
	t.Parallel()
	clock, _, c, login := dpPublic(t, false)
	a := mtSource(t, c, SourceConfig{LoginFunc: login, DPoP: true})
	tok, err := a.TokenContext(mtCtx(t))
	require.NoError(t, err)
	require.NoError(t, a.Close())
	clock.Advance(2 * time.Hour)

	other, err := newSourceKey()
	require.NoError(t, err)
	stolen := tok.clone()
	stolen.dpop = other
	b := mtSource(t, c, SourceConfig{Token: stolen, DPoP: true})
	_, err = b.TokenContext(mtImpatient(t))
	require.ErrorIs(t, err, ErrLoginRequired)
	require.ErrorIs(t, err, ErrInvalidGrant)

	_, err = c.Token(mtCtx(t), RefreshTokenGrant(tok.RefreshToken))
	dpRefused(t, err, "invalid_grant") // no proof at all
	_, err = c.Token(withDPoPKey(mtCtx(t), tok.dpop), RefreshTokenGrant(tok.RefreshToken))
	require.NoError(t, err, "the refusals left the refresh token alive")
}

// dpJWT returns an unsigned JWT-shaped access token with claims.
func dpJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + ".sig"
}

// A stored token whose access token (a JWT) is bound to another key than
// the one stored with it is not served: the Source refreshes it with the
// stored key, which its new tokens are bound to.
func TestDPoPSourceStoredKeyMismatch(t *testing.T) {
	t.Parallel()
	clock := oauthtest.NewClock(mtT0)
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock})
	c := asClient(t, srv, clock, Config{ClientSecret: oauthtest.DefaultClientSecret})
	key, other := mtDPoPKey(t), mtDPoPKey(t)
	for _, tc := range []struct {
		name    string
		jkt     string
		refresh int
	}{{"other key", other.jkt, 1}, {"its key", key.jkt, 0}} {
		tr := srv.Issue("", "offline_access")
		stored := mtToken(clock, dpJWT(`{"cnf":{"jkt":"`+tc.jkt+`"}}`), tr.RefreshToken, time.Hour)
		stored.TokenType, stored.dpop = "DPoP", key
		store := &memoryStore{}
		require.NoError(t, store.Save(mtCtx(t), stored))
		s := mtSource(t, c, SourceConfig{Store: store, DPoP: true})
		before := srv.Stats().TokenCalls["refresh_token"]
		tok, err := s.TokenContext(mtCtx(t))
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.refresh, srv.Stats().TokenCalls["refresh_token"]-before, tc.name)
		assert.Equal(t, "DPoP", tok.TokenType, tc.name)
		assert.Equal(t, key.jkt, mtKeyOf(tok), tc.name)
	}
}

func TestBoundJKT(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		dpJWT(`{"cnf":{"jkt":"abc"}}`): "abc",
		dpJWT(`{"sub":"x"}`):           "",
		dpJWT(`{"cnf":"abc"}`):         "",
		"opaque-token":                 "",
		"a.b":                          "",
		"a.b.c.d":                      "",
		".e30.":                        "",
	} {
		assert.Equal(t, want, boundJKT(in), in)
	}
}
