package oauthtest

import (
	"strings"
	"testing"
	"time"
)

func TestNewServerRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		want string // in the error
	}{
		{"no preset", Options{}, "Preset"},
		{"unknown preset", Options{Preset: 9}, "Preset(9)"},
		{"public Daxium", Options{Preset: Daxium, PublicClient: true}, "PublicClient"},
		{"rotation Transiteo", Options{Preset: Transiteo, Rotation: true}, "Rotation"},
		{"reuse detection Daxium", Options{Preset: Daxium, ReuseDetection: true}, "ReuseDetection"},
		{"audience Daxium", Options{Preset: Daxium, Audience: "x"}, "Audience"},
		{"redirect Transiteo", Options{Preset: Transiteo, RedirectURIs: []string{"http://127.0.0.1/cb"}}, "RedirectURIs"},
		{"refresh token Auth0", Options{Preset: Auth0, RefreshToken: "rt"}, "RefreshToken"},
		{"reuse without rotation", Options{Preset: Auth0, ReuseDetection: true}, "needs Rotation"},
		{"negative lifetime", Options{Preset: Daxium, TokenLifetime: -time.Second}, "TokenLifetime"},
		{"sub-second lifetime", Options{Preset: Daxium, TokenLifetime: time.Millisecond}, "TokenLifetime"},
		{"negative refresh lifetime", Options{Preset: Daxium, RefreshTokenLifetime: -1}, "RefreshTokenLifetime"},
		{"negative login limit", Options{Preset: Daxium, LoginLimit: -1}, "LoginLimit"},
		{"negative login window", Options{Preset: Daxium, LoginWindow: -1}, "LoginWindow"},
		{"relative redirect", Options{Preset: Auth0, RedirectURIs: []string{"/cb"}}, "RedirectURIs"},
		{"redirect fragment", Options{Preset: Auth0, RedirectURIs: []string{"https://app.example/cb#x"}}, "RedirectURIs"},
		{"empty username", Options{Preset: Daxium, Users: map[string]string{"": "pw"}}, "empty username"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewServer(tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("NewServer(%+v) error = nil; want one mentioning %q", tt.opts, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "oauthtest: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewServer error = %q; want oauthtest: ... %q", err, tt.want)
			}
		})
	}
}

func TestServerEndpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		preset                Preset
		token, authorize, api string
		hasStaticRefreshToken bool
	}{
		{Daxium, "/oauth/v2/token", "", "/api/v1.3/me", false},
		{Transiteo, "/oauth2/token", "", "/v1/ping", true},
		{Auth0, "/oauth/token", "/authorize", "/api/me", false},
	}
	for _, tt := range tests {
		t.Run(tt.preset.String(), func(t *testing.T) {
			t.Parallel()
			s := start(t, Options{Preset: tt.preset})
			if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
				t.Errorf("URL() = %q; want a loopback http URL", s.URL())
			}
			if got, want := s.TokenURL(), s.URL()+tt.token; got != want {
				t.Errorf("TokenURL() = %q; want %q", got, want)
			}
			wantAuthorize := ""
			if tt.authorize != "" {
				wantAuthorize = s.URL() + tt.authorize
			}
			if got := s.AuthorizeURL(); got != wantAuthorize {
				t.Errorf("AuthorizeURL() = %q; want %q", got, wantAuthorize)
			}
			if got, want := s.APIURL(), s.URL()+tt.api; got != want {
				t.Errorf("APIURL() = %q; want %q", got, want)
			}
			if got := s.RefreshToken(); (got != "") != tt.hasStaticRefreshToken || (got != "" && !strings.HasPrefix(got, "rt_")) {
				t.Errorf("RefreshToken() = %q; want a static rt_ token: %v", got, tt.hasStaticRefreshToken)
			}
			resp, err := s.Client().Get(s.URL() + "/nowhere")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("GET /nowhere status = %d; want 404", resp.StatusCode)
			}
		})
	}
}

func TestPresetString(t *testing.T) {
	t.Parallel()
	for p, want := range map[Preset]string{Daxium: "Daxium", Transiteo: "Transiteo", Auth0: "Auth0", 0: "Preset(0)"} {
		if got := p.String(); got != want {
			t.Errorf("Preset(%d).String() = %q; want %q", int(p), got, want)
		}
	}
}

func TestOptionsAreCopied(t *testing.T) {
	t.Parallel()
	users := map[string]string{"a@example.com": "pw"}
	s := start(t, Options{Preset: Daxium, Users: users})
	users["a@example.com"] = "changed"
	r := postForm(t, s, with(daxiumLogin(), "username", "a@example.com", "password", "pw"))
	wantStatus(t, r, 200)
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	s, err := NewServer(Options{Preset: Daxium})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
}
