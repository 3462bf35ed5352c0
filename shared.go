package tokenkeeper

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file holds the renewal step that coordinates processes sharing one
// credential through a Store that is a Locker.

// heldLock is the outcome of taking the shared lock.
type heldLock struct {
	// adopted is set when another holder renewed meanwhile: its token
	// was published, and nothing is left to do.
	adopted bool
	// base is what to renew from: the token stored when the lock was
	// taken, when it carries a newer refresh token than ours.
	base   *Token
	unlock func(context.Context) error // nil when the lock could not be used
	renew  func(context.Context) error // non-nil when the lease can be renewed (TryLockRenewable)
	at     time.Time                   // no later than when the lock was taken
	full   time.Duration               // the lock's lease; 0 means until unlocked
	lease  time.Duration               // what the renewal may use of the lease without renewing it
	s      *Source
	f      *flight
}

// lockShared takes the shared lock of lk, polling while another process
// holds it. Once it is ours, or as soon as the stored token replaces old
// (another holder renewed), it re-reads the Store. When the lock cannot be
// used (the store is down), the renewal goes ahead in this process only.
func (s *Source) lockShared(f *flight, ctx context.Context, lk Locker, old *Token) (*heldLock, error) {
	h := &heldLock{s: s, f: f, base: old}
	wait := 20 * time.Millisecond
	begun := time.Now()
	defer func() { f.lockWait = time.Since(begun) }()
	for {
		tried := time.Now()
		unlock, renew, ok, err := tryLock(ctx, lk)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.emit(f, Event{Kind: EventStoreFailed, Op: opLock, Err: err})
			return h, nil
		}
		t, lerr := s.cfg.Store.Load(ctx)
		s.storeWarning(f)
		if lerr != nil {
			s.emit(f, Event{Kind: EventStoreFailed, Op: opLoad, Err: lerr})
			t = nil
		}
		if s.replaces(t, old) {
			if ok {
				h.unlock = unlock
				h.release(ctx)
			}
			_, err := s.publish(f, ctx, t, "shared", false)
			h.adopted = true
			return h, err
		}
		if ok {
			h.unlock, h.renew, h.at = unlock, renew, tried
			if newerRefresh(t, old) {
				// Another process rotated the refresh token after ours
				// was issued: ours is dead, and presenting it again
				// would count as reuse.
				h.base = t
			}
			if l := leaseOf(lk); l > 0 {
				h.full, h.lease = l, l-l/10
			}
			return h, nil
		}
		if err := s.pause(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}

// pause waits d (real time: another process's lock is not on our clock),
// unless ctx ends or the Source closes first.
func (s *Source) pause(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tokenkeeper: waiting for another process to renew: %w", ctx.Err())
	case <-s.ctx.Done():
		return ErrClosed
	}
}

// tryLock takes lk's lock once, with a renewable lease when lk has
// TryLockRenewable.
func tryLock(ctx context.Context, lk Locker) (unlock, renew func(context.Context) error, ok bool, err error) {
	if lr, can := lk.(leaseRenewer); can {
		return lr.TryLockRenewable(ctx)
	}
	unlock, ok, err = lk.TryLock(ctx)
	return unlock, nil, ok, err
}

// bound returns the context of a renewal made under the lock. A lease
// that cannot be renewed cuts ctx at nine tenths of it: past its lease
// another process may take the lock and present the same refresh token.
// A renewable lease is renewed every third of it while the renewal runs
// (keep), and ctx is cancelled as soon as a renewal of the lease fails,
// so that nothing obtained after the lock may have passed to another
// holder is used. The returned cancel also stops the renewals.
func (h *heldLock) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	switch {
	case h.unlock == nil || h.lease == 0:
		return ctx, func() {}
	case h.renew == nil:
		return context.WithDeadline(ctx, h.at.Add(h.lease))
	}
	kctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go h.keep(kctx, cancel, done)
	return kctx, func() {
		cancel(nil)
		<-done
	}
}

// keep renews the lease every third of it until ctx ends. Each renewal
// must end before nine tenths of the lease it extends have passed; when
// one fails or is late, ctx is cancelled with a *leaseLostError.
func (h *heldLock) keep(ctx context.Context, cancel context.CancelCauseFunc, done chan<- struct{}) {
	defer close(done)
	until := h.at.Add(h.lease) // the lock is surely ours until then
	timer := time.NewTimer(h.full / 3)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		rctx, rcancel := context.WithDeadline(ctx, until)
		err := h.renew(rctx)
		if err == nil && rctx.Err() != nil {
			err = rctx.Err()
		}
		rcancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			cancel(&leaseLostError{err: err})
			return
		}
		until = start.Add(h.lease)
		timer.Reset(h.full / 3)
	}
}

// leaseLostError is a renewal of the shared lock's lease that failed: the
// token request under it was stopped, and its outcome is not used.
type leaseLostError struct{ err error }

func (e *leaseLostError) Error() string {
	return "the shared lock's lease could not be renewed, so the token request was stopped and its outcome is not used: " +
		strings.TrimPrefix(e.err.Error(), "tokenkeeper: ")
}

func (e *leaseLostError) Unwrap() error { return e.err }

// explain tells a renewal cut by the lease (its bound, or a failed
// renewal of it) from one cut by ctx.
func (h *heldLock) explain(ctx, bounded context.Context, err error) error {
	if err == nil || ctx.Err() != nil || bounded.Err() == nil {
		return err
	}
	var lost *leaseLostError
	if errors.As(context.Cause(bounded), &lost) {
		h.s.emit(h.f, Event{Kind: EventStoreFailed, Op: opLease, Err: lost})
		return &refreshTimeoutError{timeout: h.full, what: lost.Error(), err: err}
	}
	if bounded.Err() == context.DeadlineExceeded {
		return &refreshTimeoutError{timeout: h.lease, what: "nine tenths of the shared lock's lease", err: err}
	}
	return err
}

// storeWarning reports, as an EventStoreFailed, a finding the Store made
// while loading that did not fail the load: a token file that others may
// read (FileStore).
func (s *Source) storeWarning(f *flight) {
	if w, ok := s.cfg.Store.(interface{ takeWarning() error }); ok {
		if err := w.takeWarning(); err != nil {
			s.emit(f, Event{Kind: EventStoreFailed, Op: opCheck, Err: err})
		}
	}
}

// release unlocks the shared lock if this process holds it.
func (h *heldLock) release(ctx context.Context) {
	if h.unlock == nil {
		return
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	if err := h.unlock(uctx); err != nil {
		h.s.emit(h.f, Event{Kind: EventStoreFailed, Op: opUnlock, Err: err})
	}
	h.unlock = nil
}

// unlockTimeout bounds releasing the shared lock.
const unlockTimeout = 5 * time.Second

// newerRefresh reports whether stored carries a refresh token issued after
// base's.
func newerRefresh(stored, base *Token) bool {
	if stored == nil || stored.RefreshToken == "" {
		return false
	}
	return base == nil || (stored.RefreshToken != base.RefreshToken && stored.IssuedAt.After(base.IssuedAt))
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
