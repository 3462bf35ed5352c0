package oauthtest

import (
	"crypto/rand"
	"time"
)

// Prefixes of the tokens a Server mints, so a test can tell them apart.
const (
	prefixAccess  = "at_"
	prefixRefresh = "rt_"
	prefixCode    = "ac_"
)

// TokenResponse is a token set as a preset returns it from its token
// endpoint. Fields the preset leaves out are empty: Transiteo sends no
// RefreshToken or Scope; Auth0 sends a RefreshToken only for scope
// offline_access and an IDToken only for scope openid; Daxium sends no
// IDToken. The JSON tags match the wire names, but a server with
// Options.ExpiresInAsString sends expires_in as a string, which this type
// does not decode.
type TokenResponse struct {
	// AccessToken is the access token.
	AccessToken string `json:"access_token"`
	// RefreshToken is the refresh token, if the preset issues one.
	RefreshToken string `json:"refresh_token,omitempty"`
	// IDToken is the id_token, if the preset and scope give one.
	IDToken string `json:"id_token,omitempty"`
	// TokenType is the token type as the preset writes it.
	TokenType string `json:"token_type"`
	// Scope is the granted scope, if any.
	Scope string `json:"scope,omitempty"`
	// ExpiresIn is the access token's lifetime in seconds.
	ExpiresIn int `json:"expires_in"`
}

// grantRecord is what one token response granted. Its access token and id
// token share it, so revoking either kills both.
type grantRecord struct {
	user    string
	scope   string
	expires time.Time
	revoked bool
	jkt     string // thumbprint of the key a DPoP-bound token is bound to
	x5t     string // thumbprint of the certificate a token is bound to (mtls.go)
}

// family links the refresh tokens descended from one login.
type family struct {
	revoked bool
}

// refreshRecord is one refresh token.
type refreshRecord struct {
	user    string
	scope   string
	fam     *family
	expires time.Time // zero: never
	rotated bool      // retired by a rotation
	jkt     string    // thumbprint of the DPoP key a public client's token is bound to
}

// newToken returns a random opaque token with the given prefix.
func newToken(prefix string) string {
	return prefix + rand.Text()
}

// mintLocked records and returns a new token set for user. A refresh token
// joins fam. s.mu must be held.
func (s *Server) mintLocked(user, scope string, fam *family, withRefresh, withID bool) TokenResponse {
	now := s.now()
	rec := &grantRecord{user: user, scope: scope, expires: now.Add(s.opts.TokenLifetime)}
	t := TokenResponse{
		AccessToken: newToken(prefixAccess),
		TokenType:   s.p.tokenType(),
		Scope:       scope,
		ExpiresIn:   int(s.opts.TokenLifetime / time.Second),
	}
	s.access[t.AccessToken] = rec
	if withID {
		t.IDToken = s.idTokenLocked(user, "", now)
		s.idTokens[t.IDToken] = rec
	}
	if withRefresh {
		t.RefreshToken = newToken(prefixRefresh)
		r := &refreshRecord{user: user, scope: scope, fam: fam}
		if s.opts.RefreshTokenLifetime > 0 {
			r.expires = now.Add(s.opts.RefreshTokenLifetime)
		}
		s.refresh[t.RefreshToken] = r
	}
	return t
}

// redeemRefreshLocked checks a presented refresh token. A token retired by
// rotation counts as reuse and, with detect, revokes its family. With
// rotate, a good token is retired. s.mu must be held.
func (s *Server) redeemRefreshLocked(token string, rotate, detect bool) (*refreshRecord, bool) {
	r := s.refresh[token]
	if r == nil {
		return nil, false
	}
	if r.rotated {
		s.stats.RefreshReuse++
		if detect {
			r.fam.revoked = true
		}
		return nil, false
	}
	if r.fam.revoked || (!r.expires.IsZero() && !s.now().Before(r.expires)) {
		return nil, false
	}
	if rotate {
		r.rotated = true
	}
	return r, true
}

// validLocked returns the grant of a token found in m if it is neither
// expired nor revoked. s.mu must be held.
func (s *Server) validLocked(m map[string]*grantRecord, token string) (*grantRecord, bool) {
	rec := m[token]
	if rec == nil || rec.revoked || !s.now().Before(rec.expires) {
		return nil, false
	}
	return rec, true
}

// Issue mints a valid token set for user (the first user if empty) with
// scope, as the preset's token endpoint would return it after a login, and
// starts a new refresh-token family. It is a set-up helper: it counts in no
// Stats and is not subject to faults.
func (s *Server) Issue(user, scope string) TokenResponse {
	if user == "" {
		user = s.firstUser
	}
	withRefresh, withID := s.p.shape(scope)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mintLocked(user, scope, &family{}, withRefresh, withID)
}

// Revoke revokes an access token (or a Transiteo id_token) on the server:
// the API answers 401 to it, and to the other token of the same response.
// Unknown tokens are ignored.
func (s *Server) Revoke(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[string]*grantRecord{s.access, s.idTokens} {
		if rec := m[accessToken]; rec != nil {
			rec.revoked = true
		}
	}
}

// RevokeAll revokes every access and id token issued so far; refresh tokens
// stay valid, so a client can recover by refreshing.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range s.access {
		rec.revoked = true
	}
}

// RevokeRefreshToken revokes a refresh token and its whole family, so the
// next refresh fails and the client has to log in again. Unknown tokens,
// and Transiteo's static refresh token, are ignored.
func (s *Server) RevokeRefreshToken(refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.refresh[refreshToken]; r != nil {
		r.fam.revoked = true
	}
}
