package oauthtest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// transiteo is the Transiteo preset: a public client and a static refresh
// token.
type transiteo struct{}

func (transiteo) tokenPath() string               { return "/oauth2/token" }
func (transiteo) apiPath() string                 { return "/v1/ping" }
func (transiteo) tokenType() string               { return "Bearer" }
func (transiteo) shape(string) (refresh, id bool) { return false, true }

// errorBody is the bare RFC 6749 body Transiteo sends: {"error": code}.
func (transiteo) errorBody(p problem, _ time.Time) any {
	return map[string]string{"error": p.oauth}
}

// tokenBody has no refresh_token and no scope.
func (transiteo) tokenBody(t TokenResponse, expiresIn any) any {
	return map[string]any{
		"id_token":     t.IDToken,
		"access_token": t.AccessToken,
		"expires_in":   expiresIn,
		"token_type":   t.TokenType,
	}
}

func (transiteo) grant(s *Server, r *http.Request, form url.Values) reply {
	if r.Header.Get("Authorization") != "" || form.Has("client_secret") {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_client", desc: "public client: no secret"})
	}
	switch gt := form.Get("grant_type"); gt {
	case "refresh_token":
	case "":
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: "grant_type is required"})
	default:
		return s.fail(http.StatusBadRequest, problem{oauth: "unsupported_grant_type", desc: "grant_type " + strconv.Quote(gt)})
	}
	if f := missing(form, "client_id", "refresh_token"); f != "" {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_request", desc: f + " is required"})
	}
	if form.Get("client_id") != s.opts.ClientID {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_client", desc: "unknown client"})
	}
	if form.Get("refresh_token") != s.opts.RefreshToken {
		return s.fail(http.StatusBadRequest, problem{oauth: "invalid_grant", desc: "invalid refresh token"})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ok(s.mintLocked(s.firstUser, "", nil, false, true))
}

// credential wants the raw id_token: "Authorization: <id_token>".
func (transiteo) credential(s *Server, r *http.Request) (*grantRecord, *reply) {
	token := r.Header.Get("Authorization")
	if token == "" || strings.HasPrefix(strings.ToLower(token), "bearer ") {
		return nil, &reply{status: http.StatusUnauthorized, body: map[string]string{"message": "Unauthorized"}}
	}
	s.mu.Lock()
	rec, ok := s.validLocked(s.idTokens, token)
	s.mu.Unlock()
	if !ok {
		return nil, &reply{status: http.StatusUnauthorized, body: map[string]string{"message": "The incoming token has expired"}}
	}
	return rec, nil
}
