package tokenkeeper

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// Defaults of SourceConfig.
const (
	defaultEarlyRefresh    = 5 * time.Minute
	defaultSkew            = 3 * time.Second
	defaultRefreshTimeout  = 30 * time.Second
	defaultMinBackoff      = time.Second
	defaultMaxBackoff      = time.Minute
	defaultReloginInterval = time.Minute
)

// SourceConfig configures a Source. At least one of Token, Store, Login or
// LoginFunc must give the Source a way to its first token. Login and
// LoginFunc are exclusive.
//
// # How a token ages
//
// A token is fresh until EarlyRefresh before its expiry (at most a quarter
// of its lifetime); then it is stale: still served, and one renewal starts
// in the background. From Skew before its expiry (at most a tenth of its
// lifetime) callers wait for that renewal instead, as long as one can
// replace the token: once renewals have failed, the token is served until
// its real expiry. A token whose issue time is unknown (IssuedAt zero)
// keeps both margins whole.
//
// # Renewal and re-login
//
// A token with a refresh token is renewed with it. A token without one
// (client credentials) is renewed by calling Login again, however short its
// lifetime. Login is also the way back when the provider rejects the
// refresh token for good; such a re-login, and any login after the
// provider refused one, waits ReloginInterval from the last login the
// provider answered. A rejected client (ErrInvalidClient) is never taken
// for a rejected refresh token: the refresh token is kept and no login is
// tried with a secret that was just refused.
//
// # Failures
//
// After a failed renewal, the next waits a backoff: after n failures in a
// row, base = MinBackoff·2^(n-1) capped at MaxBackoff, plus a random
// jitter of up to half of base, the sum capped at MaxBackoff; at least a
// server's Retry-After (up to an hour). A permanent failure (a login
// needed, the client or the login refused) waits MaxBackoff. A caller that
// needs a token and finds a transient failure waits for the next attempts
// while its context allows, and gets the last error at once when its
// deadline cannot reach the next attempt; a context without a deadline
// waits at most RefreshTimeout and a tenth. A permanent failure fails
// callers at once.
type SourceConfig struct {
	// Token is the initial token. It may hold only a refresh token
	// (Transiteo's console token): the first use then refreshes it. With
	// a Store too, Token only seeds an empty Store: a token already
	// stored (rotated by an earlier run) wins, read on first use.
	Token *Token
	// Store loads the token on first use, and saves every new token. Nil
	// keeps the token in memory only. A Store that is also a Locker
	// coordinates renewals between processes.
	Store Store
	// Login gets a token from scratch: the first token, the renewal of a
	// token without a refresh token, and a re-login when the refresh
	// token is rejected (PasswordGrant, ClientCredentialsGrant).
	Login Grant
	// LoginFunc is called instead of Login, when set.
	LoginFunc func(ctx context.Context) (*Token, error)

	// DPoP, when the Client has no DPoPKey, makes the Source prove
	// possession of a key of its own (RFC 9449) on its token requests
	// and, through a Transport, on API requests with the DPoP-bound
	// tokens it gets. The key is the one stored with the token in the
	// Store, if any, else a new ECDSA P-256 key. It travels with the
	// Source's tokens and EncodeToken stores it with them, so that a
	// refresh token bound to it (a public client's, RFC 9449 section 5)
	// still works after a restart: the Store now keeps a private key, so
	// seal it (FileStoreOptions.Keys). The ctx handed to LoginFunc signs
	// proofs with the key when given to a Client without a DPoPKey. A
	// stored token whose access token (a JWT) names another key in its
	// cnf.jkt is renewed with the stored key, not served. With a DPoPKey
	// on the Client, DPoP changes nothing.
	DPoP bool

	// EarlyRefresh is how long before expiry a token goes stale (see How
	// a token ages). Zero means 5 minutes.
	EarlyRefresh time.Duration
	// DisableEarlyRefresh renews a token only once it is inside its Skew,
	// with callers waiting, never in the background: for providers that
	// revoke an access token as soon as they issue the next one.
	DisableEarlyRefresh bool
	// Skew is how long before expiry callers stop being served a token
	// that a renewal can replace. Zero means 3 seconds; negative means no
	// skew.
	Skew time.Duration
	// RefreshTimeout bounds each renewal, whatever the callers' contexts,
	// and (with a tenth more) the wait of a caller whose context has no
	// deadline. Zero means 30 seconds.
	RefreshTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between failed renewals
	// (see Failures). Zero means 1 second and 1 minute. A MinBackoff above
	// the default maximum raises the maximum to it.
	MinBackoff, MaxBackoff time.Duration
	// ReloginInterval is the least time between a login the provider
	// answered and a re-login after a rejected refresh token or a refused
	// login. Zero means 1 minute. It never delays the renewal of a token
	// without a refresh token.
	ReloginInterval time.Duration

	// OnToken, if set, is called with every new token: after the Store
	// saved it, once it is current, and before the next renewal can
	// start, one call at a time. It is the place to persist a rotated
	// refresh token elsewhere. It must not block long. Its context ends
	// after 10 seconds; a call back into the Source with that context
	// that would wait for a renewal fails at once.
	OnToken func(ctx context.Context, t *Token)
	// OnEvent, if set, receives every Event, for metrics. The events of
	// a renewal are delivered in order when it ends (each carries its
	// Time), before the callers waiting for it wake, so that OnEvent may
	// call the Source; others are delivered as they happen, from several
	// goroutines at once. It must not block long.
	OnEvent func(Event)
}

// state is one published token with what the hot path needs, computed
// once: its ages and the header value.
type state struct {
	tok *Token
	// ages is nil when the token cannot be served: no access token, a
	// credential that cannot be sent, or refused by an API.
	ages   *ages
	hdr    []string // credential header value, shared read-only
	hdrErr error    // why the token cannot be sent as the credential
	grant  string   // how the token was obtained, for events
	// header is the whole header of a request that sets none: the
	// Client's extra headers and the credential. It is cloned for each
	// such request, never handed out.
	header http.Header
	// stale is ages.stale, or the zero time: the hot path's first test.
	stale time.Time
	// ath is the DPoP ath of a DPoP-bound token whose key is known, or
	// "": a Transport then signs a proof for each request with prover,
	// the Client's DPoPKey or else the token's own key.
	ath    string
	prover *dpopProver
}

// Source hands out a valid token for one credential and keeps it fresh:
// it renews early in the background, once however many goroutines ask,
// retries transient failures with backoff while the token is still valid,
// follows refresh token rotation, logs in again when the refresh token is
// rejected, and saves every new token to its Store. SourceConfig describes
// each of these rules.
//
// A Source is safe for concurrent use by multiple goroutines. Reading a
// fresh token takes no lock. Call Close to stop background work. The zero
// value is not usable: create a Source with NewSource.
type Source struct {
	c   *Client
	cfg sourceConfig

	cur    atomic.Pointer[state]
	closed atomic.Bool
	// flying and retryAt (unix nanoseconds) let the stale path decide
	// without the mutex.
	flying  atomic.Bool
	retryAt atomic.Int64
	// stale counts the requests served a stale token since the last
	// renewal ended (Event.Stale).
	stale atomic.Int64
	// sysClock is set when the Client uses the system clock: the hot path
	// then tells a fresh token by the monotonic clock alone.
	sysClock bool

	ctx    context.Context // base of renewal contexts; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards flight, flights, retry, changed, forced and forcedAt
	flight  *flight    // the renewal in flight, or nil
	flights uint64     // the number of flights started
	retry   retry
	// changed is closed (and replaced) when the current token changes or
	// the Source closes: callers waiting for a retry look again.
	changed chan struct{}
	// forced is the token a renewal forced by a 401 produced, at
	// forcedAt: a 401 to it soon after forces no new renewal.
	forced   *state
	forcedAt time.Time

	r renewer // owned by the running flight

	closeOnce sync.Once
	closeErr  error
}

// sourceConfig is a SourceConfig with its defaults filled in.
type sourceConfig struct {
	SourceConfig
	margins margins
	backoff backoff
}

// NewSource returns a Source managing the credential of c. It does no I/O:
// the first token is loaded, refreshed or logged in on first use.
func NewSource(c *Client, cfg SourceConfig) (*Source, error) {
	if c == nil {
		return nil, errors.New("tokenkeeper: NewSource: nil Client")
	}
	sc, err := newSourceConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &Source{c: c, cfg: sc, changed: make(chan struct{})}
	_, s.sysClock = c.clock.(systemClock)
	if cfg.Token != nil {
		st := s.newState(cfg.Token.clone(), "seed")
		if st.hdrErr != nil {
			return nil, fmt.Errorf("tokenkeeper: NewSource: %w", st.hdrErr)
		}
		if cfg.Store != nil {
			// The Store may hold a newer token: read it on first use.
			s.r.seed = st.tok
		} else {
			s.cur.Store(st)
			s.r.loaded = true
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// newSourceConfig checks cfg and fills in its defaults.
func newSourceConfig(cfg SourceConfig) (sourceConfig, error) {
	if errs := checkSourceConfig(cfg); len(errs) > 0 {
		return sourceConfig{}, fmt.Errorf("tokenkeeper: NewSource: %w", errors.Join(errs...))
	}
	setDefault(&cfg.EarlyRefresh, defaultEarlyRefresh)
	setDefault(&cfg.Skew, defaultSkew)
	setDefault(&cfg.RefreshTimeout, defaultRefreshTimeout)
	setDefault(&cfg.MinBackoff, defaultMinBackoff)
	setDefault(&cfg.MaxBackoff, max(defaultMaxBackoff, cfg.MinBackoff))
	setDefault(&cfg.ReloginInterval, defaultReloginInterval)
	if cfg.Store == nil {
		cfg.Store = &memoryStore{}
	}
	return sourceConfig{
		SourceConfig: cfg,
		margins:      margins{early: cfg.EarlyRefresh, skew: max(cfg.Skew, 0), noEarly: cfg.DisableEarlyRefresh},
		backoff:      backoff{min: cfg.MinBackoff, max: cfg.MaxBackoff},
	}, nil
}

// checkSourceConfig returns every problem of cfg.
func checkSourceConfig(cfg SourceConfig) []error {
	var errs []error
	if cfg.Token == nil && cfg.Store == nil && cfg.Login == nil && cfg.LoginFunc == nil {
		errs = append(errs, errors.New("no Token, Store, Login or LoginFunc: no way to a first token"))
	}
	if cfg.Token != nil && cfg.Token.AccessToken == "" && cfg.Token.RefreshToken == "" {
		errs = append(errs, errors.New("the Token has neither an access nor a refresh token"))
	}
	if cfg.Login != nil && cfg.LoginFunc != nil {
		errs = append(errs, errors.New("both Login and LoginFunc are set"))
	}
	if cfg.Login != nil {
		if _, err := cfg.Login.form(); err != nil {
			errs = append(errs, fmt.Errorf("the Login grant: %w", err))
		}
	}
	return append(errs, checkDurations(cfg)...)
}

// checkDurations returns the problems of cfg's durations.
func checkDurations(cfg SourceConfig) []error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"EarlyRefresh", cfg.EarlyRefresh}, {"RefreshTimeout", cfg.RefreshTimeout}, {"MinBackoff", cfg.MinBackoff}, {"MaxBackoff", cfg.MaxBackoff}, {"ReloginInterval", cfg.ReloginInterval}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative", d.name))
		}
	}
	if cfg.MinBackoff > 0 && cfg.MaxBackoff > 0 && cfg.MaxBackoff < cfg.MinBackoff {
		errs = append(errs, errors.New("MaxBackoff is less than MinBackoff"))
	}
	return errs
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

// TokenContext returns a valid token. A fresh token is returned at once;
// a stale one too, and one background renewal starts. When no token can be
// served, the caller waits for the renewal, and for the next attempts
// after transient failures, while ctx allows (see SourceConfig). The token
// is shared: do not modify it.
func (s *Source) TokenContext(ctx context.Context) (*Token, error) {
	st, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.tok, nil
}

// Token returns a valid token as an *oauth2.Token, making Source an
// oauth2.TokenSource. It waits at most RefreshTimeout and a tenth; use TokenContext to
// pass a context. Through oauth2's own Transport, the token is sent as
// "Bearer <access_token>" whatever the Client's Credential says: use
// Transport for Transiteo.
func (s *Source) Token() (*oauth2.Token, error) {
	t, err := s.TokenContext(context.Background())
	if err != nil {
		return nil, err
	}
	return t.OAuth2(), nil
}

// get is the hot path: one atomic load and a clock read for a fresh
// token.
func (s *Source) get(ctx context.Context) (*state, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	st := s.cur.Load()
	if st != nil && st.ages != nil {
		// time.Until reads only the monotonic clock when stale has a
		// monotonic reading, which is cheaper than time.Now and gives
		// the same answer.
		if s.sysClock && time.Until(st.stale) > 0 {
			return st, nil
		}
		now := s.c.now()
		switch decide(st.ages, now, s.flying.Load(), retry{next: time.Unix(0, s.retryAt.Load())}) {
		case serve:
			s.countStale(st, now)
			return st, nil
		case serveAndRenew:
			s.stale.Add(1)
			s.renewInBackground(ctx, st)
			return st, nil
		}
	}
	return s.await(ctx, nil)
}

// countStale counts a request served st at now, if st is stale.
func (s *Source) countStale(st *state, now time.Time) {
	if !now.Before(st.stale) {
		s.stale.Add(1)
	}
}

// renewInBackground starts a renewal of st if the policy still says so
// under the lock.
func (s *Source) renewInBackground(ctx context.Context, st *state) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed.Load() && s.cur.Load() == st && decide(st.ages, s.c.now(), s.flight != nil, s.retry) == serveAndRenew {
		s.start(ctx, triggerScheduled, s.renewJob(st))
	}
}

// maxFutile bounds the renewals one caller waits for that succeed but
// bring a token that has expired (the clock jumped, or the server issued
// an expired token).
const maxFutile = 3

// await waits until a token can be served, as decide says, or fails.
// refused, if not nil, is a token an API refused: it is not served, and a
// renewal replaces it unless another token did already.
func (s *Source) await(ctx context.Context, refused *state) (st *state, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, s.cfg.RefreshTimeout+s.cfg.RefreshTimeout/10, errWaitBound)
		defer cancel()
	}
	var waited waitRecord
	defer func() { s.waited(ctx, waited, err) }()
	futile := 0
	for {
		before := s.c.now() // before step starts a flight the caller may wait on
		st, w, err := s.step(ctx, refused)
		if st != nil || err != nil {
			return st, err
		}
		waited.note(before, w.f)
		joined := false
		select {
		case <-w.ch:
			joined = w.f != nil
		case <-w.changed:
		case <-ctx.Done():
			w.stop()
			return nil, s.callerDone(ctx)
		}
		w.stop()
		if cur := s.cur.Load(); joined && w.f.err == nil && cur != nil && cur.ages != nil && !s.c.now().Before(cur.ages.expiry) {
			// Expired on arrival (the clock jumped, or the process was
			// suspended): one more renewal, not for ever; then the
			// newest token, which the provider may still accept.
			if futile++; futile >= maxFutile {
				return cur, nil
			}
		}
	}
}

// waitRecord is what EventWaited says of a caller's wait.
type waitRecord struct {
	begun   time.Time // zero until the caller waits
	renewal uint64    // the last flight it waited on
}

// note records that the caller, which took its decision at now, is
// about to wait, on f if not nil.
func (w *waitRecord) note(now time.Time, f *flight) {
	if w.begun.IsZero() {
		w.begun = now
	}
	if f != nil {
		w.renewal = f.id
	}
}

// waited reports the wait w of a caller that ended with err, if it waited.
func (s *Source) waited(ctx context.Context, w waitRecord, err error) {
	if w.begun.IsZero() {
		return
	}
	s.emitContext(ctx, nil, Event{Kind: EventWaited, Elapsed: s.c.now().Sub(w.begun), Renewal: w.renewal, Err: err})
}

// wait is what a caller waits on: a flight, or the next attempt's time,
// and a change of the current token.
type wait struct {
	f       *flight // the flight joined, if any
	ch      <-chan struct{}
	changed <-chan struct{}
	stop    func()
}

// step takes one decision for a caller, under the lock: a token to serve,
// a failure, or what to wait on.
func (s *Source) step(ctx context.Context, refused *state) (*state, wait, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, wait{}, ErrClosed
	}
	now := s.c.now()
	cur := s.cur.Load()
	var a *ages
	if cur != nil && cur != refused {
		a = cur.ages
	}
	w := wait{changed: s.changed, stop: func() {}}
	act := decide(a, now, s.flight != nil, s.retry)
	switch act {
	case serve:
		s.countStale(cur, now)
		return cur, w, nil
	case serveAndRenew:
		s.stale.Add(1)
		s.start(ctx, triggerScheduled, s.renewJob(cur))
		return cur, w, nil
	case fail:
		return nil, w, s.retry.err
	}
	if ctx.Value(hookKey{}) == s {
		return nil, w, errors.New("tokenkeeper: OnToken called the Source, which would wait on the renewal running OnToken")
	}
	switch act {
	case join:
		w.f, w.changed = s.flight, nil
		w.ch = w.f.done
	case renewAndJoin:
		w.f, w.changed = s.start(ctx, triggerOf(cur, refused), s.renewJob(cur)), nil
		w.ch = w.f.done
	case waitRetry:
		d := s.retry.next.Sub(now)
		if dl, _ := ctx.Deadline(); time.Until(dl) < d {
			// The caller's deadline cannot reach the next attempt.
			return nil, w, s.retry.err
		}
		ch := make(chan struct{})
		w.ch, w.stop = ch, s.after(d, func() { close(ch) })
	}
	return nil, w, nil
}

// triggerOf says why a caller that cannot be served cur starts a renewal.
func triggerOf(cur, refused *state) string {
	switch {
	case cur == nil || cur.tok.AccessToken == "":
		return triggerInitial
	case refused != nil:
		return triggerUnauthorized
	}
	return triggerExpired
}

// errWaitBound ends the wait of a caller whose context has no deadline.
var errWaitBound = errors.New("tokenkeeper: no token within RefreshTimeout and a tenth")

// callerDone returns the error for a caller whose context ended while it
// waited: when the context had no deadline of its own (RefreshTimeout ran
// out), the last failure or errWaitBound, else the context's error.
func (s *Source) callerDone(ctx context.Context) error {
	if context.Cause(ctx) != errWaitBound {
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retry.err != nil {
		return s.retry.err
	}
	return errWaitBound
}

// after calls f after d on the Client's clock: on its own timer when the
// clock has one (oauthtest.Clock), else on the system's. The returned stop
// cancels the call.
func (s *Source) after(d time.Duration, f func()) (stop func()) {
	if c, ok := s.c.clock.(interface {
		AfterFunc(time.Duration, func()) func() bool
	}); ok {
		stopClock := c.AfterFunc(d, f)
		return func() { stopClock() }
	}
	t := time.AfterFunc(d, f)
	return func() { t.Stop() }
}

// SetToken makes t the Source's token, as if a renewal had brought it:
// saved to the Store, handed to OnToken, served to callers (waiting ones
// included), and the record of failures, of a rejected refresh token and
// of a refused login cleared. It is the way back after ErrLoginRequired:
// give the Source the token of a new interactive login. It waits for a
// renewal in flight to end first. A failure to save t is returned, and t is
// used all the same.
func (s *Source) SetToken(ctx context.Context, t *Token) error {
	if t == nil || (t.AccessToken == "" && t.RefreshToken == "") {
		return errors.New("tokenkeeper: SetToken: the token has neither an access nor a refresh token")
	}
	t = t.clone()
	for {
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			return ErrClosed
		}
		f := s.flight
		adopting := f == nil
		if adopting {
			f = s.start(ctx, triggerManual, s.adoptJob(t))
		}
		s.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if adopting {
			return errors.Join(f.err, f.saveErr)
		}
	}
}

// Renew returns the successor of refused, a token that an API rejected.
// If refused is no longer the current token (another caller reported it
// already), the current one is returned without a new renewal, so that
// many callers seeing one revocation cause one renewal. Tokens are
// compared by their access and id tokens, so a copy of the current token
// counts as the current token. Transport calls it on a 401; use it in code
// that calls APIs without Transport.
func (s *Source) Renew(ctx context.Context, refused *Token) (*Token, error) {
	st := s.cur.Load()
	if st == nil || refused == nil || !sameCredentials(st.tok, refused) {
		return s.TokenContext(ctx)
	}
	next, err := s.replace(ctx, st)
	if err != nil {
		return nil, err
	}
	return next.tok, nil
}

// replace waits for the successor of st, which an API refused. If the
// renewal failed for good (not the caller's context, not a passing
// outage), st is no longer served: until a renewal succeeds, callers get
// the renewal's error rather than a token known to be refused.
func (s *Source) replace(ctx context.Context, st *state) (*state, error) {
	next, err := s.await(ctx, st)
	if err == nil {
		return next, nil
	}
	if ctx.Err() == nil && classify(err) == permanent {
		refused := *st
		refused.ages, refused.stale = nil, time.Time{}
		// Only if st is still current: a renewal may have published a
		// newer token meanwhile.
		s.cur.CompareAndSwap(st, &refused)
	}
	return nil, err
}

// sameCredentials reports whether a and b carry the same access and id
// tokens.
func sameCredentials(a, b *Token) bool {
	return a == b || (a.AccessToken == b.AccessToken && a.IDToken == b.IDToken)
}

// forcedInterval is how long a token that a renewal forced by a 401
// produced is not renewed again for a 401, so that an API that refuses
// every token (a missing scope, say) does not cost a token call per
// request.
const forcedInterval = 10 * time.Second

// errForcedTooSoon is why a 401 did not force a renewal.
var errForcedTooSoon = errors.New("tokenkeeper: the API refused a token again soon after a forced renewal; not renewing again yet")

// mayForce reports whether a 401 to st may force a renewal: not when st
// is itself the result of a renewal forced by a 401 less than
// forcedInterval ago. Any other 401 may: a genuine revocation, or many
// requests refused at once (they share one renewal).
func (s *Source) mayForce(st *state) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return st != s.forced || s.c.now().Sub(s.forcedAt) >= forcedInterval
}

// noteForced records next as the result of a renewal forced by a 401.
func (s *Source) noteForced(next *state) {
	s.mu.Lock()
	s.forced, s.forcedAt = next, s.c.now()
	s.mu.Unlock()
}

// renewAfter401 starts a renewal of st, refused by an API, without
// waiting: unless st was already replaced, a renewal runs, or the backoff
// has not passed.
func (s *Source) renewAfter401(ctx context.Context, st *state) {
	if !s.mayForce(st) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur.Load() == st && s.flight == nil && !s.closed.Load() && !s.c.now().Before(s.retry.next) {
		s.start(ctx, triggerUnauthorized, s.renewJob(st))
	}
}

// Close stops background work. A refresh token request in flight is not
// cut short: the provider may already have rotated the refresh token, so
// Close waits for the answer (at most RefreshTimeout) and saves it (at most
// 10 s more); a login, a Store read or the wait for another process's
// shared lock stops at once. If the last new token could not be saved,
// Close tries once more, and returns the error if that fails too: the
// token's refresh token then dies with the process. Afterwards every call
// returns ErrClosed. Close is idempotent.
func (s *Source) Close() error {
	s.mu.Lock()
	s.closed.Store(true)
	s.wakeLocked()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.closeOnce.Do(func() {
		if t := s.r.unsaved; t != nil {
			s.r.unsaved = nil
			f := &flight{}
			if err := s.save(f, context.Background(), t, "close"); err != nil {
				s.closeErr = wrap(errors.New("tokenkeeper: Close: the last token could not be saved"), err)
			}
			s.deliver(f)
		}
	})
	return s.closeErr
}

// Format prints a description of the source without secrets.
func (s *Source) Format(f fmt.State, verb rune) {
	var tok *Token
	if st := s.cur.Load(); st != nil {
		tok = st.tok
	}
	fmt.Fprintf(f, "tokenkeeper.Source{%v token=%v}", s.c, tok)
}

// usable reports whether t can be served now: it has an access token that
// is not inside its skew.
func (s *Source) usable(t *Token) bool {
	if t == nil || t.AccessToken == "" {
		return false
	}
	return s.c.now().Before(agesOf(t.IssuedAt, t.Expiry, s.cfg.margins).skew)
}

// newState computes the ages of t and its header value. A token whose
// credential cannot be sent (a Transiteo preset and no id_token, a control
// character) gets hdrErr and no ages: it is published for its refresh
// token, never served.
func (s *Source) newState(t *Token, grant string) *state {
	st := &state{tok: t, grant: grant}
	if t.AccessToken == "" {
		return st
	}
	v, err := s.c.credential.value(t)
	if err != nil {
		st.hdrErr = err
		return st
	}
	a := agesOf(t.IssuedAt, t.Expiry, s.cfg.margins)
	st.ages, st.stale = &a, a.stale
	st.hdr = []string{v}
	st.header = s.c.requestHeader(nil, st.hdr)
	st.prover = s.c.dpop
	if st.prover == nil {
		st.prover = t.dpop
	}
	st.ath = s.c.dpopATH(st.prover, t)
	return st
}
