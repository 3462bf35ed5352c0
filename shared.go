package tokenkeeper

import (
	"context"
	"fmt"
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
	at     time.Time                   // no later than when the lock was taken
	lease  time.Duration               // what the renewal may use of the lease
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
		unlock, ok, err := lk.TryLock(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			s.emit(f, Event{Kind: EventLockFallback, Err: err})
			return h, nil
		}
		t, lerr := s.cfg.Store.Load(ctx)
		if lerr != nil {
			s.emit(f, Event{Kind: EventStoreFailed, Err: lerr})
			t = nil
		}
		if s.replaces(t, old) {
			if ok {
				h.unlock = unlock
				h.release(ctx)
			}
			s.emit(f, Event{Kind: EventSharedToken})
			_, err := s.publish(f, ctx, t, "shared", false)
			h.adopted = true
			return h, err
		}
		if ok {
			h.unlock, h.at = unlock, tried
			if newerRefresh(t, old) {
				// Another process rotated the refresh token after ours
				// was issued: ours is dead, and presenting it again
				// would count as reuse.
				h.base = t
			}
			if l := lk.Lease(); l > 0 {
				h.lease = l - l/10
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

// bound returns ctx cut at nine tenths of the lock's lease: past its lease
// another process may take the lock and present the same refresh token.
func (h *heldLock) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if h.unlock == nil || h.lease == 0 {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, h.at.Add(h.lease))
}

// explain tells a renewal cut by the lease bound from one cut by ctx.
func (h *heldLock) explain(ctx, bounded context.Context, err error) error {
	if err != nil && ctx.Err() == nil && bounded.Err() == context.DeadlineExceeded {
		return &refreshTimeoutError{timeout: h.lease, what: "nine tenths of the shared lock's lease", err: err}
	}
	return err
}

// release unlocks the shared lock if this process holds it.
func (h *heldLock) release(ctx context.Context) {
	if h.unlock == nil {
		return
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
	defer cancel()
	if err := h.unlock(uctx); err != nil {
		h.s.emit(h.f, Event{Kind: EventStoreFailed, Err: err})
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
