package oauthtest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTransiteoRefresh(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		opts          Options
		wantExpiresIn any
	}{
		{"number", Options{Preset: Transiteo}, float64(3600)},
		{"string", Options{Preset: Transiteo, ExpiresInAsString: true}, "3600"},
		{"custom token", Options{Preset: Transiteo, RefreshToken: "console-token"}, float64(3600)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, tt.opts)
			if tt.opts.RefreshToken != "" && s.RefreshToken() != tt.opts.RefreshToken {
				t.Errorf("RefreshToken() = %q; want %q", s.RefreshToken(), tt.opts.RefreshToken)
			}
			for i := range 2 { // the static refresh token never rotates
				r := postForm(t, s, transiteoRefresh(s))
				wantStatus(t, r, 200)
				wantKeys(t, r, "id_token", "access_token", "expires_in", "token_type")
				if got := r.body["expires_in"]; got != tt.wantExpiresIn {
					t.Errorf("call %d: expires_in = %#v; want %#v", i, got, tt.wantExpiresIn)
				}
				if got := r.str("token_type"); got != "Bearer" {
					t.Errorf("token_type = %q; want Bearer", got)
				}
				if strings.Count(r.str("id_token"), ".") != 2 || !strings.HasPrefix(r.str("access_token"), "at_") {
					t.Errorf("tokens = %s; want a signed id_token (JWS) and the at_ prefix", r.raw)
				}
				wantStatus(t, callAPI(t, s, r.str("id_token")), 200)
			}
			if st := s.Stats(); st.TokenCalls["refresh_token"] != 2 || st.Logins != 0 || st.RefreshReuse != 0 {
				t.Errorf("Stats() = %+v; want 2 refresh calls, no login, no reuse", st)
			}
		})
	}
}

func TestTransiteoTokenErrors(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Transiteo})
	good := transiteoRefresh(s)
	tests := []struct {
		name   string
		method string
		body   string
		auth   string
		status int
		error  string
	}{
		{"client_secret in body", "POST", with(good, "client_secret", DefaultClientSecret).Encode(), "", 400, "invalid_client"},
		{"empty client_secret in body", "POST", with(good, "client_secret", "").Encode(), "", 400, "invalid_client"},
		{"basic auth", "POST", good.Encode(), "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=", 400, "invalid_client"},
		{"unknown client", "POST", with(good, "client_id", "other").Encode(), "", 400, "invalid_client"},
		{"no client_id", "POST", with(good, "client_id", "-").Encode(), "", 400, "invalid_request"},
		{"no refresh_token", "POST", with(good, "refresh_token", "-").Encode(), "", 400, "invalid_request"},
		{"other refresh_token", "POST", with(good, "refresh_token", "rt_other").Encode(), "", 400, "invalid_grant"},
		{"password grant", "POST", with(good, "grant_type", "password").Encode(), "", 400, "unsupported_grant_type"},
		{"no grant_type", "POST", with(good, "grant_type", "-").Encode(), "", 400, "invalid_request"},
		{"repeated parameter", "POST", good.Encode() + "&client_id=x", "", 400, "invalid_request"},
		{"PUT", "PUT", good.Encode(), "", 405, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, s.TokenURL(), strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			r := do(t, req)
			wantStatus(t, r, tt.status)
			wantKeys(t, r, "error")
			if got := r.str("error"); got != tt.error {
				t.Errorf("error = %q; want %q", got, tt.error)
			}
		})
	}
}

func TestTransiteoAPI(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Unix(1_700_000_000, 0))
	s := start(t, Options{Preset: Transiteo, Clock: clock})
	good := s.Issue("", "")
	if good.RefreshToken != "" || good.IDToken == "" || good.TokenType != "Bearer" || good.ExpiresIn != 3600 {
		t.Errorf("Issue() = %+v; want an id_token, no refresh_token, Bearer, 3600", good)
	}
	revoked := s.Issue("", "")
	s.Revoke(revoked.AccessToken) // revokes its id_token too

	const expired, unauthorized = `{"message":"The incoming token has expired"}`, `{"message":"Unauthorized"}`
	tests := []struct {
		name, auth string
		status     int
		body       string
	}{
		{"raw id_token", good.IDToken, 200, ""},
		{"Bearer id_token", "Bearer " + good.IDToken, 401, unauthorized},
		{"bearer id_token", "bearer " + good.IDToken, 401, unauthorized},
		{"no header", "", 401, unauthorized},
		{"access token", good.AccessToken, 401, expired},
		{"unknown", "id_unknown", 401, expired},
		{"revoked", revoked.IDToken, 401, expired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := callAPI(t, s, tt.auth)
			wantStatus(t, r, tt.status)
			if tt.body != "" && string(r.raw) != tt.body {
				t.Errorf("body = %s; want %s", r.raw, tt.body)
			}
		})
	}

	clock.Advance(time.Hour)
	r := callAPI(t, s, good.IDToken)
	wantStatus(t, r, 401)
	if string(r.raw) != expired {
		t.Errorf("body after expiry = %s; want %s", r.raw, expired)
	}
}
