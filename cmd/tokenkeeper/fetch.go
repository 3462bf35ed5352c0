package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// session is an opened profile: its config, client, cache and Source.
type session struct {
	name   string
	dir    string
	prof   *profile
	cfg    tokenkeeper.Config
	client *tokenkeeper.Client
	store  *tokenkeeper.FileStore
}

// open loads e's profile and builds its client and token cache.
func (e *env) open(ctx context.Context) (*session, error) {
	dir, err := configDir(e.dir)
	if err != nil {
		return nil, err
	}
	p, err := loadProfile(dir, e.profileName)
	if err != nil {
		return nil, err
	}
	cfg, err := p.config(ctx)
	if err != nil {
		return nil, err
	}
	c, err := tokenkeeper.New(cfg)
	if err != nil {
		return nil, &configError{msg: err.Error()}
	}
	st, err := store(dir, e.profileName)
	if err != nil {
		return nil, err
	}
	return &session{name: e.profileName, dir: dir, prof: p, cfg: cfg, client: c, store: st}, nil
}

// source returns a Source on the session's cache, with the profile's
// login.
func (s *session) source() (*tokenkeeper.Source, error) {
	sc, err := s.prof.sourceConfig()
	if err != nil {
		return nil, err
	}
	sc.Store = s.store
	return tokenkeeper.NewSource(s.client, sc)
}

// openSource is open followed by source: the caller closes the Source.
func (e *env) openSource(ctx context.Context) (*session, *tokenkeeper.Source, error) {
	s, err := e.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	src, err := s.source()
	if err != nil {
		return nil, nil, err
	}
	return s, src, nil
}

// token returns a valid token of the profile: cached, refreshed or
// logged in. With renew, a new one even when the cached one is valid.
func (s *session) token(ctx context.Context, renew bool) (*tokenkeeper.Token, error) {
	src, err := s.source()
	if err != nil {
		return nil, err
	}
	t, err := src.TokenContext(ctx)
	if err == nil && renew {
		t, err = src.Renew(ctx, t)
	}
	if cerr := src.Close(); err == nil && cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, withLoginHint(err, s.name)
	}
	return t, nil
}

// loginHintError adds what to do to ErrLoginRequired.
type loginHintError struct {
	err     error
	profile string
}

func (e *loginHintError) Error() string {
	return e.err.Error() + " (profile " + e.profile + ")"
}
func (e *loginHintError) Unwrap() error { return e.err }

func withLoginHint(err error, profile string) error {
	if err == nil {
		return nil
	}
	return &loginHintError{err: err, profile: profile}
}

const fetchUsage = `  tokenkeeper fetch [-p profile] [-refresh] [-json]

Prints a valid access token of the profile: the cached one, refreshed, or
a new one from the profile's login (password, client credentials,
Transiteo's refresh token). A profile without such a login exits with
code 4 once its cached token can no longer be refreshed. The token is a secret: it is printed
because it is what fetch is asked for.

Examples:
  tokenkeeper fetch -p daxium
  curl -H "Authorization: Bearer $(tokenkeeper fetch -p auth0)" https://api.example.com/me
  tokenkeeper fetch -p auth0 -json | jq -r .expires_in`

func runFetch(ctx context.Context, e *env, args []string) error {
	fs := e.flags("fetch", fetchUsage)
	e.jsonFlag(fs)
	renew := fs.Bool("refresh", false, "renew the token even if the cached one is still valid")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	_, t, err := e.openToken(ctx, *renew)
	if err != nil {
		return err
	}
	if !e.jsonOut {
		_, err = fmt.Fprintln(e.stdout, t.AccessToken)
		return err
	}
	return writeJSON(e, fetchJSON{
		AccessToken: t.AccessToken,
		TokenType:   t.TokenType,
		Scope:       t.Scope,
		Expiry:      timeOrNil(t.Expiry),
		ExpiresIn:   secondsLeft(t.Expiry),
	})
}

type fetchJSON struct {
	AccessToken string     `json:"access_token"`
	TokenType   string     `json:"token_type"`
	Scope       string     `json:"scope,omitempty"`
	Expiry      *time.Time `json:"expiry,omitempty"`
	ExpiresIn   *int64     `json:"expires_in,omitempty"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func secondsLeft(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	s := int64(time.Until(t).Seconds())
	return &s
}

func writeJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

const headerUsage = `  tokenkeeper header [-p profile] [-value] [-json]

Prints the credential header the profile's API expects, as
"Name: value": "Authorization: Bearer <access token>" for Daxium Air and
Auth0, "Authorization: <id_token>" (raw, no scheme) for Transiteo. With
-value, the value alone. The header holds a secret: it is printed because
it is what header is asked for.

Examples:
  curl -H "$(tokenkeeper header -p transiteo)" https://api.transiteo.io/v1/ping
  tokenkeeper header -p daxium -value`

func runHeader(ctx context.Context, e *env, args []string) error {
	fs := e.flags("header", headerUsage)
	e.jsonFlag(fs)
	valueOnly := fs.Bool("value", false, "print the header's value only")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	s, t, err := e.openToken(ctx, false)
	if err != nil {
		return err
	}
	name, value, err := credentialHeader(s.cfg.Credential, t)
	if err != nil {
		return err
	}
	switch {
	case e.jsonOut:
		return writeJSON(e, map[string]string{"name": name, "value": value})
	case *valueOnly:
		_, err = fmt.Fprintln(e.stdout, value)
	default:
		_, err = fmt.Fprintf(e.stdout, "%s: %s\n", name, value)
	}
	return err
}

// credentialHeader is the header a Transport would set for t.
func credentialHeader(c tokenkeeper.Credential, t *tokenkeeper.Token) (name, value string, err error) {
	name = c.Header
	if name == "" {
		name = "Authorization"
	}
	value = t.AccessToken
	if c.IDToken {
		value = t.IDToken
	}
	if value == "" {
		return "", "", fmt.Errorf("the token has no %s for the credential header", map[bool]string{true: "id_token", false: "access token"}[c.IDToken])
	}
	if c.Raw {
		return name, value, nil
	}
	scheme := c.Scheme
	if scheme == "" {
		scheme = t.TokenType
	}
	if scheme == "" {
		scheme = "Bearer"
	}
	return name, scheme + " " + value, nil
}

// openToken opens e's profile and gets its token, renewed first when
// renew is set: what fetch, header and info start with.
func (e *env) openToken(ctx context.Context, renew bool) (*session, *tokenkeeper.Token, error) {
	s, err := e.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.token(ctx, renew)
	if err != nil {
		return nil, nil, err
	}
	return s, t, nil
}
