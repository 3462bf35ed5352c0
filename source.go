package tokenkeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// Defaults of SourceConfig.
const (
	// DefaultEarlyRefresh is the most time before expiry at which a
	// background refresh starts; a token refreshes after at most three
	// quarters of its lifetime in any case.
	DefaultEarlyRefresh = 5 * time.Minute
	// DefaultSkew is the most time before expiry at which a token is no
	// longer served; at most a tenth of the token's lifetime.
	DefaultSkew = 3 * time.Second
	// DefaultRefreshTimeout bounds one refresh, retries of a shared lock
	// included.
	DefaultRefreshTimeout = 30 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the delay between two
	// failed refreshes (exponential, with jitter).
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultReloginInterval is the least time between two logins, so that
	// a rejected refresh token never turns into a login loop (Daxium Air
	// locks accounts out after too many attempts).
	DefaultReloginInterval = time.Minute
)

// SourceConfig configures a Source. At least one of Token, Store, Login or
// LoginFunc must give the Source a way to its first token.
type SourceConfig struct {
	// Token is the initial token. It may hold only a refresh token
	// (Transiteo's console token): the first use then refreshes it.
	Token *Token
	// Store loads the token when Token is nil, and saves every new token.
	// Nil means a MemoryStore. A Store that is also a Locker coordinates
	// refreshes between processes.
	Store Store
	// Login gets a token from scratch, for the first token and when the
	// refresh token is rejected (PasswordGrant, ClientCredentialsGrant).
	Login Grant
	// LoginFunc is called instead of Login, when set.
	LoginFunc func(ctx context.Context) (*Token, error)

	// EarlyRefresh is the most time before expiry at which a token is
	// refreshed in the background while still being served. Zero means
	// DefaultEarlyRefresh; it is capped at a quarter of the lifetime.
	EarlyRefresh time.Duration
	// Skew is the time before expiry after which a token is no longer
	// served and callers wait for the refresh. Zero means DefaultSkew; it
	// is capped at a tenth of the lifetime. Negative means no skew.
	Skew time.Duration
	// RefreshTimeout bounds each refresh, whatever the callers' contexts.
	// Zero means DefaultRefreshTimeout.
	RefreshTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait after a transient failure
	// (network, 5xx, 429, timeout) before the next attempt. A permanent
	// failure (invalid_grant, invalid_client, a login needed) waits
	// MaxBackoff, so that it is not retried in a loop. Zero means the
	// defaults. A server's Retry-After is honoured when longer (up to an
	// hour). During the wait, callers that need a new token get the
	// failure at once.
	MinBackoff, MaxBackoff time.Duration
	// ReloginInterval is the least time between two logins; every login
	// attempt counts, the first one and failed ones included. Zero means
	// DefaultReloginInterval.
	ReloginInterval time.Duration

	// OnToken, if set, is called with every new token after the Store
	// saved it and before any caller can use it: the token is not yet
	// current when OnToken runs (EventRefreshSucceeded follows once it
	// is). It is the place to persist a rotated refresh token elsewhere.
	// It must not block long and must not call the Source.
	OnToken func(ctx context.Context, t *Token)
	// OnEvent, if set, receives every Event, synchronously, for metrics.
	// It must not block long and must not call the Source.
	OnEvent func(Event)
	// Logger, if set, receives the same events (refresh, retry, login,
	// store failure, 401 recovery) without secrets.
	Logger *slog.Logger
}

// EventKind says what happened.
type EventKind int

// The kinds of Event.
const (
	// EventRefreshStarted: a refresh (or login) attempt began.
	EventRefreshStarted EventKind = iota + 1
	// EventRefreshSucceeded: a new token is in use.
	EventRefreshSucceeded
	// EventRefreshFailed: an attempt failed; Err says why, Delay when the
	// next attempt may start.
	EventRefreshFailed
	// EventLogin: the login grant was used (first token or re-login).
	EventLogin
	// EventStoreFailed: Store.Save or Load failed; the token in memory
	// is kept and used.
	EventStoreFailed
	// EventSharedToken: another process holding the shared lock
	// refreshed; its token was taken from the Store.
	EventSharedToken
	// EventLockFallback: the shared lock could not be used (the store is
	// unreachable); the refresh went ahead in this process only.
	EventLockFallback
	// EventUnauthorized: an API answered 401 to the current token and the
	// Transport refreshed; Recovered tells whether the request was
	// replayed.
	EventUnauthorized
)

var eventNames = [...]string{
	EventRefreshStarted:   "refresh started",
	EventRefreshSucceeded: "refresh succeeded",
	EventRefreshFailed:    "refresh failed",
	EventLogin:            "login",
	EventStoreFailed:      "store failed",
	EventSharedToken:      "token taken from shared store",
	EventLockFallback:     "shared lock unavailable, refreshing locally",
	EventUnauthorized:     "401 from API",
}

// String returns a short description of the kind.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event describes something a Source did, for logs and metrics. It holds
// no secret.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Grant is the grant type used, if any.
	Grant string
	// Failures is the number of consecutive failed attempts, this one
	// included.
	Failures int
	// Delay is how long until the next attempt may start (failures).
	Delay time.Duration
	// Elapsed is how long the attempt took.
	Elapsed time.Duration
	// Recovered is set on EventUnauthorized when the request was replayed.
	Recovered bool
	// Err is the failure, if any.
	Err error
}

// state is one published token with what the hot path needs, computed
// once: when it goes stale, when it expires, and the header value.
type state struct {
	tok      *Token
	staleAt  time.Time
	expireAt time.Time
	hdr      []string // credential header value, shared read-only
	hdrErr   error    // why the token cannot be sent as the credential
	gen      uint64
	grant    string // how the token was obtained, for events
	// header is the whole header of a request that sets none: the
	// Client's extra headers and the credential. It is cloned for each
	// such request (one copy of a small map, cheaper than building it),
	// never handed out.
	header http.Header
}

// farFuture stands for "never" in state times.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// flight is one refresh in progress; waiters block on done.
type flight struct {
	done chan struct{}
	st   *state
	err  error
}

// Source hands out a valid token for one credential and keeps it fresh:
// it refreshes early in the background, once however many goroutines ask,
// retries transient failures with backoff while the token is still valid,
// follows refresh token rotation, logs in again when the refresh token is
// rejected, and saves every new token to its Store.
//
// A Source is safe for concurrent use by multiple goroutines. Reading a
// fresh token takes no lock. Call Close to stop background work.
type Source struct {
	c   *Client
	cfg SourceConfig

	cur    atomic.Pointer[state]
	gen    atomic.Uint64
	closed atomic.Bool
	// flying and retryAt (unix nanoseconds) let the stale path skip the
	// mutex when nothing can start.
	flying  atomic.Bool
	retryAt atomic.Int64
	// sysClock is set when the Client uses the system clock: get then
	// tells a fresh token by the monotonic clock alone.
	sysClock bool

	ctx    context.Context // base of refresh contexts; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex // guards the fields below
	flight       *flight
	failures     int
	lastErr      error
	lastLogin    time.Time
	lastLoginErr error // the failure of the last login, if it failed
	loaded       bool  // the Store was read, or holds our token
}

// NewSource returns a Source managing the credential of c. It does no I/O:
// the first token is loaded, refreshed or logged in on first use.
func NewSource(c *Client, cfg SourceConfig) (*Source, error) {
	if c == nil {
		return nil, errors.New("tokenkeeper: NewSource: nil Client")
	}
	if cfg.Token == nil && cfg.Store == nil && cfg.Login == nil && cfg.LoginFunc == nil {
		return nil, errors.New("tokenkeeper: NewSource: no Token, Store, Login or LoginFunc: no way to a first token")
	}
	if cfg.Token != nil && cfg.Token.AccessToken == "" && cfg.Token.RefreshToken == "" {
		return nil, errors.New("tokenkeeper: NewSource: Token has neither an access nor a refresh token")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"EarlyRefresh", cfg.EarlyRefresh}, {"RefreshTimeout", cfg.RefreshTimeout}, {"MinBackoff", cfg.MinBackoff}, {"MaxBackoff", cfg.MaxBackoff}, {"ReloginInterval", cfg.ReloginInterval}} {
		if d.v < 0 {
			return nil, fmt.Errorf("tokenkeeper: NewSource: %s is negative", d.name)
		}
	}
	setDefault(&cfg.EarlyRefresh, DefaultEarlyRefresh)
	setDefault(&cfg.Skew, DefaultSkew)
	if cfg.Skew < 0 {
		cfg.Skew = 0
	}
	setDefault(&cfg.RefreshTimeout, DefaultRefreshTimeout)
	setDefault(&cfg.MinBackoff, DefaultMinBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	setDefault(&cfg.ReloginInterval, DefaultReloginInterval)
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, errors.New("tokenkeeper: NewSource: MaxBackoff is less than MinBackoff")
	}
	if cfg.Store == nil {
		cfg.Store = &MemoryStore{}
	}
	s := &Source{c: c, cfg: cfg}
	_, s.sysClock = c.clock.(systemClock)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.Token != nil {
		st := s.newState(cfg.Token.clone())
		if st.hdrErr != nil {
			s.cancel()
			return nil, fmt.Errorf("tokenkeeper: NewSource: %w", st.hdrErr)
		}
		s.cur.Store(st)
		s.loaded = true
	}
	return s, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// Client returns the Client the Source refreshes with.
func (s *Source) Client() *Client { return s.c }

// TokenContext returns a valid token. A fresh token is returned at once;
// a token inside the early-refresh window is returned at once too, and one
// background refresh starts. When no valid token remains, the caller waits
// for the one refresh in flight, until ctx ends; the refresh itself goes on
// for the other callers. The token is shared: do not modify it.
func (s *Source) TokenContext(ctx context.Context) (*Token, error) {
	st, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.tok, nil
}

// Token returns a valid token as an *oauth2.Token, making Source an
// oauth2.TokenSource. It waits at most RefreshTimeout for a refresh; use
// TokenContext to pass a context.
func (s *Source) Token() (*oauth2.Token, error) {
	t, err := s.TokenContext(context.Background())
	if err != nil {
		return nil, err
	}
	return t.OAuth2(), nil
}

// Close stops background work and waits for a refresh in flight to end
// (its context is cancelled); callers waiting for it get ErrClosed.
// Afterwards every call returns ErrClosed. Close is idempotent.
func (s *Source) Close() error {
	s.mu.Lock()
	s.closed.Store(true)
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// Format prints a description of the source without secrets.
func (s *Source) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "tokenkeeper.Source{%v token=%v}", s.c, s.current())
}

// current returns the current token, or nil.
func (s *Source) current() *Token {
	if st := s.cur.Load(); st != nil {
		return st.tok
	}
	return nil
}

// get is the hot path: one atomic load and a clock read for a fresh
// token.
func (s *Source) get(ctx context.Context) (*state, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	st := s.cur.Load()
	if st != nil {
		// time.Until reads only the monotonic clock when staleAt has a
		// monotonic reading, which is cheaper than time.Now and gives
		// the same answer as now.Before(st.staleAt).
		if s.sysClock && time.Until(st.staleAt) > 0 {
			return st, nil
		}
		now := s.c.now()
		if now.Before(st.staleAt) {
			return st, nil
		}
		if now.Before(st.expireAt) {
			s.refreshInBackground(st, now)
			return st, nil
		}
	}
	return s.await(ctx, st)
}

// refreshInBackground starts a refresh of st unless one is running or the
// backoff after a failure has not passed.
func (s *Source) refreshInBackground(st *state, now time.Time) {
	if s.flying.Load() || now.UnixNano() < s.retryAt.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flight == nil && !s.closed.Load() && s.cur.Load() == st {
		s.startLocked(st)
	}
}

// await waits for a refresh that replaces st, which has expired or which
// an API rejected. A token that replaced st meanwhile and is still valid is
// returned at once, without a new refresh. During the backoff after a
// failed refresh, the failure is returned at once.
func (s *Source) await(ctx context.Context, st *state) (*state, error) {
	for round := 0; ; round++ {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		now := s.c.now()
		cur := s.cur.Load()
		if cur != nil && cur != st && now.Before(cur.expireAt) {
			// Replaced while we were deciding to wait.
			s.mu.Unlock()
			return cur, nil
		}
		f := s.flight
		if f == nil {
			if s.lastErr != nil && now.UnixNano() < s.retryAt.Load() {
				err := s.lastErr
				s.mu.Unlock()
				return nil, err
			}
			f = s.startLocked(cur)
		}
		s.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			return nil, f.err
		}
		// A flight that was ending when we joined it may bring a token
		// that expired meanwhile (the clock jumped, or the process was
		// suspended): wait for one more, not forever.
		if round < 2 && !s.c.now().Before(f.st.expireAt) {
			st = f.st
			continue
		}
		return f.st, nil
	}
}

// startLocked starts a refresh flight from old. s.mu must be held.
func (s *Source) startLocked(old *state) *flight {
	f := &flight{done: make(chan struct{})}
	s.flight = f
	s.flying.Store(true)
	s.wg.Add(1)
	go s.run(f, old)
	return f
}

// run performs one refresh flight and publishes its result.
func (s *Source) run(f *flight, old *state) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RefreshTimeout)
	defer cancel()
	start := time.Now()
	st, notBefore, err := s.refresh(ctx, old)
	if err == nil && st.hdrErr != nil {
		// Published for its refresh token, never served.
		err, st = &unsendableError{err: st.hdrErr}, nil
	}
	cause := err // what the backoff and the event see
	switch {
	case err == nil:
	case s.ctx.Err() != nil:
		// Close cancelled the refresh: the waiters learn that the
		// Source is closed, not that a context they never saw ended.
		err = ErrClosed
	case ctx.Err() == context.DeadlineExceeded && errors.Is(err, context.DeadlineExceeded):
		err = &refreshTimeoutError{timeout: s.cfg.RefreshTimeout, err: err}
		cause = err
	}

	var ev Event
	s.mu.Lock()
	now := s.c.now()
	if err != nil {
		s.failures++
		delay := s.backoff(s.failures, cause)
		if t := notBefore.Sub(now); t > delay {
			delay = t
		}
		s.lastErr = err
		s.retryAt.Store(now.Add(delay).UnixNano())
		ev = Event{Kind: EventRefreshFailed, Failures: s.failures, Delay: delay, Elapsed: time.Since(start), Err: cause}
	} else {
		s.failures = 0
		s.lastErr = nil
		s.retryAt.Store(0)
		ev = Event{Kind: EventRefreshSucceeded, Grant: st.grant, Elapsed: time.Since(start)}
	}
	f.st, f.err = st, err
	s.flight = nil
	s.flying.Store(false)
	s.mu.Unlock()
	// Outside the lock, so that a slow OnEvent or Logger does not hold up
	// callers deciding whether to refresh; before the waiters wake, so
	// that whoever sees the event sees the flight over.
	s.emit(ev)
	close(f.done)
}

// refreshTimeoutError is a refresh ended by RefreshTimeout or by the lease
// of a shared lock: the Source's own deadline, not a caller's, and so a transient failure (a net.Error
// that is a timeout) that errors.Is still matches with
// context.DeadlineExceeded.
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

// Unwrap returns the cause as a list: IsTemporary then sees this error as
// a timeout, not as the caller's context.DeadlineExceeded.
func (e *refreshTimeoutError) Unwrap() []error { return []error{e.err} }

// Timeout reports true: the refresh took too long.
func (e *refreshTimeoutError) Timeout() bool { return true }

// Temporary reports true: the next attempt may be faster.
func (e *refreshTimeoutError) Temporary() bool { return true }

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
	var ue *unsendableError
	if IsTemporary(err) || errors.As(err, &ue) {
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
func (s *Source) refresh(ctx context.Context, old *state) (st *state, notBefore time.Time, err error) {
	var base *Token
	if old != nil {
		base = old.tok
	}
	var loadErr error
	if !s.isLoaded() {
		t, err := s.cfg.Store.Load(ctx)
		if err != nil {
			// Not marked loaded: the next attempt reads the Store again.
			loadErr = err
			s.emit(Event{Kind: EventStoreFailed, Err: err})
		} else {
			s.setLoaded()
			if t != nil {
				if s.usable(t) {
					return s.publish(ctx, t, "store", false), time.Time{}, nil
				}
				base = t
			}
		}
	}

	if lk, ok := s.cfg.Store.(Locker); ok {
		var shared, stored *Token
		var held *heldLock
		shared, stored, held, err = s.lockShared(ctx, lk, base)
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
	if base != nil && base.RefreshToken != "" {
		s.emit(Event{Kind: EventRefreshStarted, Grant: "refresh_token"})
		t, err := s.c.Token(ctx, RefreshTokenGrant{RefreshToken: base.RefreshToken})
		if err == nil {
			if t.RefreshToken == "" {
				t.RefreshToken = base.RefreshToken
			}
			return s.publish(ctx, t, "refresh_token", true), time.Time{}, nil
		}
		if !needsLogin(err) {
			return nil, time.Time{}, err
		}
		refreshErr = err
	}
	return s.login(ctx, refreshErr, loadErr)
}

// newerRefresh reports whether stored carries a refresh token issued after
// base's.
func newerRefresh(stored, base *Token) bool {
	if stored == nil || stored.RefreshToken == "" {
		return false
	}
	return base == nil || (stored.RefreshToken != base.RefreshToken && stored.IssuedAt.After(base.IssuedAt))
}

// needsLogin reports whether a refresh failure means the refresh token is
// dead (so only a login can help): a permanent 400, 401 or 403 that is not
// about the client's own credentials.
func needsLogin(err error) bool {
	var pe *Error
	if !errors.As(err, &pe) || pe.Temporary() || errors.Is(pe, ErrInvalidClient) {
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
			return nil, time.Time{}, fmt.Errorf("%w: the Store could not be read and no login is configured: %w", ErrLoginRequired, loadErr)
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
	if err != nil && IsTemporary(err) {
		// The provider never judged this attempt (network, 5xx, 429):
		// the backoff spaces the next one, not ReloginInterval.
		s.lastLogin = last
	}
	s.mu.Unlock()
	if err != nil {
		return nil, time.Time{}, err
	}
	return s.publish(ctx, t, grant, true), time.Time{}, nil
}

// lockShared takes the shared refresh lock of lk. It returns the stored
// token as shared instead when it replaces old (another holder refreshed).
// Otherwise it returns unlock when this process holds the lock, and the
// token stored at that time. When the lock cannot be used (the store is
// down), it returns nothing and the refresh goes ahead locally.
func (s *Source) lockShared(ctx context.Context, lk Locker, old *Token) (shared, stored *Token, held *heldLock, err error) {
	wait := 20 * time.Millisecond
	for {
		tried := time.Now()
		unlock, ok, err := lk.TryLock(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, nil, ctx.Err()
			}
			s.emit(Event{Kind: EventLockFallback, Err: err})
			return nil, nil, nil, nil
		}
		t, lerr := s.cfg.Store.Load(ctx)
		if lerr != nil {
			s.emit(Event{Kind: EventStoreFailed, Err: lerr})
			t = nil
		}
		if s.replaces(t, old) {
			if ok {
				if uerr := unlock(ctx); uerr != nil {
					s.emit(Event{Kind: EventStoreFailed, Err: uerr})
				}
			}
			return t, nil, nil, nil
		}
		if ok {
			return nil, t, &heldLock{unlock: unlock, at: tried}, nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, nil, nil, fmt.Errorf("tokenkeeper: waiting for another process to refresh: %w", ctx.Err())
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}

// heldLock is a shared lock this process holds, taken no earlier than at.
type heldLock struct {
	unlock func(context.Context) error
	at     time.Time
}

// usable reports whether t can be served now: it has an access token that
// is not inside its safety skew.
func (s *Source) usable(t *Token) bool {
	if t == nil || t.AccessToken == "" {
		return false
	}
	now := s.c.now()
	return !t.ExpiresWithin(now, s.skewFor(t, now))
}

// replaces reports whether the stored token t is a usable successor of
// old: a different token, not older than old, that can be served now.
func (s *Source) replaces(t, old *Token) bool {
	if !s.usable(t) {
		return false
	}
	if old == nil {
		return true
	}
	differs := t.AccessToken != old.AccessToken || t.RefreshToken != old.RefreshToken
	return differs && !t.IssuedAt.Before(old.IssuedAt)
}

func (s *Source) isLoaded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loaded
}

func (s *Source) setLoaded() {
	s.mu.Lock()
	s.loaded = true
	s.mu.Unlock()
}

// publish makes t, obtained with grant, the current token: saved (when
// save is set), handed to OnToken, then visible to callers. A failed save
// is reported as an EventStoreFailed and does not stop t from being used:
// the new refresh token stays in memory, is used by the next refresh, and
// is saved again with the next token.
func (s *Source) publish(ctx context.Context, t *Token, grant string, save bool) *state {
	st := s.newState(t)
	st.grant = grant
	if save {
		if err := s.cfg.Store.Save(ctx, t); err != nil {
			s.emit(Event{Kind: EventStoreFailed, Grant: grant, Err: err})
		}
	}
	if s.cfg.OnToken != nil {
		s.cfg.OnToken(ctx, t)
	}
	s.cur.Store(st)
	s.setLoaded()
	return st
}

// newState computes when t goes stale and expires, and its header value. A
// token whose credential cannot be sent (a Transiteo preset and no
// id_token, a control character) gets hdrErr and counts as expired: run
// publishes it, so that its refresh token is kept, but reports the refresh
// as failed, and callers get the error until a refresh replaces it.
func (s *Source) newState(t *Token) *state {
	st := &state{tok: t, gen: s.gen.Add(1), staleAt: farFuture, expireAt: farFuture}
	now := s.c.now()
	switch {
	case t.AccessToken == "":
		st.staleAt, st.expireAt = time.Time{}, time.Time{}
	case !t.Expiry.IsZero():
		life := lifetime(t, now)
		st.expireAt = t.Expiry.Add(-s.skewFor(t, now))
		st.staleAt = t.Expiry.Add(-min(s.cfg.EarlyRefresh, life/4))
		if st.staleAt.After(st.expireAt) {
			st.staleAt = st.expireAt
		}
	}
	if t.AccessToken != "" {
		if v, err := s.c.credential.value(t); err != nil {
			// Never served: it is replaced as soon as the backoff
			// allows.
			st.hdrErr = err
			st.staleAt, st.expireAt = time.Time{}, time.Time{}
		} else {
			st.hdr = []string{v}
			st.header = s.c.requestHeader(nil, st.hdr)
		}
	}
	return st
}

// lifetime returns how long t is valid from its issue (or from now, if its
// issue time is unknown or in the future) to its expiry.
func lifetime(t *Token, now time.Time) time.Duration {
	issued := t.IssuedAt
	if issued.IsZero() || issued.After(now) {
		issued = now
	}
	return max(t.Expiry.Sub(issued), 0)
}

// skewFor returns the safety margin for t: Skew, at most a tenth of its
// lifetime.
func (s *Source) skewFor(t *Token, now time.Time) time.Duration {
	if t.Expiry.IsZero() {
		return 0
	}
	return min(s.cfg.Skew, lifetime(t, now)/10)
}

// emit sends ev to OnEvent and the Logger.
func (s *Source) emit(ev Event) {
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ev)
	}
	if s.cfg.Logger == nil {
		return
	}
	level := slog.LevelDebug
	attrs := make([]slog.Attr, 0, 6)
	if ev.Grant != "" {
		attrs = append(attrs, slog.String("grant_type", ev.Grant))
	}
	switch ev.Kind {
	case EventRefreshFailed:
		level = slog.LevelWarn
		attrs = append(attrs, slog.Int("failures", ev.Failures), slog.Duration("retry_in", ev.Delay), slog.Duration("elapsed", ev.Elapsed))
	case EventStoreFailed, EventLockFallback:
		level = slog.LevelWarn
	case EventLogin, EventUnauthorized:
		level = slog.LevelInfo
		if ev.Kind == EventUnauthorized {
			attrs = append(attrs, slog.Bool("recovered", ev.Recovered))
		}
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	s.cfg.Logger.LogAttrs(context.Background(), level, "tokenkeeper: "+ev.Kind.String(), attrs...)
}
