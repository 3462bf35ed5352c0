package tokenkeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// LoginFunc must give the Source a way to its first token. Login and
// LoginFunc are exclusive.
type SourceConfig struct {
	// Token is the initial token. It may hold only a refresh token
	// (Transiteo's console token): the first use then refreshes it. With
	// a Store too, Token only seeds an empty Store: a token already
	// stored (rotated by an earlier run) wins, read on first use.
	Token *Token
	// Store loads the token on first use, and saves every new token. Nil
	// means a MemoryStore. A Store that is also a Locker coordinates
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
	// attempt the provider answered counts, the first one, refused and
	// rate-limited ones included (a network failure or a 5xx does not).
	// Zero means DefaultReloginInterval.
	ReloginInterval time.Duration

	// OnToken, if set, is called with every token about to become
	// current: after the Store saved it when it comes from the token
	// endpoint, and also for a token read from the Store. The token is
	// not yet current when OnToken runs (EventRefreshSucceeded follows
	// once it is): it is the place to persist a rotated refresh token
	// elsewhere. It runs on the refresh goroutine, one call at a time. It
	// must not block long and must not call the Source: a Source waiting
	// on itself deadlocks.
	OnToken func(ctx context.Context, t *Token)
	// OnEvent, if set, receives every Event, synchronously, for metrics.
	// It is called from several goroutines at once (the refresh and the
	// requests of a Transport). It must not block long and must not call
	// the Source: a Source waiting on itself deadlocks.
	OnEvent func(Event)
	// Logger, if set, receives the same events (refresh, retry, login,
	// store failure, 401 recovery) without secrets.
	Logger *slog.Logger
}

// state is one published token with what the hot path needs, computed
// once: when it goes stale, when it expires, and the header value.
type state struct {
	tok      *Token
	staleAt  time.Time
	expireAt time.Time
	hdr      []string // credential header value, shared read-only
	hdrErr   error    // why the token cannot be sent as the credential
	grant    string   // how the token was obtained, for events
	// header is the whole header of a request that sets none: the
	// Client's extra headers and the credential. It is cloned for each
	// such request (one copy of a small map, cheaper than building it),
	// never handed out.
	header http.Header
}

// storeTimeout bounds saving a new token and the OnToken hook, which run
// even after the refresh's own deadline has passed.
const storeTimeout = 10 * time.Second

// forcedRefreshInterval is how long a token that a refresh forced by a 401
// produced is not refreshed again for a 401, so that an API that refuses
// every token (a missing scope, say) does not cost a token call per
// request.
const forcedRefreshInterval = 10 * time.Second

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
// fresh token takes no lock. Call Close to stop background work. The zero
// value is not usable: create a Source with NewSource.
type Source struct {
	c   *Client
	cfg SourceConfig

	cur    atomic.Pointer[state]
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
	seed         *Token
	// deadRefresh is a refresh token the provider rejected for good, and
	// deadErr why: it is not presented again.
	deadRefresh string
	deadErr     error
	// forcedResult is the token a refresh forced by a 401 produced, at
	// forcedAt: a 401 to it soon after forces no new refresh.
	forcedResult *state
	forcedAt     time.Time
	unsaved      *Token // the last new token, if saving it failed
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
	if cfg.Login != nil && cfg.LoginFunc != nil {
		return nil, errors.New("tokenkeeper: NewSource: both Login and LoginFunc are set")
	}
	if cfg.Login != nil {
		if _, err := cfg.Login.form(); err != nil {
			return nil, fmt.Errorf("tokenkeeper: NewSource: Login: %w", err)
		}
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
	ownStore := cfg.Store != nil
	if !ownStore {
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
		if ownStore {
			// The Store may hold a newer token: read it on first use.
			s.seed = st.tok
		} else {
			s.cur.Store(st)
			s.loaded = true
		}
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
// oauth2.TokenSource. It waits for a refresh in flight, which
// RefreshTimeout bounds; use TokenContext to pass a context. Through
// oauth2's own Transport, the token is sent as "Bearer <access_token>"
// whatever the Client's Credential says: use Transport for Transiteo.
func (s *Source) Token() (*oauth2.Token, error) {
	t, err := s.TokenContext(context.Background())
	if err != nil {
		return nil, err
	}
	return t.OAuth2(), nil
}

// Close stops background work. A refresh token request in flight is not
// cut short: the provider may already have rotated the refresh token, so
// Close waits for the answer (at most RefreshTimeout) and saves it (at most
// 10 s more); a login, a Store read or the wait for another process's
// shared lock stops at once. If the last new token could not be saved,
// Close tries once more. Afterwards every call returns ErrClosed. Close is
// idempotent.
func (s *Source) Close() error {
	s.mu.Lock()
	s.closed.Store(true)
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	unsaved := s.unsaved
	s.unsaved = nil
	s.mu.Unlock()
	if unsaved != nil {
		// The last new token could not be saved: one more try, so that
		// its refresh token outlives the process if it can.
		s.save(context.Background(), unsaved, "close")
	}
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
	// Not derived from s.ctx: Close must not cut a token request whose
	// answer may carry the only copy of a rotated refresh token.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RefreshTimeout)
	defer cancel()
	work, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(s.ctx, stop)()
	start := time.Now()
	st, notBefore, err := s.refresh(ctx, work, old)
	if err == nil && st.hdrErr != nil {
		// Published for its refresh token, never served.
		err, st = &unsendableError{err: st.hdrErr}, nil
	}
	cause := err // what the backoff and the event see
	switch {
	case err == nil:
	case errors.Is(err, ErrClosed):
		// Close stopped the refresh before anything was sent.
	case s.ctx.Err() != nil && errors.Is(err, context.Canceled):
		// Close cut a login or a Store read.
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

// usable reports whether t can be served now: it has an access token that
// is not inside its safety skew.
func (s *Source) usable(t *Token) bool {
	if t == nil || t.AccessToken == "" {
		return false
	}
	now := s.c.now()
	return !t.expiresWithin(now, s.skewFor(t, now))
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
	// The token is in hand: whatever deadline cut the refresh short
	// (RefreshTimeout, a lease, Close), saving it must still be tried.
	if save {
		s.save(context.WithoutCancel(ctx), t, grant)
	}
	if s.cfg.OnToken != nil {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		s.cfg.OnToken(hctx, t)
		cancel()
	}
	s.cur.Store(st)
	s.setLoaded()
	return st
}

// save stores t, or remembers it as unsaved (Close tries again) and
// reports the failure.
func (s *Source) save(ctx context.Context, t *Token, grant string) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	err := s.cfg.Store.Save(sctx, t)
	s.mu.Lock()
	if err != nil {
		s.unsaved = t
	} else if s.unsaved != nil {
		s.unsaved = nil
	}
	s.mu.Unlock()
	if err != nil {
		s.emit(Event{Kind: EventStoreFailed, Grant: grant, Err: err})
	}
}

// newState computes when t goes stale and expires, and its header value. A
// token whose credential cannot be sent (a Transiteo preset and no
// id_token, a control character) gets hdrErr and counts as expired: run
// publishes it, so that its refresh token is kept, but reports the refresh
// as failed, and callers get the error until a refresh replaces it.
func (s *Source) newState(t *Token) *state {
	st := &state{tok: t, staleAt: farFuture, expireAt: farFuture}
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
