package oauthtest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wantDAERR checks a Daxium error response's status and body shape.
func wantDAERR(t *testing.T, r result, status int, code string, clock *Clock) {
	t.Helper()
	wantStatus(t, r, status)
	wantKeys(t, r, "code", "message", "url", "api_version", "infos", "server_time")
	if got := r.str("code"); got != code {
		t.Errorf("code = %q; want %q", got, code)
	}
	if got := r.str("url"); !strings.HasPrefix(got, "https://") || !strings.HasSuffix(got, code) {
		t.Errorf("url = %q; want an https URL ending in %s", got, code)
	}
	if got := r.str("api_version"); got != "v1.3" {
		t.Errorf("api_version = %q; want v1.3", got)
	}
	if infos, ok := r.body["infos"].([]any); !ok || len(infos) != 0 {
		t.Errorf("infos = %#v; want []", r.body["infos"])
	}
	if r.str("message") == "" {
		t.Error("message is empty")
	}
	if clock != nil {
		if got, want := r.str("server_time"), strconv.FormatInt(clock.Now().Unix(), 10); got != want {
			t.Errorf("server_time = %q; want %q", got, want)
		}
	}
}

func TestDaxiumPasswordGrant(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Daxium})
	r := postForm(t, s, daxiumLogin())
	wantStatus(t, r, 200)
	wantKeys(t, r, "access_token", "refresh_token", "expires_in", "token_type", "scope")
	if !strings.HasPrefix(r.str("access_token"), "at_") || !strings.HasPrefix(r.str("refresh_token"), "rt_") {
		t.Errorf("tokens = %q, %q; want at_ and rt_ prefixes", r.str("access_token"), r.str("refresh_token"))
	}
	if got := r.body["expires_in"]; got != float64(3600) {
		t.Errorf("expires_in = %#v; want 3600", got)
	}
	if got := r.str("token_type"); got != "bearer" {
		t.Errorf("token_type = %q; want bearer", got)
	}
	if got := r.body["scope"]; got != nil {
		t.Errorf("scope = %#v; want null", got)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q; want no-store", got)
	}
	if got := r.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q; want application/json", got)
	}
	api := callAPI(t, s, "Bearer "+r.str("access_token"), "X-Accept-Version", "v1.3")
	wantStatus(t, api, 200)
	if got := api.str("user"); got != DefaultUser {
		t.Errorf("API user = %q; want %q", got, DefaultUser)
	}
	st := s.Stats()
	if st.Logins != 1 || st.TokenCalls["password"] != 1 || st.TokenCallsTotal != 1 || st.APICalls != 1 {
		t.Errorf("Stats() = %+v; want 1 login, 1 password call, 1 API call", st)
	}

	scoped := postForm(t, s, with(daxiumLogin(), "scope", "forms"))
	wantStatus(t, scoped, 200)
	if got := scoped.str("scope"); got != "forms" {
		t.Errorf("scope = %q; want forms", got)
	}
}

func TestDaxiumTokenErrors(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	s := start(t, Options{Preset: Daxium, Clock: clock, LoginLimit: 1000})
	login := daxiumLogin()
	tests := []struct {
		name   string
		method string
		ctype  string
		body   string
		header map[string]string
		status int
		code   string
	}{
		{"basic auth not accepted", "POST", "", login.Encode(),
			map[string]string{"Authorization": "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="}, 401, CodeInvalidClient},
		{"basic auth only", "POST", "", with(login, "client_id", "-", "client_secret", "-").Encode(),
			map[string]string{"Authorization": "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="}, 401, CodeInvalidClient},
		{"no client_secret", "POST", "", with(login, "client_secret", "-").Encode(), nil, 400, CodeBadRequest},
		{"no client_id", "POST", "", with(login, "client_id", "-").Encode(), nil, 400, CodeBadRequest},
		{"wrong secret", "POST", "", with(login, "client_secret", "nope").Encode(), nil, 401, CodeInvalidClient},
		{"unknown client", "POST", "", with(login, "client_id", "other").Encode(), nil, 401, CodeInvalidClient},
		{"wrong password", "POST", "", with(login, "password", "nope").Encode(), nil, 401, CodeInvalidCredentials},
		{"unknown user", "POST", "", with(login, "username", "who@example.com").Encode(), nil, 401, CodeInvalidCredentials},
		{"no username", "POST", "", with(login, "username", "-").Encode(), nil, 400, CodeBadRequest},
		{"no password", "POST", "", with(login, "password", "-").Encode(), nil, 400, CodeBadRequest},
		{"no grant_type", "POST", "", with(login, "grant_type", "-").Encode(), nil, 400, CodeBadRequest},
		{"unsupported grant", "POST", "", with(login, "grant_type", "client_credentials").Encode(), nil, 400, CodeUnsupportedGrantType},
		{"JSON body", "POST", "application/json", `{"grant_type":"password"}`, nil, 400, CodeBadRequest},
		{"no content type", "POST", "-", login.Encode(), nil, 400, CodeBadRequest},
		{"repeated parameter", "POST", "", login.Encode() + "&password=x", nil, 400, CodeBadRequest},
		{"bad escape", "POST", "", "grant_type=%zz", nil, 400, CodeBadRequest},
		{"too large", "POST", "", "x=" + strings.Repeat("a", maxFormBytes), nil, 400, CodeBadRequest},
		{"credentials in query", "POST", "", "", nil, 400, CodeBadRequest},
		{"GET", "GET", "-", "", nil, 405, CodeMethodNotAllowed},
		{"refresh without token", "POST", "", with(daxiumRefresh(""), "refresh_token", "-").Encode(), nil, 400, CodeBadRequest},
		{"unknown refresh token", "POST", "", daxiumRefresh("rt_unknown").Encode(), nil, 401, CodeInvalidRefreshToken},
		{"refresh with wrong secret", "POST", "", with(daxiumRefresh("rt_x"), "client_secret", "no").Encode(), nil, 401, CodeInvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := s.TokenURL()
			if tt.name == "credentials in query" {
				target += "?" + login.Encode()
			}
			req, err := http.NewRequest(tt.method, target, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			switch tt.ctype {
			case "":
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			case "-":
			default:
				req.Header.Set("Content-Type", tt.ctype)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			r := do(t, req)
			wantDAERR(t, r, tt.status, tt.code, clock)
			if tt.status == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q; want POST", r.header.Get("Allow"))
			}
		})
	}
}

func TestDaxiumRefreshRotates(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Daxium})
	first := postForm(t, s, daxiumLogin())
	wantStatus(t, first, 200)
	rt1 := first.str("refresh_token")

	second := postForm(t, s, daxiumRefresh(rt1))
	wantStatus(t, second, 200)
	rt2 := second.str("refresh_token")
	if rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh_token after refresh = %q; want a new one (old %q)", rt2, rt1)
	}
	if second.str("access_token") == first.str("access_token") {
		t.Error("refresh returned the same access token")
	}

	wantDAERR(t, postForm(t, s, daxiumRefresh(rt1)), 401, CodeInvalidRefreshToken, nil)
	wantStatus(t, postForm(t, s, daxiumRefresh(rt2)), 200)

	st := s.Stats()
	if st.RefreshReuse != 1 || st.TokenCalls["refresh_token"] != 3 || st.Logins != 1 {
		t.Errorf("Stats() = %+v; want RefreshReuse 1, 3 refresh calls, 1 login", st)
	}
}

func TestDaxiumRefreshTokenExpiryAndRevocation(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Unix(1_700_000_000, 0))
	s := start(t, Options{Preset: Daxium, Clock: clock, RefreshTokenLifetime: 24 * time.Hour})

	expiring := s.Issue("", "")
	clock.Advance(24 * time.Hour)
	wantDAERR(t, postForm(t, s, daxiumRefresh(expiring.RefreshToken)), 401, CodeInvalidRefreshToken, clock)

	revoked := s.Issue(DefaultUser, "")
	s.RevokeRefreshToken(revoked.RefreshToken)
	s.RevokeRefreshToken("rt_unknown")
	wantDAERR(t, postForm(t, s, daxiumRefresh(revoked.RefreshToken)), 401, CodeInvalidRefreshToken, clock)

	if got := s.Stats().RefreshReuse; got != 0 {
		t.Errorf("RefreshReuse = %d; want 0 (expiry and revocation are not reuse)", got)
	}
}

func TestDaxiumLoginLimit(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Unix(1_700_000_000, 0))
	s := start(t, Options{Preset: Daxium, Clock: clock, LoginLimit: 3, LoginWindow: time.Minute,
		Users: map[string]string{"a@example.com": "pa", "b@example.com": "pb"}})
	a := with(daxiumLogin(), "username", "a@example.com", "password", "pa")
	b := with(daxiumLogin(), "username", "b@example.com", "password", "pb")

	wantStatus(t, postForm(t, s, a), 200)
	clock.Advance(10 * time.Second)
	wantStatus(t, postForm(t, s, with(a, "password", "wrong")), 401)
	wantStatus(t, postForm(t, s, a), 200)

	limited := postForm(t, s, a)
	wantDAERR(t, limited, 429, CodeTooManyLogins, clock)
	if got := limited.header.Get("Retry-After"); got != "50" {
		t.Errorf("Retry-After = %q; want 50 (the first attempt leaves the window in 50 s)", got)
	}
	wantStatus(t, postForm(t, s, b), 200) // per user

	clock.Advance(50 * time.Second) // the first attempt leaves the window
	wantStatus(t, postForm(t, s, a), 200)
	wantStatus(t, postForm(t, s, a), 429)

	if got := s.Stats().Logins; got != 4 {
		t.Errorf("Logins = %d; want 4", got)
	}
}

func TestDaxiumAPI(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Unix(1_700_000_000, 0))
	s := start(t, Options{Preset: Daxium, Clock: clock, TokenLifetime: 30 * time.Second})
	good := s.Issue("", "")
	if good.ExpiresIn != 30 || good.IDToken != "" || good.TokenType != "bearer" {
		t.Errorf("Issue() = %+v; want expires_in 30, no id_token, bearer", good)
	}
	revoked := s.Issue("", "")
	s.Revoke(revoked.AccessToken)
	s.Revoke("at_unknown")

	tests := []struct {
		name, auth, version string
		status              int
		code                string
	}{
		{"bearer", "Bearer " + good.AccessToken, "", 200, ""},
		{"lower-case scheme", "bearer " + good.AccessToken, "v1.3", 200, ""},
		{"other version", "Bearer " + good.AccessToken, "v1.2", 400, CodeUnsupportedAPIVersion},
		{"no header", "", "", 401, CodeInvalidToken},
		{"no scheme", good.AccessToken, "", 401, CodeInvalidToken},
		{"basic", "Basic " + good.AccessToken, "", 401, CodeInvalidToken},
		{"refresh token", "Bearer " + good.RefreshToken, "", 401, CodeInvalidToken},
		{"unknown", "Bearer at_unknown", "", 401, CodeInvalidToken},
		{"revoked", "Bearer " + revoked.AccessToken, "", 401, CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kv []string
			if tt.version != "" {
				kv = []string{"X-Accept-Version", tt.version}
			}
			r := callAPI(t, s, tt.auth, kv...)
			if tt.status == 200 {
				wantStatus(t, r, 200)
				return
			}
			wantDAERR(t, r, tt.status, tt.code, clock)
		})
	}

	clock.Advance(30 * time.Second)
	wantDAERR(t, callAPI(t, s, "Bearer "+good.AccessToken), 401, CodeInvalidToken, clock)

	st := s.Stats()
	if st.APICalls != len(tests)+1 || st.API401s != len(tests)-2 {
		t.Errorf("APICalls, API401s = %d, %d; want %d, %d", st.APICalls, st.API401s, len(tests)+1, len(tests)-2)
	}
}

func TestDaxiumAPIEchoesRequest(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Daxium})
	tok := s.Issue("", "forms")
	req, err := http.NewRequest(http.MethodPost, s.APIURL(), strings.NewReader(url.Values{"a": {"b"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	r := do(t, req)
	wantStatus(t, r, 200)
	if r.str("method") != "POST" || r.str("body") != "a=b" || r.str("scope") != "forms" {
		t.Errorf("API body = %s; want method POST, body a=b, scope forms", r.raw)
	}
}

func TestRevokeAll(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Daxium})
	old := s.Issue("", "")
	s.RevokeAll()
	wantStatus(t, callAPI(t, s, "Bearer "+old.AccessToken), 401)

	refreshed := postForm(t, s, daxiumRefresh(old.RefreshToken))
	wantStatus(t, refreshed, 200)
	wantStatus(t, callAPI(t, s, "Bearer "+refreshed.str("access_token")), 200)
}
