package redisstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestTryLockIsExclusive(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	ctx := context.Background()
	const lease = 5 * time.Second
	a := newStore(t, rs.client(t), "cred", Options{Lease: lease})
	b := newStore(t, rs.client(t), "cred", Options{Lease: lease})

	unlockA, ok, err := a.TryLock(ctx)
	if !ok || err != nil || unlockA == nil {
		t.Fatalf("a.TryLock = %v, %v; want true, nil and an unlock func", ok, err)
	}
	ttl := rs.client(t).PTTL(ctx, a.LockKey()).Val()
	if ttl <= 0 || ttl > lease {
		t.Errorf("PTTL of the lock = %v; want in (0, %v]", ttl, lease)
	}
	if unlock, ok, err := b.TryLock(ctx); ok || err != nil || unlock != nil {
		t.Fatalf("b.TryLock while a holds it = %v, %v (unlock set %t); want false, nil, no unlock", ok, err, unlock != nil)
	}
	if err := unlockA(ctx); err != nil {
		t.Fatalf("a unlock: %v", err)
	}
	if err := unlockA(ctx); err != nil {
		t.Errorf("second a unlock: %v; want nil", err)
	}
	unlockB, ok, err := b.TryLock(ctx)
	if !ok || err != nil {
		t.Fatalf("b.TryLock after a released = %v, %v; want true, nil", ok, err)
	}
	if err := unlockB(ctx); err != nil {
		t.Errorf("b unlock: %v", err)
	}
}

func TestTryLockConcurrent(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	ctx := context.Background()
	const n = 16
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = newStore(t, rs.client(t), "cred", Options{})
	}
	var (
		mu      sync.Mutex
		winners []func(context.Context) error
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for _, s := range stores {
		wg.Go(func() {
			<-start
			unlock, ok, err := s.TryLock(ctx)
			if err != nil {
				t.Errorf("TryLock: %v", err)
			}
			if ok {
				mu.Lock()
				winners = append(winners, unlock)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent TryLock calls took the lock; want 1", len(winners), n)
	}
	if err := winners[0](ctx); err != nil {
		t.Errorf("unlock: %v", err)
	}
}

// TestUnlockOnlyByOwner: a holder whose lease ran out cannot release the
// lock that another holder has taken since.
func TestUnlockOnlyByOwner(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	ctx := context.Background()
	const lease = 200 * time.Millisecond
	c := rs.client(t)
	a := newStore(t, c, "cred", Options{Lease: lease})
	b := newStore(t, rs.client(t), "cred", Options{Lease: time.Minute})

	unlockA, ok, err := a.TryLock(ctx)
	if !ok || err != nil {
		t.Fatalf("a.TryLock = %v, %v", ok, err)
	}
	waitLockGone(t, c, a.LockKey(), 5*time.Second)
	unlockB, ok, err := b.TryLock(ctx)
	if !ok || err != nil {
		t.Fatalf("b.TryLock after a's lease ran out = %v, %v; want true, nil", ok, err)
	}
	if err := unlockA(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("a unlock after its lease ran out: %v; want ErrLockLost", err)
	}
	if n := c.Exists(ctx, b.LockKey()).Val(); n != 1 {
		t.Fatalf("after a's late unlock, b's lock exists = %d; want 1 (only the owner may delete it)", n)
	}
	if err := unlockA(ctx); err != nil {
		t.Errorf("a unlock again: %v; want nil", err)
	}
	if err := unlockB(ctx); err != nil {
		t.Errorf("b unlock: %v", err)
	}
	if n := c.Exists(ctx, b.LockKey()).Val(); n != 0 {
		t.Errorf("after b's unlock, the lock exists = %d; want 0", n)
	}
}

// TestLeaseExpires: a lock that is never released (its holder crashed)
// expires after the lease, and another holder takes it.
func TestLeaseExpires(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	ctx := context.Background()
	const lease = 300 * time.Millisecond
	crashed := newStore(t, rs.client(t), "cred", Options{Lease: lease})
	next := newStore(t, rs.client(t), "cred", Options{Lease: lease})

	if _, ok, err := crashed.TryLock(ctx); !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	taken := time.Now()
	if _, ok, err := next.TryLock(ctx); ok || err != nil {
		t.Fatalf("TryLock inside the lease = %v, %v; want false, nil", ok, err)
	}
	deadline := taken.Add(5 * time.Second)
	for {
		unlock, ok, err := next.TryLock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			after := time.Since(taken)
			if after < lease-10*time.Millisecond {
				t.Errorf("the lock was taken again %v after a %v lease", after, lease)
			}
			t.Logf("lease %v: lock taken again after %v", lease, after.Round(time.Millisecond))
			if err := unlock(ctx); err != nil {
				t.Error(err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a %v lease did not expire within 5s", lease)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLockGone waits, at most limit, for key to disappear from Redis.
func waitLockGone(t *testing.T, c *redis.Client, key string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for c.Exists(context.Background(), key).Val() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists after %v", key, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
