package oauthtest

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	testVerifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 appendix B
	testRedirect = "http://127.0.0.1:5555/callback"
)

func testChallenge() string {
	sum := sha256.Sum256([]byte(testVerifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// noRedirect is a client that returns redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorizeParams are valid /authorize parameters with PKCE.
func authorizeParams(scope string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {DefaultClientID},
		"redirect_uri":          {testRedirect},
		"state":                 {"xyz"},
		"scope":                 {scope},
		"audience":              {DefaultAudience},
		"code_challenge":        {testChallenge()},
		"code_challenge_method": {"S256"},
	}
}

// authorize calls /authorize and returns the response and its parsed
// Location, if any.
func authorize(t *testing.T, s *Server, q url.Values) (result, *url.URL) {
	t.Helper()
	resp, err := noRedirect.Get(s.AuthorizeURL() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	r := read(t, resp)
	if r.status != http.StatusFound {
		return r, nil
	}
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil {
		t.Fatalf("Location %q: %v", r.header.Get("Location"), err)
	}
	return r, loc
}

// getCode runs /authorize and returns the code.
func getCode(t *testing.T, s *Server, q url.Values) string {
	t.Helper()
	r, loc := authorize(t, s, q)
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: status %d, Location %v; want a redirect with a code (body %s)", r.status, loc, r.raw)
	}
	return loc.Query().Get("code")
}

// codeExchange is an authorization_code grant form for a public client.
func codeExchange(code string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {DefaultClientID},
		"code":          {code},
		"redirect_uri":  {testRedirect},
		"code_verifier": {testVerifier},
	}
}

func auth0Refresh(rt string) url.Values {
	return url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {DefaultClientID},
		"client_secret": {DefaultClientSecret},
		"refresh_token": {rt},
	}
}

// wantOAuthError checks an RFC 6749 error response.
func wantOAuthError(t *testing.T, r result, status int, code string) {
	t.Helper()
	wantStatus(t, r, status)
	if got := r.str("error"); got != code {
		t.Errorf("error = %q; want %q (body %s)", got, code, r.raw)
	}
	if r.str("error_description") == "" {
		t.Errorf("error_description is empty (body %s)", r.raw)
	}
}

func TestAuth0CodeFlowPublicClient(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Auth0, PublicClient: true})
	r, loc := authorize(t, s, authorizeParams("openid profile offline_access"))
	if loc == nil {
		t.Fatalf("authorize status = %d; want 302 (body %s)", r.status, r.raw)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != testRedirect {
		t.Errorf("redirected to %q; want %q", got, testRedirect)
	}
	if got := loc.Query().Get("state"); got != "xyz" {
		t.Errorf("state = %q; want xyz", got)
	}
	code := loc.Query().Get("code")
	if !strings.HasPrefix(code, "ac_") {
		t.Fatalf("code = %q; want an ac_ code", code)
	}

	tok := postForm(t, s, codeExchange(code))
	wantStatus(t, tok, 200)
	wantKeys(t, tok, "access_token", "refresh_token", "id_token", "scope", "expires_in", "token_type")
	if got := tok.str("token_type"); got != "Bearer" {
		t.Errorf("token_type = %q; want Bearer", got)
	}
	if got := tok.str("scope"); got != "openid profile offline_access" {
		t.Errorf("scope = %q; want the requested one", got)
	}
	api := callAPI(t, s, "Bearer "+tok.str("access_token"))
	wantStatus(t, api, 200)
	if got := api.str("user"); got != DefaultUser {
		t.Errorf("API user = %q; want %q", got, DefaultUser)
	}

	// A code is single-use.
	wantOAuthError(t, postForm(t, s, codeExchange(code)), 403, "invalid_grant")

	// A public client refreshes with no secret.
	ref := postForm(t, s, with(auth0Refresh(tok.str("refresh_token")), "client_secret", "-"))
	wantStatus(t, ref, 200)
	wantKeys(t, ref, "access_token", "id_token", "scope", "expires_in", "token_type") // no rotation

	if st := s.Stats(); st.Logins != 1 || st.TokenCalls["authorization_code"] != 2 || st.TokenCalls["refresh_token"] != 1 {
		t.Errorf("Stats() = %+v; want 1 login, 2 code calls, 1 refresh call", st)
	}
}

func TestAuth0CodeExchangeErrors(t *testing.T) {
	t.Parallel()
	clock := NewClock(time.Unix(1_700_000_000, 0))
	s := start(t, Options{Preset: Auth0, PublicClient: true, Clock: clock})
	tests := []struct {
		name   string
		form   func(code string) url.Values
		status int
		error  string
	}{
		{"wrong verifier", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", strings.Repeat("a", 43))
		}, 403, "invalid_grant"},
		{"short verifier", func(c string) url.Values { return with(codeExchange(c), "code_verifier", "abc") }, 403, "invalid_grant"},
		{"no verifier", func(c string) url.Values { return with(codeExchange(c), "code_verifier", "-") }, 403, "invalid_grant"},
		{"other redirect_uri", func(c string) url.Values {
			return with(codeExchange(c), "redirect_uri", "http://127.0.0.1:5555/other")
		}, 403, "invalid_grant"},
		{"no redirect_uri", func(c string) url.Values { return with(codeExchange(c), "redirect_uri", "-") }, 400, "invalid_request"},
		{"no code", func(string) url.Values { return with(codeExchange(""), "code", "-") }, 400, "invalid_request"},
		{"unknown code", func(string) url.Values { return codeExchange("ac_unknown") }, 403, "invalid_grant"},
		{"with secret", func(c string) url.Values { return with(codeExchange(c), "client_secret", "x") }, 401, "invalid_client"},
		{"unknown client", func(c string) url.Values { return with(codeExchange(c), "client_id", "other") }, 401, "invalid_client"},
		{"no client", func(c string) url.Values { return with(codeExchange(c), "client_id", "-") }, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := getCode(t, s, authorizeParams("openid"))
			wantOAuthError(t, postForm(t, s, tt.form(code)), tt.status, tt.error)
		})
	}

	t.Run("expired code", func(t *testing.T) {
		code := getCode(t, s, authorizeParams("openid"))
		clock.Advance(codeLifetime)
		wantOAuthError(t, postForm(t, s, codeExchange(code)), 403, "invalid_grant")
	})
	t.Run("failed attempt burns the code", func(t *testing.T) {
		code := getCode(t, s, authorizeParams("openid"))
		wantStatus(t, postForm(t, s, with(codeExchange(code), "code_verifier", strings.Repeat("b", 43))), 403)
		wantOAuthError(t, postForm(t, s, codeExchange(code)), 403, "invalid_grant")
	})
	if got := s.Stats().Logins; got != 0 {
		t.Errorf("Logins = %d; want 0", got)
	}
}

func TestAuth0ConfidentialClientAuth(t *testing.T) {
	t.Parallel()
	const secret = "s3cr:t/+&" // needs form-encoding in a Basic header
	s := start(t, Options{Preset: Auth0, ClientSecret: secret})
	noPKCE := with(authorizeParams("openid offline_access"), "code_challenge", "-", "code_challenge_method", "-")
	basic := func(id, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(pw)))
	}
	tests := []struct {
		name   string
		form   func(code string) url.Values
		auth   string
		status int
		error  string
	}{
		{"secret in body", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", "-", "client_secret", secret)
		}, "", 200, ""},
		{"basic", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", "-", "client_id", "-")
		}, basic(DefaultClientID, secret), 200, ""},
		{"basic and matching client_id", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", "-")
		}, basic(DefaultClientID, secret), 200, ""},
		{"basic and other client_id", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", "-", "client_id", "other")
		}, basic(DefaultClientID, secret), 400, "invalid_request"},
		{"both", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", "-", "client_secret", secret)
		}, basic(DefaultClientID, secret), 400, "invalid_request"},
		{"no secret", func(c string) url.Values { return with(codeExchange(c), "code_verifier", "-") }, "", 401, "invalid_client"},
		{"wrong secret", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", "-", "client_secret", "nope")
		}, "", 401, "invalid_client"},
		{"wrong basic secret", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", "-", "client_id", "-")
		}, basic(DefaultClientID, "nope"), 401, "invalid_client"},
		{"basic not form-encoded", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", "-", "client_id", "-")
		}, "Basic " + base64.StdEncoding.EncodeToString([]byte(DefaultClientID+":%zz")), 401, "invalid_client"},
		{"bearer header", func(c string) url.Values {
			return with(codeExchange(c), "code_verifier", "-", "client_secret", secret)
		}, "Bearer at_x", 401, "invalid_client"},
		{"verifier without challenge", func(c string) url.Values {
			return with(codeExchange(c), "client_secret", secret)
		}, "", 403, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code := getCode(t, s, noPKCE)
			req := tokenRequest(t, t.Context(), s, tt.form(code))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			r := do(t, req)
			if tt.status == 200 {
				wantStatus(t, r, 200)
				wantKeys(t, r, "access_token", "refresh_token", "id_token", "scope", "expires_in", "token_type")
				return
			}
			wantOAuthError(t, r, tt.status, tt.error)
		})
	}
}

func TestAuth0PublicClientRejectsSecrets(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Auth0, PublicClient: true})
	code := getCode(t, s, authorizeParams("openid"))
	req := tokenRequest(t, t.Context(), s, codeExchange(code))
	req.SetBasicAuth(DefaultClientID, "")
	wantOAuthError(t, do(t, req), 401, "invalid_client")
	wantOAuthError(t, postForm(t, s, auth0ClientCredentials()), 401, "invalid_client")
	wantOAuthError(t, postForm(t, s, with(auth0ClientCredentials(), "client_secret", "-")), 403, "unauthorized_client")
}

func TestAuth0Authorize(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Auth0, PublicClient: true,
		Users: map[string]string{"b@example.com": "pb", "a@example.com": "pa"}})
	good := authorizeParams("openid")
	tests := []struct {
		name   string
		q      url.Values
		status int    // 400, or 302 with error
		error  string // the redirect's error, for 302
	}{
		{"unknown client", with(good, "client_id", "other"), 400, ""},
		{"no redirect_uri", with(good, "redirect_uri", "-"), 400, ""},
		{"https non-loopback redirect", with(good, "redirect_uri", "https://app.example/cb"), 400, ""},
		{"https loopback redirect", with(good, "redirect_uri", "https://127.0.0.1/cb"), 400, ""},
		{"redirect with fragment", with(good, "redirect_uri", testRedirect+"#f"), 400, ""},
		{"bad redirect", with(good, "redirect_uri", "http://[::1"), 400, ""},
		{"implicit flow", with(good, "response_type", "token"), 302, "unsupported_response_type"},
		{"unknown audience", with(good, "audience", "https://other.example"), 302, "access_denied"},
		{"public without PKCE", with(good, "code_challenge", "-", "code_challenge_method", "-"), 302, "invalid_request"},
		{"plain method", with(good, "code_challenge_method", "plain"), 302, "invalid_request"},
		{"no method", with(good, "code_challenge_method", "-"), 302, "invalid_request"},
		{"short challenge", with(good, "code_challenge", "abc"), 302, "invalid_request"},
		{"bad challenge characters", with(good, "code_challenge", strings.Repeat("+", 43)), 302, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, loc := authorize(t, s, tt.q)
			if tt.status == 400 {
				wantOAuthError(t, r, 400, "invalid_request")
				return
			}
			if loc == nil {
				t.Fatalf("status = %d; want a 302 with error %s (body %s)", r.status, tt.error, r.raw)
			}
			q := loc.Query()
			if q.Get("error") != tt.error || q.Get("error_description") == "" || q.Get("state") != "xyz" || q.Has("code") {
				t.Errorf("redirect query = %v; want error %s with a description and state xyz, no code", q, tt.error)
			}
		})
	}

	t.Run("POST", func(t *testing.T) {
		t.Parallel()
		resp, err := http.PostForm(s.AuthorizeURL(), good)
		if err != nil {
			t.Fatal(err)
		}
		r := read(t, resp)
		wantOAuthError(t, r, 405, "invalid_request")
	})
	t.Run("keeps redirect query, no state", func(t *testing.T) {
		t.Parallel()
		_, loc := authorize(t, s, with(good, "redirect_uri", "http://localhost:1/cb?app=1", "state", "-"))
		if loc == nil || loc.Query().Get("app") != "1" || loc.Query().Get("code") == "" || loc.Query().Has("state") {
			t.Errorf("Location = %v; want the redirect's own query kept, a code, no state", loc)
		}
	})
	t.Run("login_hint", func(t *testing.T) {
		t.Parallel()
		for hint, want := range map[string]string{"b@example.com": "b@example.com", "": "a@example.com", "z@example.com": "a@example.com"} {
			redirect := "http://[::1]:8080/cb"
			code := getCode(t, s, with(good, "login_hint", hint, "redirect_uri", redirect))
			tok := postForm(t, s, with(codeExchange(code), "redirect_uri", redirect))
			wantStatus(t, tok, 200)
			if got := callAPI(t, s, "Bearer "+tok.str("access_token")).str("user"); got != want {
				t.Errorf("login_hint %q: user = %q; want %q", hint, got, want)
			}
		}
	})
}

func TestAuth0RedirectURIs(t *testing.T) {
	t.Parallel()
	const allowed = "https://app.example/callback"
	s := start(t, Options{Preset: Auth0, RedirectURIs: []string{allowed}})
	noPKCE := with(authorizeParams("openid"), "code_challenge", "-", "code_challenge_method", "-")
	if _, loc := authorize(t, s, with(noPKCE, "redirect_uri", allowed)); loc == nil || loc.Query().Get("code") == "" {
		t.Errorf("allowed redirect: Location = %v; want a code", loc)
	}
	r, _ := authorize(t, s, noPKCE) // loopback is no longer allowed
	wantStatus(t, r, 400)

	// PKCE is optional for a confidential client, but half of it is an error.
	_, loc := authorize(t, s, with(noPKCE, "redirect_uri", allowed, "code_challenge_method", "S256"))
	if loc == nil || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("code_challenge_method alone: Location = %v; want error invalid_request", loc)
	}
}

func TestAuth0Scopes(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Auth0})
	tests := []struct {
		scope       string
		refresh, id bool
	}{
		{"openid profile offline_access", true, true},
		{"openid", false, true},
		{"offline_access", true, false},
		{"", false, false},
		{"openidx offline_accessx", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			t.Parallel()
			got := s.Issue("", tt.scope)
			if (got.RefreshToken != "") != tt.refresh || (got.IDToken != "") != tt.id {
				t.Errorf("Issue(%q) = %+v; want refresh %v, id %v", tt.scope, got, tt.refresh, tt.id)
			}
		})
	}
}

func TestAuth0Refresh(t *testing.T) {
	t.Parallel()
	t.Run("without rotation", func(t *testing.T) {
		t.Parallel()
		s := start(t, Options{Preset: Auth0})
		rt := s.Issue("", "offline_access").RefreshToken
		for range 3 {
			r := postForm(t, s, auth0Refresh(rt))
			wantStatus(t, r, 200)
			wantKeys(t, r, "access_token", "scope", "expires_in", "token_type")
		}
		wantOAuthError(t, postForm(t, s, auth0Refresh("rt_unknown")), 403, "invalid_grant")
		wantOAuthError(t, postForm(t, s, with(auth0Refresh(""), "refresh_token", "-")), 400, "invalid_request")
	})
	t.Run("rotation", func(t *testing.T) {
		t.Parallel()
		s := start(t, Options{Preset: Auth0, Rotation: true})
		rt1 := s.Issue("", "openid offline_access").RefreshToken
		r := postForm(t, s, auth0Refresh(rt1))
		wantStatus(t, r, 200)
		wantKeys(t, r, "access_token", "refresh_token", "id_token", "scope", "expires_in", "token_type")
		rt2 := r.str("refresh_token")
		if rt2 == rt1 {
			t.Fatal("rotation returned the same refresh token")
		}
		r = postForm(t, s, auth0Refresh(rt1))
		wantOAuthError(t, r, 403, "invalid_grant")
		if got := r.str("error_description"); got != "Unknown or invalid refresh token." {
			t.Errorf("error_description = %q; want Auth0's", got)
		}
		wantStatus(t, postForm(t, s, auth0Refresh(rt2)), 200) // no reuse detection: family lives
		if got := s.Stats().RefreshReuse; got != 1 {
			t.Errorf("RefreshReuse = %d; want 1", got)
		}
	})
	t.Run("reuse detection", func(t *testing.T) {
		t.Parallel()
		s := start(t, Options{Preset: Auth0, Rotation: true, ReuseDetection: true})
		rt1 := s.Issue("", "offline_access").RefreshToken
		other := s.Issue("", "offline_access").RefreshToken
		rt2 := postForm(t, s, auth0Refresh(rt1)).str("refresh_token")
		rt3 := postForm(t, s, auth0Refresh(rt2)).str("refresh_token")
		if rt3 == "" {
			t.Fatal("no refresh token after two rotations")
		}
		wantOAuthError(t, postForm(t, s, auth0Refresh(rt1)), 403, "invalid_grant")
		wantOAuthError(t, postForm(t, s, auth0Refresh(rt3)), 403, "invalid_grant") // family revoked
		wantStatus(t, postForm(t, s, auth0Refresh(other)), 200)                    // another family
		if got := s.Stats().RefreshReuse; got != 1 {
			t.Errorf("RefreshReuse = %d; want 1", got)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		clock := NewClock(time.Unix(1_700_000_000, 0))
		s := start(t, Options{Preset: Auth0, Clock: clock, RefreshTokenLifetime: time.Hour})
		rt := s.Issue("", "offline_access").RefreshToken
		clock.Advance(time.Hour - time.Second)
		wantStatus(t, postForm(t, s, auth0Refresh(rt)), 200)
		clock.Advance(time.Second)
		wantOAuthError(t, postForm(t, s, auth0Refresh(rt)), 403, "invalid_grant")
	})
}

func TestAuth0ClientCredentials(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Auth0})
	r := postForm(t, s, with(auth0ClientCredentials(), "scope", "read:things"))
	wantStatus(t, r, 200)
	wantKeys(t, r, "access_token", "scope", "expires_in", "token_type")
	api := callAPI(t, s, "Bearer "+r.str("access_token"))
	wantStatus(t, api, 200)
	if got := api.str("user"); got != DefaultClientID+"@clients" {
		t.Errorf("API user = %q; want %s@clients", got, DefaultClientID)
	}

	req := tokenRequest(t, t.Context(), s, with(auth0ClientCredentials(), "client_id", "-", "client_secret", "-"))
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	wantStatus(t, do(t, req), 200)

	wantOAuthError(t, postForm(t, s, with(auth0ClientCredentials(), "audience", "-")), 403, "access_denied")
	wantOAuthError(t, postForm(t, s, with(auth0ClientCredentials(), "audience", "https://other")), 403, "access_denied")
	wantOAuthError(t, postForm(t, s, with(auth0ClientCredentials(), "grant_type", "password")), 400, "unsupported_grant_type")
	wantOAuthError(t, postForm(t, s, with(auth0ClientCredentials(), "grant_type", "-")), 400, "invalid_request")
	if got := s.Stats().Logins; got != 2 {
		t.Errorf("Logins = %d; want 2", got)
	}
}

func TestAuth0API(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Preset: Auth0})
	tok := s.Issue("", "openid")
	wantStatus(t, callAPI(t, s, "Bearer "+tok.AccessToken), 200)
	for _, auth := range []string{"", tok.AccessToken, "Bearer " + tok.IDToken, "Bearer at_unknown"} {
		r := callAPI(t, s, auth)
		wantOAuthError(t, r, 401, "invalid_token")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q; want a Bearer invalid_token challenge", r.header.Get("WWW-Authenticate"))
		}
	}
}
