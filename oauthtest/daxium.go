package oauthtest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Daxium error codes, sent in the "code" field of a DAERR body. Daxium
// documents DAERR-LOG013; the other values are this fake's own, stable so
// tests can compare them.
const (
	// CodeBadRequest (400): a malformed token request: not a form, a
	// required field missing, a parameter repeated.
	CodeBadRequest = "DAERR-REQ001"
	// CodeUnsupportedGrantType (400): a grant_type other than password or
	// refresh_token.
	CodeUnsupportedGrantType = "DAERR-REQ002"
	// CodeMethodNotAllowed (405): the token endpoint called with another
	// method than POST.
	CodeMethodNotAllowed = "DAERR-REQ003"
	// CodeUnsupportedAPIVersion (400): an API call whose X-Accept-Version
	// header is present and not v1.3.
	CodeUnsupportedAPIVersion = "DAERR-REQ004"
	// CodeInvalidClient (401): unknown client_id, wrong client_secret, or
	// client credentials sent in an Authorization header instead of the
	// form body.
	CodeInvalidClient = "DAERR-AUTH001"
	// CodeInvalidCredentials (401): unknown username or wrong password.
	CodeInvalidCredentials = "DAERR-AUTH002"
	// CodeInvalidRefreshToken (401): a refresh token that is unknown,
	// expired, revoked, or already rotated away.
	CodeInvalidRefreshToken = "DAERR-AUTH003"
	// CodeInvalidToken (401): an API call without a valid, unexpired,
	// unrevoked bearer access token.
	CodeInvalidToken = "DAERR-AUTH004"
	// CodeTooManyLogins (429): too many password grants for one username
	// within the login window; Retry-After says when the next is allowed.
	// Also the body of RateLimitNext for Daxium.
	CodeTooManyLogins = "DAERR-LOG013"
)

const (
	daxiumAPIVersion = "v1.3"
	daxiumDocs       = "https://doc.daxium-air.com/errors/"
)

// daerrBody is Daxium's error body.
type daerrBody struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	URL        string `json:"url"`
	APIVersion string `json:"api_version"`
	Infos      []any  `json:"infos"`
	ServerTime string `json:"server_time"`
}

// daxium is the Daxium Air preset.
type daxium struct{}

func (daxium) tokenPath() string                      { return "/oauth/v2/token" }
func (daxium) apiPath() string                        { return "/api/v1.3/me" }
func (daxium) tokenType() string                      { return "bearer" }
func (daxium) shape(string) (refresh, id bool)        { return true, false }
func (daxium) errorBody(p problem, now time.Time) any { return newDAERR(p.daerr, p.desc, now) }

func newDAERR(code, message string, now time.Time) daerrBody {
	return daerrBody{
		Code:       code,
		Message:    message,
		URL:        daxiumDocs + code,
		APIVersion: daxiumAPIVersion,
		Infos:      []any{},
		ServerTime: strconv.FormatInt(now.Unix(), 10),
	}
}

// tokenBody sends scope null when none was granted, as Daxium does.
func (daxium) tokenBody(t TokenResponse, expiresIn any) any {
	var scope any
	if t.Scope != "" {
		scope = t.Scope
	}
	return map[string]any{
		"access_token":  t.AccessToken,
		"refresh_token": t.RefreshToken,
		"expires_in":    expiresIn,
		"token_type":    t.TokenType,
		"scope":         scope,
	}
}

func (d daxium) grant(s *Server, r *http.Request, form url.Values) reply {
	if r.Header.Get("Authorization") != "" {
		return s.fail(http.StatusUnauthorized, problem{"invalid_client", CodeInvalidClient,
			"client credentials must be sent in the form body"})
	}
	switch gt := form.Get("grant_type"); gt {
	case "password", "refresh_token":
	case "":
		return s.fail(http.StatusBadRequest, problem{"invalid_request", CodeBadRequest, "grant_type is required"})
	default:
		return s.fail(http.StatusBadRequest, problem{"unsupported_grant_type", CodeUnsupportedGrantType,
			"unsupported grant_type " + strconv.Quote(gt)})
	}
	fields := []string{"client_id", "client_secret", "username", "password"}
	if form.Get("grant_type") == "refresh_token" {
		fields = []string{"client_id", "client_secret", "refresh_token"}
	}
	if f := missing(form, fields...); f != "" {
		return s.fail(http.StatusBadRequest, problem{"invalid_request", CodeBadRequest, f + " is required"})
	}
	if !s.checkClient(form.Get("client_id"), form.Get("client_secret")) {
		return s.fail(http.StatusUnauthorized, problem{"invalid_client", CodeInvalidClient, "invalid client credentials"})
	}
	if form.Get("grant_type") == "password" {
		return d.password(s, form)
	}
	return d.refresh(s, form)
}

func (daxium) password(s *Server, form url.Values) reply {
	user := form.Get("username")
	s.mu.Lock()
	defer s.mu.Unlock()
	if wait, ok := s.loginAttemptLocked(user); !ok {
		rep := s.fail(http.StatusTooManyRequests, problem{"too_many_requests", CodeTooManyLogins,
			"Too many login attempts, retry later"})
		rep.header = http.Header{"Retry-After": {retryAfterSeconds(wait)}}
		return rep
	}
	if pw, known := s.opts.Users[user]; !known || pw != form.Get("password") {
		return s.fail(http.StatusUnauthorized, problem{"invalid_grant", CodeInvalidCredentials, "invalid username or password"})
	}
	s.stats.Logins++
	return s.ok(s.mintLocked(user, form.Get("scope"), &family{}, true, false))
}

func (daxium) refresh(s *Server, form url.Values) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.redeemRefreshLocked(form.Get("refresh_token"), true, false)
	if !ok {
		return s.fail(http.StatusUnauthorized, problem{"invalid_grant", CodeInvalidRefreshToken,
			"invalid, expired or already used refresh token"})
	}
	return s.ok(s.mintLocked(rec.user, rec.scope, rec.fam, true, false))
}

// loginAttemptLocked records a password attempt for user unless the user
// is over the limit, in which case it returns how long until the oldest
// attempt leaves the window. s.mu must be held.
func (s *Server) loginAttemptLocked(user string) (wait time.Duration, ok bool) {
	now := s.now()
	var kept []time.Time
	for _, t := range s.logins[user] {
		if now.Sub(t) < s.opts.LoginWindow {
			kept = append(kept, t)
		}
	}
	if len(kept) >= s.opts.LoginLimit {
		s.logins[user] = kept
		return kept[0].Add(s.opts.LoginWindow).Sub(now), false
	}
	s.logins[user] = append(kept, now)
	return 0, true
}

func (daxium) credential(s *Server, r *http.Request) (*grantRecord, *reply) {
	if v := r.Header.Get("X-Accept-Version"); v != "" && v != daxiumAPIVersion {
		return nil, &reply{status: http.StatusBadRequest, body: newDAERR(CodeUnsupportedAPIVersion,
			"unsupported API version "+strconv.Quote(v), s.now())}
	}
	token, ok := bearer(r)
	if ok {
		s.mu.Lock()
		rec, valid := s.validLocked(s.access, token)
		s.mu.Unlock()
		if valid {
			return rec, nil
		}
	}
	return nil, &reply{status: http.StatusUnauthorized, body: newDAERR(CodeInvalidToken,
		"invalid or expired access token", s.now())}
}

// bearer returns the token of an "Authorization: Bearer <token>" header,
// the scheme compared case-insensitively (RFC 6750 2.1).
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
