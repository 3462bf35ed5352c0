package tokenkeeper

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"time"
)

// This file holds the renewal: one flight at a time, each a sequence of
// small steps (read the Store, take the shared lock, redeem the refresh
// token, log in), and what it publishes.

// flight is one renewal (or SetToken) in progress. Callers that need its
// result wait on done. Its events are delivered to OnEvent once the Source
// no longer counts it as running, and before its waiters wake: a hook that
// calls back into the Source never waits on the flight that called it.
type flight struct {
	done chan struct{}
	err  error // set before done is closed
	// saveErr is the failure to save the token the flight published.
	saveErr error
	// events are queued by the flight's goroutine only.
	events []Event

	// What its events say of it (see Event), set when it starts.
	id        uint64
	trigger   string
	remaining time.Duration
	ctx       context.Context // the caller that started it: its values only (callerValues)
	begun     time.Time       // by the Client's clock
	lockWait  time.Duration   // set by the flight's goroutine
}

// job is the work of a flight. ctx bounds it (RefreshTimeout); work is ctx
// cut short by Close as well, for everything but a refresh token request,
// whose answer may hold the only copy of a rotated refresh token. It
// returns the failure, if any.
type job func(f *flight, ctx, work context.Context) error

// renewer holds what only the goroutine of the running flight touches:
// flights run one at a time, each started under Source.mu after the last
// one ended, so these fields need no lock.
type renewer struct {
	loaded  bool   // the Store was read, or holds our token
	seed    *Token // SourceConfig.Token, until the Store is read
	loadErr error  // why the Store could not be read, if it could not
	// deadRefresh is a refresh token the provider rejected for good, and
	// deadErr why: it is not presented again.
	deadRefresh string
	deadErr     error
	// lastLogin is when the provider last answered a login; loginRefused
	// is its refusal, if it refused.
	lastLogin    time.Time
	loginRefused error
	unsaved      *Token // the last new token, if saving it failed
	// dpop is the Source's own DPoP key (SourceConfig.DPoP): the key of
	// the last token published that has one, or the one generated.
	dpop *dpopProver
}

// start starts flight j, for trigger, on behalf of the caller of ctx
// (whose values its events and its token requests carry, never its
// cancellation). s.mu must be
// held and no flight may be running.
func (s *Source) start(ctx context.Context, trigger string, j job) *flight {
	now := s.c.now()
	s.flights++
	f := &flight{done: make(chan struct{}), id: s.flights, trigger: trigger, ctx: ctx, begun: now}
	if st := s.cur.Load(); st != nil && st.ages != nil && st.ages.expiry != farFuture {
		f.remaining = st.ages.expiry.Sub(now)
	}
	s.flight = f
	s.flying.Store(true)
	s.wg.Add(1)
	go s.run(f, j)
	return f
}

// run performs flight f, records its outcome in the retry state, and
// releases its waiters.
func (s *Source) run(f *flight, j job) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(callerValues(f.ctx), s.cfg.RefreshTimeout)
	defer cancel()
	work, stop := context.WithCancel(ctx)
	defer stop()
	defer context.AfterFunc(s.ctx, stop)()
	err := j(f, ctx, work)
	err = s.explain(ctx, err)

	var ev Event
	s.mu.Lock()
	now := s.c.now()
	switch k := classify(err); {
	case err == nil:
		s.retry = retry{}
		ev = Event{Kind: EventRefreshSucceeded, Grant: s.grantOfCurrent()}
	case k == closing:
	default:
		s.retry = s.retry.failed(now, k, err, s.cfg.backoff)
		ev = Event{Kind: EventRefreshFailed, Failures: s.retry.failures, Delay: s.retry.next.Sub(now), Err: err}
	}
	s.retryAt.Store(unixNano(s.retry.next))
	f.err = err
	s.flight = nil
	s.flying.Store(false)
	s.mu.Unlock()

	if ev.Kind != "" {
		ev.Elapsed = s.c.now().Sub(f.begun)
		ev.Stale, ev.LockWait = s.stale.Swap(0), f.lockWait
		s.emit(f, ev)
	}
	// The flight is over for the Source (a hook may start the next one)
	// but not yet for its waiters: they see every event it had.
	s.deliver(f)
	close(f.done)
}

// callerValues returns a context with the values of caller, the context of
// the request that started a flight, for the flight's token request: a
// tracing span there makes the request's own spans (otelhttp on the
// Client's HTTP client) part of the caller's trace, and a Logger's handler
// sees the same values. It has neither caller's deadline nor its
// cancellation: the renewal is shared and may outlive its caller. Nor
// does it carry an httptrace.ClientTrace, whose hooks belong to the
// caller's own request, or the mark of an OnToken hook.
func callerValues(caller context.Context) context.Context {
	if caller == nil {
		return context.Background()
	}
	return valuesOnly{context.WithoutCancel(caller)}
}

// valuesOnly is a context without cancellation whose values are those of
// the caller it wraps, less the ones of callerValues' doc.
type valuesOnly struct{ context.Context }

func (c valuesOnly) Value(key any) any {
	if _, hook := key.(hookKey); hook {
		return nil
	}
	v := c.Context.Value(key)
	if _, trace := v.(*httptrace.ClientTrace); trace {
		return nil
	}
	return v
}

// unixNano returns t in unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// grantOfCurrent returns how the current token was obtained.
func (s *Source) grantOfCurrent() string {
	if st := s.cur.Load(); st != nil {
		return st.grant
	}
	return ""
}

// explain turns a flight's error into what callers see: ErrClosed when
// Close cut it, and a refreshTimeoutError when RefreshTimeout did.
func (s *Source) explain(ctx context.Context, err error) error {
	switch {
	case err == nil, errors.Is(err, ErrClosed):
		return err
	case s.ctx.Err() != nil && errors.Is(err, context.Canceled):
		return ErrClosed
	case ctx.Err() == context.DeadlineExceeded && errors.Is(err, context.DeadlineExceeded):
		return &refreshTimeoutError{timeout: s.cfg.RefreshTimeout, err: err}
	}
	return err
}

// renewJob returns the job that replaces old (nil when there is no token
// yet): from the Store on first use, from the shared store if another
// process renewed it, else by refresh token, else by login.
func (s *Source) renewJob(old *state) job {
	return func(f *flight, ctx, work context.Context) error {
		var base *Token
		if old != nil {
			base = old.tok
		}
		if !s.r.loaded {
			t, done, err := s.loadFirst(f, ctx, work)
			if done {
				return err
			}
			if t != nil {
				base = t
			}
		}
		if s.ctx.Err() != nil {
			return ErrClosed
		}
		if lk, ok := s.cfg.Store.(Locker); ok {
			held, err := s.lockShared(f, work, lk, base)
			if err != nil || held.adopted {
				return err
			}
			defer held.release(ctx)
			lctx, cancel := held.bound(ctx)
			defer cancel()
			return held.explain(ctx, lctx, s.redeem(f, lctx, work, held.base))
		}
		return s.redeem(f, ctx, work, base)
	}
}

// loadFirst reads the Store on first use. A stored (or seeded) token that
// can be served is published, and done is set. Otherwise it returns the
// token to renew from (expired, or only a refresh token), if any. When the
// Store cannot be read, a usable seed is served from memory (and the Store
// read again next time); without one, only a login can help: its outcome
// is returned with done set.
func (s *Source) loadFirst(f *flight, ctx, work context.Context) (base *Token, done bool, err error) {
	t, lerr := s.cfg.Store.Load(work)
	t = withoutForeignAccess(t)
	s.storeWarning(f)
	_, shared := s.cfg.Store.(Locker)
	switch {
	case lerr != nil && errors.Is(lerr, ErrCorruptStore):
		// Nothing can be recovered from it: as if empty, and
		// overwritten by the next token.
		s.emit(f, Event{Kind: EventStoreFailed, Op: opLoad, Err: lerr})
		s.r.loaded, s.r.loadErr = true, lerr
	case lerr != nil:
		// The Store may hold a newer token than the seed: the seed's
		// refresh token is not presented, nor saved over it.
		s.emit(f, Event{Kind: EventStoreFailed, Op: opLoad, Err: lerr})
		if s.r.seed != nil && s.usable(s.r.seed) {
			_, err := s.publish(f, ctx, s.r.seed, "seed", false)
			s.r.loaded = false // the Store is still to be read
			return nil, true, err
		}
		s.r.loadErr = lerr
		return nil, true, s.login(f, work, nil)
	default:
		s.r.loaded, s.r.loadErr = true, nil
	}
	switch {
	case t == nil && s.r.seed != nil:
		// An empty Store: the configured Token seeds it (a shared
		// Store is filled by the first renewal, under its lock).
		t = s.r.seed
		if s.usable(t) {
			_, err := s.publish(f, ctx, t, "seed", !shared)
			return nil, true, err
		}
	case t != nil && s.usable(t):
		_, err := s.publish(f, ctx, t, "store", false)
		return nil, true, err
	}
	s.r.seed = nil
	if t != nil {
		// Expired, or only a refresh token: kept as the current, never
		// served, state, so that a failed renewal does not forget it.
		s.setCurrent(s.newState(t, "store"))
	}
	return t, false, nil
}

// redeem renews base: with its refresh token when it has a live one, else
// by login. A refresh token the provider rejected for good is not
// presented again; the login that follows is throttled by
// ReloginInterval.
func (s *Source) redeem(f *flight, ctx, work context.Context, base *Token) error {
	var rejected error
	if base != nil && base.RefreshToken != "" && base.RefreshToken == s.r.deadRefresh {
		rejected, base = s.r.deadErr, nil
	}
	if base != nil && base.RefreshToken != "" {
		kctx, err := s.keyed(ctx, base)
		if err != nil {
			return err
		}
		done := s.attempt(f, "refresh_token", "")
		// A response without a refresh token keeps this one (no
		// rotation: Transiteo).
		t, err := s.c.refresh(kctx, base.RefreshToken)
		done(err)
		if err == nil {
			_, err = s.publish(f, ctx, s.withOwnKey(kctx, t), "refresh_token", true)
			return err
		}
		if !deadRefreshToken(err) {
			return err
		}
		s.r.deadRefresh, s.r.deadErr = base.RefreshToken, err
		rejected = err
	}
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	return s.login(f, work, rejected)
}

// login gets a token with the configured login. rejected is the refusal of
// the refresh token that makes it needed, or nil when it is a first login
// or the renewal of a token that has no refresh token. A login after a
// rejected refresh token or after a refused login waits ReloginInterval
// from the previous login the provider answered; any other is a renewal,
// spaced only by the backoff.
func (s *Source) login(f *flight, ctx context.Context, rejected error) error {
	if s.cfg.Login == nil && s.cfg.LoginFunc == nil {
		return s.noLogin(rejected)
	}
	now := s.c.now()
	cause := rejected
	if cause == nil {
		cause = s.r.loginRefused
	}
	if cause != nil && !s.r.lastLogin.IsZero() {
		if next := s.r.lastLogin.Add(s.cfg.ReloginInterval); now.Before(next) {
			return &loginWaitError{wait: next.Sub(now), cause: cause}
		}
	}
	grant := "func"
	if s.cfg.LoginFunc == nil {
		grant = s.cfg.Login.grantType()
	}
	login := ""
	switch {
	case rejected != nil:
		login = loginRelogin
	case s.cur.Load() == nil:
		login = loginInitial
	}
	done := s.attempt(f, grant, login)
	t, err := s.callLogin(ctx)
	done(err)
	if err == nil {
		s.r.lastLogin, s.r.loginRefused = now, nil
		_, err = s.publish(f, ctx, t, grant, true)
		return err
	}
	// A refusal, or a 429 (a verdict on logging in), counts against
	// ReloginInterval; a network failure or a 5xx does not.
	if ctx.Err() == nil && (classify(err) == permanent || errors.Is(err, ErrRateLimited)) {
		s.r.lastLogin, s.r.loginRefused = now, err
	}
	return err
}

// callLogin runs the configured login, with the Source's own DPoP key if
// it has one.
func (s *Source) callLogin(ctx context.Context) (*Token, error) {
	ctx, err := s.keyed(ctx, nil)
	if err != nil {
		return nil, err
	}
	if s.cfg.LoginFunc == nil {
		t, err := s.c.Token(ctx, s.cfg.Login)
		return s.withOwnKey(ctx, t), err
	}
	t, err := s.cfg.LoginFunc(ctx)
	if err == nil && (t == nil || t.AccessToken == "") {
		err = errors.New("tokenkeeper: LoginFunc returned no access token")
	}
	return s.withOwnKey(ctx, t), err
}

// withOwnKey returns t, obtained with ctx, with the Source's own DPoP key
// that ctx carries, if any and t has none.
func (s *Source) withOwnKey(ctx context.Context, t *Token) *Token {
	p := s.c.prover(ctx)
	if t == nil || t.dpop != nil || p == nil || p == s.c.dpop {
		return t
	}
	t = t.clone()
	t.dpop = p
	return t
}

// noLogin is the failure of a renewal that needs a login when none is
// configured.
func (s *Source) noLogin(rejected error) error {
	switch {
	case rejected != nil:
		return wrap(fmt.Errorf("%w: the refresh token was rejected and no login is configured", ErrLoginRequired), rejected)
	case s.r.loadErr != nil:
		// Likely a passing outage of the Store: retried after a
		// transient backoff.
		return &storeReadError{err: s.r.loadErr}
	}
	return fmt.Errorf("%w: no valid token, no refresh token and no login configured", ErrLoginRequired)
}

// adoptJob returns the job of SetToken: t becomes the current token, as if
// a renewal had brought it.
func (s *Source) adoptJob(t *Token) job {
	return func(f *flight, ctx, _ context.Context) error {
		s.r = renewer{loaded: true, lastLogin: s.r.lastLogin, dpop: s.r.dpop}
		_, err := s.publish(f, ctx, t, "set", true)
		return err
	}
}

// publish makes t, obtained with grant, the current token: saved first
// (when save is set), then current, then handed to OnToken while the
// flight still holds off the next renewal. A failed save is reported as an
// EventStoreFailed and does not stop t from being used: the new refresh
// token stays in memory, is used by the next renewal, and Close saves it
// again. A token whose credential cannot be sent is kept for its refresh
// token, and reported as a failure.
func (s *Source) publish(f *flight, ctx context.Context, t *Token, grant string, save bool) (*state, error) {
	if t.dpop != nil {
		s.r.dpop = t.dpop
	}
	st := s.newState(t, grant)
	// The token is in hand: whatever deadline cut the renewal short
	// (RefreshTimeout, a lease, Close), saving it must still be tried.
	ctx = context.WithoutCancel(ctx)
	if save {
		f.saveErr = s.save(f, ctx, t, grant)
	}
	s.setCurrent(st)
	s.r.loaded = true
	if s.cfg.OnToken != nil {
		hctx, cancel := context.WithTimeout(context.WithValue(ctx, hookKey{}, s), hookTimeout)
		s.cfg.OnToken(hctx, t)
		cancel()
	}
	if st.hdrErr != nil {
		return st, &unsendableError{err: st.hdrErr}
	}
	return st, nil
}

// save stores t, or remembers it as unsaved (Close tries again) and
// reports the failure.
func (s *Source) save(f *flight, ctx context.Context, t *Token, grant string) error {
	sctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	err := s.cfg.Store.Save(sctx, t)
	if err != nil {
		s.r.unsaved = t
		s.emit(f, Event{Kind: EventStoreFailed, Op: opSave, Grant: grant, Err: err})
		return err
	}
	s.r.unsaved = nil
	return nil
}

// setCurrent publishes st to the request path and wakes the callers
// waiting for a retry.
func (s *Source) setCurrent(st *state) {
	s.cur.Store(st)
	s.mu.Lock()
	s.wakeLocked()
	s.mu.Unlock()
}

// wakeLocked releases the callers waiting on s.changed. s.mu must be held.
func (s *Source) wakeLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// hookKey marks the context handed to OnToken, so that a call back into
// the Source that would wait on the running flight fails at once.
type hookKey struct{}

// hookTimeout bounds saving a new token and the OnToken hook, which run
// even after the renewal's own deadline has passed.
const hookTimeout = 10 * time.Second

// keyed returns ctx carrying the Source's own DPoP key for a token request
// that renews base (nil for a login), when the Client has no DPoPKey:
// base's key if it has one, else the key in use, else, with
// SourceConfig.DPoP, a new one.
//
// A token that has a key of its own is renewed with it even without
// SourceConfig.DPoP: its refresh token may be bound to it.
func (s *Source) keyed(ctx context.Context, base *Token) (context.Context, error) {
	if s.c.dpop != nil {
		return ctx, nil
	}
	if base != nil && base.dpop != nil {
		s.r.dpop = base.dpop
	}
	if s.r.dpop == nil {
		if !s.cfg.DPoP {
			return ctx, nil
		}
		p, err := newSourceKey()
		if err != nil {
			return nil, err
		}
		s.r.dpop = p
	}
	return withDPoPKey(ctx, s.r.dpop), nil
}
