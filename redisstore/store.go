package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/seal"
)

// Defaults of Options.
const (
	// DefaultPrefix is put before every key, so that tokenkeeper's keys
	// stay apart from other data in the same Redis.
	DefaultPrefix = "tokenkeeper:"
	// DefaultLease is how long a refresh lock lives when its holder does
	// not release it: shorter than tokenkeeper.DefaultRefreshTimeout, so a
	// waiting replica outlives a crashed holder.
	DefaultLease = 10 * time.Second
	// DefaultTimeout bounds each Redis call.
	DefaultTimeout = 2 * time.Second
)

// Options configures a Store. The zero value is usable: every zero field
// takes the default given beside it.
type Options struct {
	// Prefix is put before the credential's key. Empty means
	// DefaultPrefix.
	Prefix string
	// Lease is how long the refresh lock lasts unless its holder releases
	// or renews it; a holder that crashes holds it that long. A Source
	// renews it every third of it while its token request is in flight,
	// so a slow token endpoint does not let another replica in; it must
	// be longer than a round trip to Redis. Zero means DefaultLease;
	// otherwise at least a millisecond.
	Lease time.Duration
	// Timeout bounds every Redis call, in addition to the caller's
	// context. Zero means DefaultTimeout.
	Timeout time.Duration
	// Keys, if set, encrypts the token at rest with AES-256-GCM (package
	// seal, the format of tokenkeeper's FileStore), bound to the Redis key
	// (Prefix included): a value copied under another key does not open.
	// New values are sealed with the current key; values sealed with an
	// older key the KeyProvider still holds are read. Nil stores the
	// token as tokenkeeper.EncodeToken's JSON, in clear.
	Keys seal.KeyProvider
}

// Store keeps one credential's token in Redis and holds its refresh lock.
// It implements tokenkeeper.Store and tokenkeeper.Locker: give it to every
// replica's tokenkeeper.Source as SourceConfig.Store, with the same key.
//
// A Store is immutable and safe for concurrent use by multiple goroutines.
// It does not own the Redis client: close the client when done.
type Store struct {
	client  redis.UniversalClient
	key     string
	lockKey string
	lease   time.Duration
	timeout time.Duration
	keys    seal.KeyProvider
}

var (
	_ tokenkeeper.Store  = (*Store)(nil)
	_ tokenkeeper.Locker = (*Store)(nil)

	// The Source renews the lease of a Locker with this method.
	_ interface {
		TryLockRenewable(ctx context.Context) (unlock, renew func(context.Context) error, ok bool, err error)
	} = (*Store)(nil)
)

// New returns a Store for the credential named key (any non-empty string,
// such as "daxium:prod") on client. The token is kept at Prefix+key and
// the lock at Prefix+key+":lock".
//
// The client must honour context deadlines, or a stalled Redis would hold
// a call for the client's own read timeout and retries: create a go-redis
// client with ContextTimeoutEnabled set. New returns an error when the
// client's options say it is not set. New does no I/O.
func New(client redis.UniversalClient, key string, opts Options) (*Store, error) {
	var errs []error
	if client == nil {
		errs = append(errs, errors.New("nil client"))
	} else if ignoresContext(client) {
		errs = append(errs, errors.New("the client ignores context deadlines; create it with ContextTimeoutEnabled: true"))
	}
	if key == "" {
		errs = append(errs, errors.New("empty key"))
	}
	switch {
	case opts.Lease < 0:
		errs = append(errs, fmt.Errorf("negative Lease %v", opts.Lease))
	case opts.Lease > 0 && opts.Lease < time.Millisecond:
		errs = append(errs, fmt.Errorf("a Lease of %v is under a millisecond", opts.Lease))
	}
	if opts.Timeout < 0 {
		errs = append(errs, fmt.Errorf("negative Timeout %v", opts.Timeout))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("redisstore: New: %w", errors.Join(errs...))
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	return &Store{
		client:  client,
		key:     opts.Prefix + key,
		lockKey: opts.Prefix + key + ":lock",
		lease:   opts.Lease,
		timeout: opts.Timeout,
		keys:    opts.Keys,
	}, nil
}

// ignoresContext reports whether client's options say that it does not
// honour context deadlines. Clients whose options cannot be read are
// trusted.
func ignoresContext(client redis.UniversalClient) bool {
	switch c := client.(type) {
	case interface{ Options() *redis.Options }:
		return !c.Options().ContextTimeoutEnabled
	case interface{ Options() *redis.ClusterOptions }:
		return !c.Options().ContextTimeoutEnabled
	case interface{ Options() *redis.RingOptions }:
		return !c.Options().ContextTimeoutEnabled
	}
	return false
}

// Key returns the Redis key holding the token.
func (s *Store) Key() string { return s.key }

// Lease returns how long a refresh lock lasts. A tokenkeeper.Source ends
// its refresh within nine tenths of it (tokenkeeper.Locker).
func (s *Store) Lease() time.Duration { return s.lease }

// LockKey returns the Redis key holding the refresh lock.
func (s *Store) LockKey() string { return s.lockKey }

// Load returns the stored token, or (nil, nil) when none is stored. A
// value that cannot be opened or decoded is an error wrapping
// tokenkeeper.ErrCorruptStore (with a *seal.OpenError when a sealed value
// does not open, with ErrOldFormat for a value of redisstore v0.1). A
// failure of the KeyProvider, a Redis failure, or no answer from Redis
// within Timeout is an error that does not wrap it.
func (s *Store) Load(ctx context.Context) (*tokenkeeper.Token, error) {
	getCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	data, err := s.client.Get(getCtx, s.key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: load %s: %w", s.key, err)
	}
	t, err := s.decode(ctx, data)
	if err != nil {
		return nil, fmt.Errorf("redisstore: load %s: %w", s.key, err)
	}
	return t, nil
}

// Save stores t, sealed if the Store has Keys, replacing what was
// stored. It returns an error when Redis fails or does not answer within
// Timeout; the value may then have been written or not.
func (s *Store) Save(ctx context.Context, t *tokenkeeper.Token) error {
	data, err := s.encode(ctx, t)
	if err != nil {
		return fmt.Errorf("redisstore: save %s: %w", s.key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.client.Set(ctx, s.key, data, 0).Err(); err != nil {
		return fmt.Errorf("redisstore: save %s: %w", s.key, err)
	}
	return nil
}
