package tokenkeeper

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// mtAuth0 starts an Auth0 fake on a fake clock and returns the clock, the
// provider and a confidential Client for it.
func mtAuth0(t *testing.T, opts oauthtest.Options) (*oauthtest.Clock, *oauthtest.Server, *Client) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	opts.Preset, opts.Clock = oauthtest.Auth0, clock
	srv := mtProvider(t, opts)
	cfg := Auth0("tenant.example.com", oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = srv.URL()
	if opts.PublicClient {
		cfg.ClientSecret, cfg.AuthStyle = "", AuthNone
	}
	cfg.Clock, cfg.HTTPClient = clock, srv.Client()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return clock, srv, c
}

// A revoked refresh token is refused afterwards; a revoked access token is
// refused by the API. The request carries the hint and the client's
// authentication.
func TestClientRevoke(t *testing.T) {
	clock, srv, c := mtAuth0(t, oauthtest.Options{})
	ctx := mtCtx(t)
	tok := mtIssued(clock, srv.Issue("", "openid offline_access"))
	if err := c.Revoke(ctx, tok.RefreshToken, "refresh_token"); err != nil {
		t.Fatalf("Revoke(refresh) = %v", err)
	}
	_, err := c.Token(ctx, RefreshTokenGrant(tok.RefreshToken))
	if !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refresh after revocation = %v; want ErrInvalidGrant", err)
	}
	if err := c.Revoke(ctx, tok.AccessToken, "access_token"); err != nil {
		t.Fatalf("Revoke(access) = %v", err)
	}
	if code, err := mtGet(ctx, mtBearer(srv, tok.AccessToken), srv.APIURL()); err != nil || code != http.StatusUnauthorized {
		t.Errorf("API after revocation = %d, %v; want 401", code, err)
	}
	if err := c.Revoke(ctx, "unknown-token", ""); err != nil {
		t.Errorf("Revoke(unknown) = %v; want nil (RFC 7009 2.2)", err)
	}
	if got := srv.Stats().Revocations; got != 3 {
		t.Errorf("revocations = %d; want 3", got)
	}
}

// mtBearer returns an HTTP client that sends token as a bearer token.
func mtBearer(srv *oauthtest.Server, token string) *http.Client {
	base := srv.Client().Transport
	return &http.Client{Transport: mtRoundTripper(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
		return base.RoundTrip(r)
	})}
}

type mtRoundTripper func(*http.Request) (*http.Response, error)

func (f mtRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Revocation failures: no endpoint, a refused client, a server error, a
// malformed body; none prints the token.
func TestClientRevokeErrors(t *testing.T) {
	_, srv, c := mtAuth0(t, oauthtest.Options{})
	ctx := mtCtx(t)
	const secret = "rt_the-secret-token"

	noURL, err := New(Config{TokenURL: srv.TokenURL(), ClientID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := noURL.Revoke(ctx, secret, ""); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "RevocationURL") {
		t.Errorf("no endpoint: %v; want ErrUnsupported naming RevocationURL", err)
	}
	if err := c.Revoke(ctx, "", ""); err == nil {
		t.Error("empty token: nil error")
	}

	bad := Auth0("x", oauthtest.DefaultClientID, "wrong-secret")
	bad.BaseURL = srv.URL()
	bad.HTTPClient = srv.Client()
	badClient, _ := New(bad)
	err = badClient.Revoke(ctx, secret, "refresh_token")
	if !errors.Is(err, ErrInvalidClient) {
		t.Errorf("bad secret: %v; want ErrInvalidClient", err)
	}

	srv.FailNext(1, http.StatusServiceUnavailable)
	err = c.Revoke(ctx, secret, "refresh_token")
	var pe *Error
	if !errors.As(err, &pe) || pe.StatusCode != http.StatusServiceUnavailable || !IsRetryable(err) {
		t.Errorf("503: %v; want a retryable *Error", err)
	}
	srv.ResetNext(1)
	if err := c.Revoke(ctx, secret, ""); err == nil || !IsRetryable(err) {
		t.Errorf("reset: %v; want a retryable error", err)
	}
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("error %q prints the token", err)
	}
}

// Logout revokes the refresh and access tokens at the provider, clears the
// Store, and leaves the Source closed; a new Source on the Store needs a
// login.
func TestSourceLogout(t *testing.T) {
	clock, srv, c := mtAuth0(t, oauthtest.Options{Rotation: true})
	ctx := mtCtx(t)
	store := &memoryStore{}
	s := mtSource(t, c, SourceConfig{Token: mtIssued(clock, srv.Issue("", "openid offline_access")), Store: store})
	clock.Advance(time.Hour) // a refresh rotates the tokens first
	tok, err := s.TokenContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx); err != nil {
		t.Fatalf("Logout = %v", err)
	}
	if _, err := c.Token(ctx, RefreshTokenGrant(tok.RefreshToken)); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refresh after Logout = %v; want ErrInvalidGrant", err)
	}
	if code, _ := mtGet(ctx, mtBearer(srv, tok.AccessToken), srv.APIURL()); code != http.StatusUnauthorized {
		t.Errorf("API after Logout = %d; want 401", code)
	}
	if _, err := s.TokenContext(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("TokenContext after Logout = %v; want ErrClosed", err)
	}
	if err := s.Logout(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("second Logout = %v; want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Logout = %v", err)
	}
	if saved, err := store.Load(ctx); saved != nil || err != nil {
		t.Errorf("stored after Logout: %v, %v; want no token", saved, err)
	}
	next := mtSource(t, c, SourceConfig{Store: store})
	if _, err := next.TokenContext(mtImpatient(t)); !errors.Is(err, ErrLoginRequired) {
		t.Errorf("a new Source on the cleared Store: %v; want ErrLoginRequired", err)
	}
	if got := srv.Stats().Revocations; got != 2 {
		t.Errorf("revocations = %d; want 2 (refresh, access)", got)
	}
}

// Logout before the first use revokes the stored token; a failed
// revocation still clears the Store and says so; without an endpoint the
// error matches errors.ErrUnsupported.
func TestSourceLogoutFailures(t *testing.T) {
	clock, srv, c := mtAuth0(t, oauthtest.Options{})
	ctx := mtCtx(t)

	t.Run("before first use", func(t *testing.T) {
		store := &memoryStore{}
		tok := mtIssued(clock, srv.Issue("", "offline_access"))
		store.Save(ctx, tok)
		s := mtSource(t, c, SourceConfig{Store: store})
		if err := s.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Token(ctx, RefreshTokenGrant(tok.RefreshToken)); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("refresh after Logout = %v; want ErrInvalidGrant", err)
		}
	})
	t.Run("revocation fails", func(t *testing.T) {
		store := &memoryStore{}
		tok := mtIssued(clock, srv.Issue("", "offline_access"))
		s := mtSource(t, c, SourceConfig{Token: tok, Store: store})
		srv.FailNext(2, http.StatusServiceUnavailable)
		err := s.Logout(ctx)
		var pe *Error
		if !errors.As(err, &pe) || pe.StatusCode != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "not revoked") {
			t.Errorf("Logout = %v; want the 503 *Error, saying the token was not revoked", err)
		}
		if saved, err := store.Load(ctx); saved != nil || err != nil {
			t.Errorf("stored %v, %v; want it cleared all the same", saved, err)
		}
	})
	t.Run("no endpoint", func(t *testing.T) {
		ts := mtNewTokenServer(t, 3600)
		plain := mtClient(t, ts.url(), clock, ts.ts.Client())
		s := mtSource(t, plain, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour)})
		if err := s.Logout(ctx); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Logout = %v; want errors.ErrUnsupported", err)
		}
	})
}

// Logout during a renewal waits for it and revokes the token it brought.
func TestSourceLogoutDuringRenewal(t *testing.T) {
	clock, srv, c := mtAuth0(t, oauthtest.Options{Rotation: true})
	ctx := mtCtx(t)
	s := mtSource(t, c, SourceConfig{Token: mtIssued(clock, srv.Issue("", "offline_access"))})
	clock.Advance(56 * time.Minute) // stale: a background renewal starts
	srv.SetLatency(50 * time.Millisecond)
	if _, err := s.TokenContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(ctx); err != nil {
		t.Fatalf("Logout = %v", err)
	}
	srv.SetLatency(0)
	if st := srv.Stats(); st.TokenCalls["refresh_token"] != 1 || st.Revocations != 2 {
		t.Errorf("stats = %+v; want one refresh, then two revocations", st)
	}
	st := s.cur.Load()
	if st != nil {
		t.Errorf("current token after Logout = %v; want none", st.tok)
	}
}
