package tokenkeeper

import (
	"context"
	"fmt"
	"time"
)

// newerRefresh reports whether stored carries a refresh token issued after
// base's.
func newerRefresh(stored, base *Token) bool {
	if stored == nil || stored.RefreshToken == "" {
		return false
	}
	return base == nil || (stored.RefreshToken != base.RefreshToken && stored.IssuedAt.After(base.IssuedAt))
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
		case <-s.ctx.Done():
			timer.Stop()
			return nil, nil, nil, ErrClosed
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}

// heldLock is a shared lock this process holds, taken no earlier than at.
type heldLock struct {
	unlock func(context.Context) error
	at     time.Time
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
