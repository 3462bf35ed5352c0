package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// ErrLockLost is returned by an unlock function when the lock was no
// longer its holder's: the lease ran out before the refresh ended, and the
// lock expired or another replica took it. Lease is then too short for
// the refreshes it guards.
var ErrLockLost = errors.New("redisstore: refresh lock lost: its lease ran out before it was released")

// release deletes the lock only if it still holds its owner's value, in
// one step on the server.
var release = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0
`)

// extend pushes back the lock's expiry only if it still holds its owner's
// value, in one step on the server.
var extend = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
`)

// TryLock tries once to take the credential's refresh lock, with SET NX
// PX Lease and a random owner value. It returns ok false, with a nil
// error, when another holder has the lock, and an error when Redis fails
// or does not answer within Timeout.
//
// unlock releases the lock if this holder still owns it (a compare-and-
// delete script): it never deletes another holder's lock. It returns
// ErrLockLost when the lease ran out first, and an error when Redis
// fails. Once it has succeeded, or returned ErrLockLost, further calls
// return nil. It is safe for concurrent use.
func (s *Store) TryLock(ctx context.Context) (unlock func(context.Context) error, ok bool, err error) {
	unlock, _, ok, err = s.TryLockRenewable(ctx)
	return unlock, ok, err
}

// TryLockRenewable is TryLock, and also returns renew, which extends the
// lock to a full Lease from now if this holder still owns it (a compare-
// and-expire script), and returns ErrLockLost otherwise, or an error when
// Redis fails. A tokenkeeper.Source calls it while its token request is in
// flight (see tokenkeeper.Locker), so that a token endpoint slower than
// the lease never lets another replica in.
func (s *Store) TryLockRenewable(ctx context.Context) (unlock, renew func(context.Context) error, ok bool, err error) {
	owner := rand.Text()
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err = s.client.SetNX(cctx, s.lockKey, owner, s.lease).Result()
	if err != nil {
		return nil, nil, false, fmt.Errorf("redisstore: lock %s: %w", s.lockKey, err)
	}
	if !ok {
		return nil, nil, false, nil
	}
	var (
		mu   sync.Mutex
		done bool
	)
	unlock = func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return nil
		}
		err := s.release(ctx, owner)
		done = err == nil || errors.Is(err, ErrLockLost)
		return err
	}
	renew = func(ctx context.Context) error { return s.extend(ctx, owner) }
	return unlock, renew, true, nil
}

// extend runs the compare-and-expire script for owner.
func (s *Store) extend(ctx context.Context, owner string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := extend.Run(ctx, s.client, []string{s.lockKey}, owner, s.lease.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("redisstore: renew lock %s: %w", s.lockKey, err)
	}
	if n == 0 {
		return fmt.Errorf("%w (%s)", ErrLockLost, s.lockKey)
	}
	return nil
}

// release runs the compare-and-delete script for owner.
func (s *Store) release(ctx context.Context, owner string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := release.Run(ctx, s.client, []string{s.lockKey}, owner).Int()
	if err != nil {
		return fmt.Errorf("redisstore: unlock %s: %w", s.lockKey, err)
	}
	if n == 0 {
		return fmt.Errorf("%w (%s)", ErrLockLost, s.lockKey)
	}
	return nil
}
