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
	owner := rand.Text()
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err = s.client.SetNX(cctx, s.lockKey, owner, s.lease).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: lock %s: %w", s.lockKey, err)
	}
	if !ok {
		return nil, false, nil
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
	return unlock, true, nil
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
