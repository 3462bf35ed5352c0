package multi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// Defaults of Config.
const (
	defaultMaxCredentials = 10_000
	defaultIdleTimeout    = time.Hour
)

// Config configures a Manager.
type Config struct {
	// Open returns the Client and the SourceConfig of k's credential: its
	// login grant (built with k.Params()) or seed token, and its Store
	// (named by k.ID()). The Manager creates the Source, so that no two
	// keys ever share one. Open is called on k's first use, and again
	// after k's credential was evicted or removed, with the context of
	// the request that needs it; requests for k wait for it, requests
	// for other keys do not. Required.
	//
	// When the SourceConfig has no Store, the Manager gives the
	// credential a memory store of its own, which outlives the Source:
	// an evicted credential finds its token there on its next use.
	Open func(ctx context.Context, k Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error)
	// MaxCredentials bounds the credentials open at once: opening one
	// more closes the least recently used. Zero means 10,000.
	MaxCredentials int
	// IdleTimeout closes a credential unused for that long. The Manager
	// looks for idle credentials every sixteenth of IdleTimeout (at most
	// every minute), and a use counts from the last look: a credential
	// is closed between IdleTimeout less one such period and IdleTimeout
	// and one period after its last use. Zero means one hour; negative
	// means never.
	IdleTimeout time.Duration
	// Base sends the requests of HTTPClient. If nil,
	// http.DefaultTransport is used.
	Base http.RoundTripper
	// Clock tells the time of idle credentials. If nil, the system clock.
	Clock interface{ Now() time.Time }
}

// ErrNoKey is returned for a request whose context carries no Key: the
// request is not sent, with no credential or with anyone else's.
var ErrNoKey = errors.New("tokenkeeper/multi: the request's context carries no credential Key (use multi.WithKey)")

// Manager holds one managed tokenkeeper.Source per Key, created on first
// use from Config.Open, and closes the least recently used and the idle
// ones. A closed credential's token stays in its Store, so its next use
// loads it instead of logging in again.
//
// A Manager is safe for concurrent use by multiple goroutines. Looking up
// an open credential takes one short lock and allocates nothing; a
// credential's renewal never delays the requests of another. The zero
// value is not usable: create a Manager with New, and Close it.
type Manager struct {
	open  func(context.Context, Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error)
	max   int
	idle  int64 // nanoseconds; negative: never
	base  http.RoundTripper
	clock interface{ Now() time.Time } // nil: the monotonic clock, from epoch
	epoch time.Time

	period time.Duration // between looks for idle credentials

	mu sync.Mutex // guards live, lru, stores, closing, closed, errs, coarse and stopTick
	// live holds the open credentials; lru links them, most recently
	// used first (lru.next) and least recently used last (lru.prev).
	live   map[Key]*entry
	lru    entry
	stores map[Key]*keptStore
	// closing holds, per key, the end of the close of its previous
	// Source: a new Source for that key waits for it, so that two
	// Sources never redeem one refresh token at once.
	closing map[Key]chan struct{}
	closed  bool
	errs    []error // errors of closed Sources, for Close (at most maxErrs)
	// coarse is the time of the last look for idle credentials, in ns
	// from epoch: the time of every use until the next look, so that a
	// lookup reads no clock.
	coarse   int64
	stopTick func() bool

	wg sync.WaitGroup // evicted credentials not yet closed, and the next look
}

// maxErrs bounds the Source errors a Manager keeps for Close.
const maxErrs = 16

// entry is one credential.
type entry struct {
	key        Key
	prev, next *entry // in Manager.lru; guarded by Manager.mu
	used       int64  // last use, ns from Manager.epoch; guarded by Manager.mu

	ready chan struct{} // closed once src and tr, or err, are set
	open  atomic.Bool   // set (after src, tr and err) just before ready is closed
	src   *tokenkeeper.Source
	tr    *tokenkeeper.Transport
	err   error

	// refs counts the callers using the entry; an evicted entry is
	// closed by whoever brings refs to zero once evicted is set.
	refs    atomic.Int32
	evicted atomic.Bool
	claimed atomic.Bool // the close has been claimed
	// logout, set when the credential is removed (not evicted), is the
	// context its Source logs out with: revoked at the provider where it
	// can be, its Store cleared.
	logout  context.Context
	gone    chan struct{} // set at eviction; closed once src is closed
	closeEr error         // src.Close's error, set before gone is closed
}

// New returns a Manager. It does no I/O and opens no credential.
func New(cfg Config) (*Manager, error) {
	var errs []error
	if cfg.Open == nil {
		errs = append(errs, errors.New("no Open func"))
	}
	if cfg.MaxCredentials < 0 {
		errs = append(errs, errors.New("MaxCredentials is negative"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("tokenkeeper/multi: New: %w", errors.Join(errs...))
	}
	m := &Manager{
		open:    cfg.Open,
		max:     cfg.MaxCredentials,
		idle:    int64(cfg.IdleTimeout),
		base:    cfg.Base,
		clock:   cfg.Clock,
		live:    make(map[Key]*entry),
		stores:  make(map[Key]*keptStore),
		closing: make(map[Key]chan struct{}),
	}
	if m.max == 0 {
		m.max = defaultMaxCredentials
	}
	if m.idle == 0 {
		m.idle = int64(defaultIdleTimeout)
	}
	if m.clock != nil {
		m.epoch = m.clock.Now()
	} else {
		m.epoch = time.Now()
	}
	m.lru.next, m.lru.prev = &m.lru, &m.lru
	if m.idle > 0 {
		m.period = min(time.Duration(m.idle)/16, time.Minute)
		m.mu.Lock()
		m.scheduleLocked()
		m.mu.Unlock()
	}
	return m, nil
}

// scheduleLocked arranges the next look for idle credentials.
func (m *Manager) scheduleLocked() {
	m.wg.Add(1)
	if c, ok := m.clock.(interface {
		AfterFunc(time.Duration, func()) func() bool
	}); ok {
		m.stopTick = c.AfterFunc(m.period, m.tick)
		return
	}
	m.stopTick = time.AfterFunc(m.period, m.tick).Stop
}

// tick closes the idle credentials and arranges the next look.
func (m *Manager) tick() {
	defer m.wg.Done()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.coarse = m.now()
	victims := m.evictLocked(m.coarse)
	m.scheduleLocked()
	m.mu.Unlock()
	m.retire(victims)
}

// now returns the time in nanoseconds from m.epoch.
func (m *Manager) now() int64 {
	if m.clock == nil {
		return int64(time.Since(m.epoch)) // the monotonic clock only
	}
	return int64(m.clock.Now().Sub(m.epoch))
}

// Token returns a valid token of k's credential, opening it if needed (see
// tokenkeeper.Source.TokenContext). The token is shared: do not modify it.
func (m *Manager) Token(ctx context.Context, k Key) (*tokenkeeper.Token, error) {
	e, err := m.acquire(ctx, k)
	if err != nil {
		return nil, err
	}
	defer m.release(e)
	return e.src.TokenContext(ctx)
}

// Len returns the number of open credentials.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.live)
}

// acquire returns k's entry, opened, with a reference the caller must
// release.
func (m *Manager) acquire(ctx context.Context, k Key) (*entry, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, tokenkeeper.ErrClosed
	}
	e, found := m.live[k]
	var prev chan struct{}
	switch {
	case found && m.lru.next == e:
		// Already the most recently used: nothing to move.
	case found:
		e.unlink()
		m.lru.pushFront(e)
	default:
		e = &entry{key: k, ready: make(chan struct{})}
		m.live[k] = e
		prev = m.closing[k]
		m.lru.pushFront(e)
	}
	e.used = m.coarse
	e.refs.Add(1)
	var victims []*entry
	if len(m.live) > m.max {
		victims = m.evictLocked(m.coarse)
	}
	m.mu.Unlock()
	m.retire(victims)
	if !found {
		m.start(ctx, e, prev)
	}
	if !e.open.Load() {
		select {
		case <-e.ready:
		case <-ctx.Done():
			m.release(e)
			return nil, ctx.Err()
		}
	}
	if e.err != nil {
		m.release(e)
		return nil, e.err
	}
	return e, nil
}

// release drops a reference taken by acquire.
func (m *Manager) release(e *entry) {
	if e.refs.Add(-1) == 0 && e.evicted.Load() {
		m.finish(e)
	}
}

// idleLocked reports whether e, not the list's root, has been idle for
// the IdleTimeout at now.
func (m *Manager) idleLocked(e *entry, now int64) bool {
	return e != &m.lru && m.idle >= 0 && now-e.used >= m.idle
}

// evictLocked removes the least recently used entries while there are too
// many or they are idle, and returns them. The most recently used one
// stays, unless it is idle too.
func (m *Manager) evictLocked(now int64) []*entry {
	var victims []*entry
	for len(m.live) > 0 {
		tail := m.lru.prev
		if len(m.live) <= m.max && !m.idleLocked(tail, now) {
			break
		}
		victims = append(victims, m.removeLocked(tail))
	}
	return victims
}

// removeLocked takes e out of the live credentials and marks it evicted;
// the caller must retire it once m.mu is released.
func (m *Manager) removeLocked(e *entry) *entry {
	delete(m.live, e.key)
	e.unlink()
	e.gone = make(chan struct{})
	m.closing[e.key] = e.gone
	e.evicted.Store(true)
	m.wg.Add(1)
	return e
}

// retire closes the victims that nobody uses; the others are closed by
// their last release.
func (m *Manager) retire(victims []*entry) {
	for _, v := range victims {
		if v.refs.Load() == 0 {
			m.finish(v)
		}
	}
}

// finish closes e's Source, once, in the background: Close may wait for a
// refresh token request in flight, which must not delay the caller.
func (m *Manager) finish(e *entry) {
	if !e.claimed.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer m.wg.Done()
		<-e.ready // closed: the opener holds a reference until then
		switch {
		case e.src != nil && e.logout != nil:
			e.closeEr = logout(e.logout, e.src)
		case e.src != nil:
			e.closeEr = e.src.Close()
		}
		m.mu.Lock()
		if m.closing[e.key] == e.gone {
			delete(m.closing, e.key)
		}
		if e.closeEr != nil && len(m.errs) < maxErrs {
			m.errs = append(m.errs, e.closeEr)
		}
		m.mu.Unlock()
		close(e.gone)
	}()
}

// start opens e's credential: after the close of k's previous Source, if
// any, it calls Open and creates the Source.
func (m *Manager) start(ctx context.Context, e *entry, prev chan struct{}) {
	e.err = errors.New("tokenkeeper/multi: Open panicked")
	defer func() {
		if e.tr == nil {
			m.drop(e) // the next use tries again
		}
		e.open.Store(true)
		close(e.ready)
	}()
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			e.err = ctx.Err()
			return
		}
	}
	c, cfg, err := m.open(ctx, e.key)
	if err == nil && c == nil {
		err = errors.New("the Open func returned a nil Client")
	}
	if err == nil {
		if cfg.Store == nil {
			cfg.Store = m.memoryStore(e.key)
		}
		e.src, err = tokenkeeper.NewSource(c, cfg)
	}
	if err != nil {
		e.err = fmt.Errorf("tokenkeeper/multi: opening credential %.12s: %w", e.key.ID(), err)
		return
	}
	e.tr = &tokenkeeper.Transport{Source: e.src, Base: m.base}
	e.err = nil
}

// drop forgets e, which failed to open, so that the next use tries again.
func (m *Manager) drop(e *entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live[e.key] == e {
		delete(m.live, e.key)
		e.unlink()
	}
}

// memoryStore returns the Manager's memory store of k.
func (m *Manager) memoryStore(k Key) *keptStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stores[k]
	if s == nil {
		s = &keptStore{}
		m.stores[k] = s
	}
	return s
}

// Remove logs k's credential out and forgets it: its Source's tokens are
// revoked at the provider where it has a revocation endpoint
// (tokenkeeper.Config.RevocationURL; see tokenkeeper.Source.Logout), its
// Store is cleared, and the Manager's memory store of k is dropped, so
// that k's next use calls Open and logs in. Remove waits for the logout
// while ctx allows, and returns its error (a provider without revocation
// endpoint is none).
func (m *Manager) Remove(ctx context.Context, k Key) error {
	return m.remove(ctx, func(x Key) bool { return x == k })
}

// RemoveSubject does what Remove does for every credential of subject in
// tenant, whatever its scope, audience, resource or proof key: the
// logout of a user.
func (m *Manager) RemoveSubject(ctx context.Context, tenant, subject string) error {
	return m.remove(ctx, func(x Key) bool { return x.Tenant == tenant && x.Subject == subject })
}

// remove closes and forgets the credentials whose key matches.
func (m *Manager) remove(ctx context.Context, match func(Key) bool) error {
	var victims []*entry
	m.mu.Lock()
	for k := range m.stores {
		if match(k) {
			delete(m.stores, k)
		}
	}
	for k, e := range m.live {
		if match(k) {
			e.logout = context.WithoutCancel(ctx)
			victims = append(victims, m.removeLocked(e))
		}
	}
	m.mu.Unlock()
	m.retire(victims)
	var errs []error
	for _, v := range victims {
		select {
		case <-v.gone:
			errs = append(errs, v.closeEr)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// logout ends src's session for a removed credential. A provider without
// a revocation endpoint is no error here: forgetting the credential is
// then all a logout can do.
func logout(ctx context.Context, src *tokenkeeper.Source) error {
	ctx, cancel := context.WithTimeout(ctx, logoutTimeout)
	defer cancel()
	err := src.Logout(ctx)
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var kept []error
		for _, e := range j.Unwrap() {
			if !errors.Is(e, errors.ErrUnsupported) {
				kept = append(kept, e)
			}
		}
		return errors.Join(kept...)
	}
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

// logoutTimeout bounds the revocation of a removed credential.
const logoutTimeout = 30 * time.Second

// Close closes every credential and waits for them, and for the requests
// still using them, to end. It returns the errors of the Sources' Close
// (at most 16), evicted ones included. Afterwards every call returns
// tokenkeeper.ErrClosed. Close is idempotent.
func (m *Manager) Close() error {
	var victims []*entry
	m.mu.Lock()
	if !m.closed && m.stopTick != nil && m.stopTick() {
		m.wg.Done() // the next look will not run
	}
	m.closed = true
	for _, e := range m.live {
		victims = append(victims, m.removeLocked(e))
	}
	m.mu.Unlock()
	m.retire(victims)
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

// pushFront links e first in the list whose root is r.
func (r *entry) pushFront(e *entry) {
	e.prev, e.next = r, r.next
	r.next.prev = e
	r.next = e
}

// unlink takes e out of its list.
func (e *entry) unlink() {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}
