package tokenkeeper

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// refreshTimeoutError is a refresh ended by RefreshTimeout or by the lease
// of a shared lock: the Source's own deadline, not a caller's, and so a
// transient failure (a net.Error that is a timeout) that errors.Is still
// matches with context.DeadlineExceeded.
type refreshTimeoutError struct {
	timeout time.Duration
	what    string // the bound that ran out; "" means RefreshTimeout
	err     error
}

func (e *refreshTimeoutError) Error() string {
	what := e.what
	if what == "" {
		what = "RefreshTimeout"
	}
	return fmt.Sprintf("tokenkeeper: the refresh timed out after %v (%s): %v", e.timeout, what, e.err)
}

// Unwrap returns the cause as a list: IsRetryable then sees this error as
// a timeout, not as the caller's context.DeadlineExceeded.
func (e *refreshTimeoutError) Unwrap() []error { return []error{e.err} }

// Timeout reports true: the refresh took too long.
func (e *refreshTimeoutError) Timeout() bool { return true }

// Temporary reports true: the next attempt may be faster.
func (e *refreshTimeoutError) Temporary() bool { return true }

// isTransientFailure reports whether err is one of the Source's own
// transient failures.
func isTransientFailure(err error) bool {
	var ue *unsendableError
	var se *storeReadError
	return errors.As(err, &ue) || errors.As(err, &se)
}

// storeReadError is a Store that could not be read, with no login to fall
// back on: transient, as the Store may be back soon.
type storeReadError struct{ err error }

func (e *storeReadError) Error() string {
	return "tokenkeeper: no valid token and the Store could not be read: " + e.err.Error()
}

func (e *storeReadError) Unwrap() error { return e.err }

// unsendableError is a refresh that brought a token whose credential
// cannot be sent. The token is kept for its refresh token; the next
// attempt comes after a transient backoff, as the endpoint may issue a
// better one.
type unsendableError struct{ err error }

func (e *unsendableError) Error() string {
	return "tokenkeeper: the new token cannot be used: " + e.err.Error()
}

func (e *unsendableError) Unwrap() error { return e.err }

// backoff returns the wait after the n-th consecutive failure: for a
// transient failure, exponential from MinBackoff, capped at MaxBackoff,
// with equal jitter; for a permanent one (invalid_grant, invalid_client, a
// login needed), MaxBackoff, so that it is not retried in a loop; and in
// every case at least the server's Retry-After.
func (s *Source) backoff(n int, err error) time.Duration {
	var d time.Duration
	if IsRetryable(err) || isTransientFailure(err) {
		d = s.cfg.MinBackoff
		for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
			if d > s.cfg.MaxBackoff/2 {
				d = s.cfg.MaxBackoff // and no overflow
				break
			}
			d *= 2
		}
		d = d/2 + rand.N(d/2+1)
	} else {
		d = s.cfg.MaxBackoff
	}
	var pe *Error
	if errors.As(err, &pe) && pe.RetryAfter > d {
		d = pe.RetryAfter
	}
	return d
}

// refresh gets the token that replaces old: from the Store on first use,
// from the shared store if another process refreshed it, else by refresh
// token, else by login. On failure notBefore may say when a next attempt
// makes sense.
//
// ctx bounds the whole refresh; work is ctx cut short by Close as well, for
// everything but a refresh token request (whose answer may hold the only
// copy of a rotated refresh token) and saving its result.
func (s *Source) refresh(ctx, work context.Context, old *state) (st *state, notBefore time.Time, err error) {
	var base *Token
	if old != nil {
		base = old.tok
	}
	var loadErr error
	if !s.isLoaded() {
		t, err := s.cfg.Store.Load(work)
		_, shared := s.cfg.Store.(Locker)
		switch {
		case err != nil && errors.Is(err, ErrCorruptStore):
			// Nothing can be recovered from it: as if empty, and
			// overwritten by the next token.
			s.emit(Event{Kind: EventStoreFailed, Err: err})
			s.setLoaded()
			loadErr = err
		case err != nil:
			// Not marked loaded: the next attempt reads the Store
			// again. The Store may hold a newer token than the seed:
			// the seed's refresh token is not presented, nor saved
			// over it; a usable seed is served from memory meanwhile.
			s.emit(Event{Kind: EventStoreFailed, Err: err})
			if s.seed != nil && s.usable(s.seed) {
				st := s.publish(ctx, s.seed, "seed", false)
				s.mu.Lock()
				s.loaded = false // the Store is still to be read
				s.mu.Unlock()
				return st, time.Time{}, nil
			}
			return s.login(work, nil, err)
		default:
			s.setLoaded()
		}
		if t == nil && s.seed != nil {
			// An empty Store: the configured Token seeds it (a shared
			// Store is filled by the first refresh, under its lock).
			t = s.seed
			if s.usable(t) {
				return s.publish(ctx, t, "seed", !shared), time.Time{}, nil
			}
		} else if t != nil && s.usable(t) {
			return s.publish(ctx, t, "store", false), time.Time{}, nil
		}
		if t != nil {
			// Expired, or only a refresh token: kept as the current,
			// never served, state, so that a failed refresh does not
			// forget it.
			s.cur.Store(s.newState(t))
			base = t
		}
	}
	if s.ctx.Err() != nil {
		return nil, time.Time{}, ErrClosed
	}

	if lk, ok := s.cfg.Store.(Locker); ok {
		var shared, stored *Token
		var held *heldLock
		shared, stored, held, err = s.lockShared(work, lk, base)
		if err != nil {
			return nil, time.Time{}, err
		}
		if held != nil {
			unlockCtx := context.WithoutCancel(ctx)
			defer func() {
				uctx, cancel := context.WithTimeout(unlockCtx, 5*time.Second)
				defer cancel()
				if uerr := held.unlock(uctx); uerr != nil {
					s.emit(Event{Kind: EventStoreFailed, Err: uerr})
				}
			}()
			if ll, ok := lk.(LeaseLocker); ok && ll.Lease() > 0 {
				// The refresh must end while the lock is still ours:
				// past its lease another process may take it and
				// present the same refresh token.
				bound := ll.Lease() - ll.Lease()/10
				outer := ctx
				leaseCtx, cancel := context.WithDeadline(ctx, held.at.Add(bound))
				defer cancel()
				ctx = leaseCtx
				defer func() {
					if err != nil && outer.Err() == nil && leaseCtx.Err() == context.DeadlineExceeded {
						err = &refreshTimeoutError{timeout: bound, what: "nine tenths of the shared lock's lease", err: err}
					}
				}()
			}
		}
		if shared != nil {
			s.emit(Event{Kind: EventSharedToken})
			return s.publish(ctx, shared, "shared", false), time.Time{}, nil
		}
		if newerRefresh(stored, base) {
			// Another process rotated the refresh token after ours was
			// issued: ours is dead, and presenting it again would count
			// as reuse.
			base = stored
		}
	}

	var refreshErr error
	s.mu.Lock()
	if base != nil && base.RefreshToken != "" && base.RefreshToken == s.deadRefresh {
		// Rejected for good already: presenting it again cannot help,
		// and counts as reuse where rotation is detected.
		refreshErr = s.deadErr
		base = nil
	}
	s.mu.Unlock()
	if base != nil && base.RefreshToken != "" {
		s.emit(Event{Kind: EventRefreshStarted, Grant: "refresh_token"})
		t, err := s.c.refresh(ctx, base.RefreshToken) // keeps base's when none comes back
		if err == nil {
			return s.publish(ctx, t, "refresh_token", true), time.Time{}, nil
		}
		if !needsLogin(err) {
			return nil, time.Time{}, err
		}
		s.mu.Lock()
		s.deadRefresh, s.deadErr = base.RefreshToken, err
		s.mu.Unlock()
		refreshErr = err
	}
	if s.ctx.Err() != nil {
		return nil, time.Time{}, ErrClosed
	}
	return s.login(work, refreshErr, loadErr)
}

// needsLogin reports whether a refresh failure means the refresh token is
// dead (so only a login can help): a permanent 400, 401 or 403 with an
// error body the provider wrote (not a proxy's HTML page), and not about
// the client's own credentials.
func needsLogin(err error) bool {
	var pe *Error
	if !errors.As(err, &pe) || pe.retryable() || errors.Is(pe, ErrInvalidClient) || errors.Is(pe, ErrMalformedResponse) {
		return false
	}
	switch pe.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return false
}

// login gets a token with the configured login, once, and not sooner than
// ReloginInterval after the previous login. refreshErr is why it is needed
// (nil for a first login); loadErr is a failure to read the Store.
func (s *Source) login(ctx context.Context, refreshErr, loadErr error) (*state, time.Time, error) {
	if s.cfg.Login == nil && s.cfg.LoginFunc == nil {
		switch {
		case refreshErr != nil:
			return nil, time.Time{}, fmt.Errorf("%w: the refresh token was rejected and no login is configured: %w", ErrLoginRequired, refreshErr)
		case loadErr != nil:
			// Likely a passing outage of the Store: retried after a
			// transient backoff.
			return nil, time.Time{}, &storeReadError{err: loadErr}
		}
		return nil, time.Time{}, fmt.Errorf("%w: no valid token, no refresh token and no login configured", ErrLoginRequired)
	}
	now := s.c.now()
	s.mu.Lock()
	last, lastErr := s.lastLogin, s.lastLoginErr
	allowed := last.IsZero() || now.Sub(last) >= s.cfg.ReloginInterval
	if allowed {
		s.lastLogin = now
	}
	s.mu.Unlock()
	if !allowed {
		next := last.Add(s.cfg.ReloginInterval)
		err := fmt.Errorf("%w: the last login was %v ago; the next is allowed in %v (ReloginInterval)",
			ErrLoginRequired, now.Sub(last).Round(time.Millisecond), next.Sub(now).Round(time.Millisecond))
		switch {
		case refreshErr != nil:
			err = fmt.Errorf("%w: %w", err, refreshErr)
		case lastErr != nil:
			err = fmt.Errorf("%w: %w", err, lastErr)
		}
		return nil, next, err
	}
	grant := "func"
	if s.cfg.LoginFunc == nil {
		grant = s.cfg.Login.grantType()
	}
	s.emit(Event{Kind: EventRefreshStarted, Grant: grant})
	s.emit(Event{Kind: EventLogin, Grant: grant, Err: refreshErr})
	var t *Token
	var err error
	if s.cfg.LoginFunc != nil {
		t, err = s.cfg.LoginFunc(ctx)
		if err == nil && (t == nil || t.AccessToken == "") {
			err = errors.New("tokenkeeper: LoginFunc returned no access token")
		}
	} else {
		t, err = s.c.Token(ctx, s.cfg.Login)
	}
	s.mu.Lock()
	s.lastLoginErr = err
	if err != nil && (IsRetryable(err) || ctx.Err() != nil) && !errors.Is(err, ErrRateLimited) {
		// The provider never judged this attempt (network, 5xx): the
		// backoff spaces the next one, not ReloginInterval. A 429 or
		// DAERR-LOG013 is a verdict on logging in: it counts.
		s.lastLogin = last
	}
	s.mu.Unlock()
	if err != nil {
		return nil, time.Time{}, err
	}
	return s.publish(ctx, t, grant, true), time.Time{}, nil
}
