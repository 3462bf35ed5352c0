package tokenkeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// This file holds token revocation (RFC 7009): Client.Revoke, and
// Source.Logout, which ends a session at the provider and here.

// errNoRevocationURL is the failure of a revocation without an endpoint.
var errNoRevocationURL = fmt.Errorf("tokenkeeper: Config.RevocationURL is empty: the provider's revocation endpoint is unknown: %w", errors.ErrUnsupported)

// Revoke asks the revocation endpoint (Config.RevocationURL, RFC 7009) to
// invalidate token, with the Client's authentication. hint is the
// token_type_hint, "refresh_token" or "access_token", or empty. The server
// answers success for a token it does not know, as RFC 7009 asks. A
// refusal is an *Error (unsupported_token_type when the server revokes
// only some kinds of token); a Client without a RevocationURL returns an
// error that matches errors.ErrUnsupported.
func (c *Client) Revoke(ctx context.Context, token, hint string) error {
	if c.revokeURL == "" {
		return errNoRevocationURL
	}
	if token == "" {
		return errors.New("tokenkeeper: Revoke: empty token")
	}
	form := url.Values{"token": {token}}
	setIf(form, "token_type_hint", hint)
	resp, body, err := c.post(ctx, c.revokeURL, "revocation", form)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	if isRedirect(resp.StatusCode) {
		return redirectError(resp, body)
	}
	e := parseError(resp.StatusCode, resp.Header, body, c.now())
	e.clientRejected = c.clientCodes[e.Code]
	return c.redactEchoes(e, form)
}

// post sends form to endpoint with the client's authentication and returns
// the response (its body closed) and its body, read up to the cap. what
// names the request in errors and logs.
func (c *Client) post(ctx context.Context, endpoint, what string, form url.Values) (*http.Response, []byte, error) {
	req, err := c.newRequest(ctx, endpoint, form)
	if err != nil {
		return nil, nil, fmt.Errorf("tokenkeeper: building %s request: %w", what, err)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		err = redactURLError(err)
		c.log(ctx, "tokenkeeper: "+what+" request failed", slog.Duration("elapsed", time.Since(start)), slog.String("error", err.Error()))
		return nil, nil, fmt.Errorf("tokenkeeper: %s request: %w", what, err)
	}
	body, readErr := readCapped(resp.Body)
	resp.Body.Close()
	c.log(ctx, "tokenkeeper: "+what+" response", slog.Int("status", resp.StatusCode), slog.Duration("elapsed", time.Since(start)))
	if readErr != nil {
		return nil, nil, &Error{StatusCode: resp.StatusCode, Header: resp.Header, Body: body, Message: what + " response", Err: readErr}
	}
	return resp, body, nil
}

// Logout ends the Source's session: it stops the Source as Close does,
// after letting a renewal in flight end (while ctx allows), so that the
// token it brings is the one revoked; it then asks
// the provider to revoke the refresh token and then the access token
// (Client.Revoke; a server that revokes no access token, answering
// unsupported_token_type, is not an error), and overwrites the token in
// the Store with an empty one, which holds no credential. Afterwards every
// call returns ErrClosed, and a new Source on the same Store needs a new
// login (ErrLoginRequired without one).
//
// The Store is cleared even when revocation fails, so that a logout never
// leaves a credential behind here; the error then says the provider may
// still honour the tokens. Without a Config.RevocationURL, the error
// matches errors.ErrUnsupported. A second Logout, or one after Close,
// returns ErrClosed.
func (s *Source) Logout(ctx context.Context) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed.Store(true)
	s.wakeLocked()
	f := s.flight
	s.mu.Unlock()
	// No flight can start any more; the one running (bounded by
	// RefreshTimeout) may bring the token to revoke.
	if f != nil {
		select {
		case <-f.done:
		case <-ctx.Done():
		}
	}
	// No flight runs after this: the renewer's fields are this
	// goroutine's.
	s.cancel()
	s.wg.Wait()
	s.closeOnce.Do(func() {}) // nothing is left for Close to save

	t, loadErr := s.lastToken(ctx)
	revokeErr := s.revokeAll(ctx, t)
	s.r = renewer{loaded: true}
	s.cur.Store(nil)
	var clearErr error
	if err := s.cfg.Store.Save(ctx, &Token{}); err != nil {
		clearErr = wrap(errors.New("tokenkeeper: Logout: the Store could not be cleared"), err)
	}
	return errors.Join(loadErr, revokeErr, clearErr)
}

// lastToken returns the newest token the Source knows: the current one,
// one it could not save, or, before the first use, the stored one or the
// configured one.
func (s *Source) lastToken(ctx context.Context) (*Token, error) {
	if t := s.r.unsaved; t != nil {
		return t, nil
	}
	if st := s.cur.Load(); st != nil && s.r.loaded {
		return st.tok, nil
	}
	t, err := s.cfg.Store.Load(ctx)
	if err != nil && s.r.seed == nil {
		return nil, wrap(errors.New("tokenkeeper: Logout: the Store could not be read, so its token was not revoked"), err)
	}
	if t == nil {
		t = s.r.seed
	}
	return t, nil
}

// revokeAll revokes t's refresh token, then its access token.
func (s *Source) revokeAll(ctx context.Context, t *Token) error {
	if t == nil {
		return nil
	}
	var errs []error
	for _, r := range []struct{ token, hint string }{{t.RefreshToken, "refresh_token"}, {t.AccessToken, "access_token"}} {
		if r.token == "" {
			continue
		}
		err := s.c.Revoke(ctx, r.token, r.hint)
		var e *Error
		if errors.As(err, &e) && e.Code == "unsupported_token_type" && r.hint == "access_token" {
			continue
		}
		if err != nil {
			errs = append(errs, wrap(fmt.Errorf("tokenkeeper: Logout: the %s was not revoked", r.hint), err))
		}
		if errors.Is(err, errors.ErrUnsupported) {
			break
		}
	}
	return errors.Join(errs...)
}
