package redisstore

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tokenkeeper/tokenkeeper"
)

// testToken returns a token with every field set, issued at now.
func testToken(now time.Time) *tokenkeeper.Token {
	return &tokenkeeper.Token{
		AccessToken:  "at_secret-access-" + now.Format("150405.000000000"),
		TokenType:    "Bearer",
		RefreshToken: "rt_secret-refresh-" + now.Format("150405.000000000"),
		IDToken:      "id_secret-id",
		Scope:        "read write",
		Expiry:       now.Add(time.Hour).UTC(),
		IssuedAt:     now.UTC(),
	}
}

func sameToken(t *testing.T, got, want *tokenkeeper.Token) {
	t.Helper()
	if got == nil {
		t.Fatalf("token = nil; want %v", want)
	}
	if got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || got.IDToken != want.IDToken ||
		got.TokenType != want.TokenType || got.Scope != want.Scope ||
		!got.Expiry.Equal(want.Expiry) || !got.IssuedAt.Equal(want.IssuedAt) {
		t.Fatalf("token = %+v (access %t, refresh %t equal); want %+v",
			got, got.AccessToken == want.AccessToken, got.RefreshToken == want.RefreshToken, want)
	}
}

func newStore(t *testing.T, c redis.UniversalClient, key string, opts Options) *Store {
	t.Helper()
	s, err := New(c, key, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestNewValidates(t *testing.T) {
	good := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true})
	t.Cleanup(func() { good.Close() })
	deaf := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { deaf.Close() })

	tests := []struct {
		name   string
		client redis.UniversalClient
		key    string
		opts   Options
		want   string // substring of the error; "" for success
	}{
		{"defaults", good, "k", Options{}, ""},
		{"nil client", nil, "k", Options{}, "nil client"},
		{"client ignores deadlines", deaf, "k", Options{}, "ContextTimeoutEnabled"},
		{"empty key", good, "", Options{}, "empty key"},
		{"negative lease", good, "k", Options{Lease: -time.Second}, "negative Lease -1s"},
		{"lease under a millisecond", good, "k", Options{Lease: time.Microsecond}, "under a millisecond"},
		{"negative timeout", good, "k", Options{Timeout: -1}, "negative Timeout -1ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.client, tt.key, tt.opts)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v; want one containing %q", err, tt.want)
			}
			if s != nil {
				t.Errorf("New returned a Store with an error")
			}
		})
	}

	s := newStore(t, good, "daxium:prod", Options{})
	if s.Key() != "tokenkeeper:daxium:prod" || s.LockKey() != "tokenkeeper:daxium:prod:lock" {
		t.Errorf("Key, LockKey = %q, %q; want tokenkeeper:daxium:prod, tokenkeeper:daxium:prod:lock", s.Key(), s.LockKey())
	}
	if s.lease != DefaultLease || s.timeout != DefaultTimeout {
		t.Errorf("lease, timeout = %v, %v; want %v, %v", s.lease, s.timeout, DefaultLease, DefaultTimeout)
	}
	s = newStore(t, good, "k", Options{Prefix: "app:"})
	if s.Key() != "app:k" || s.LockKey() != "app:k:lock" {
		t.Errorf("with Prefix app: Key, LockKey = %q, %q; want app:k, app:k:lock", s.Key(), s.LockKey())
	}
}

func TestSaveLoad(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	c := rs.client(t)
	ctx := context.Background()
	s := newStore(t, c, "cred", Options{})

	got, err := s.Load(ctx)
	if got != nil || err != nil {
		t.Fatalf("Load of an empty store = %v, %v; want nil, nil", got, err)
	}
	if err := s.Save(ctx, nil); err == nil {
		t.Errorf("Save(nil) succeeded; want an error")
	}
	want := testToken(time.Now())
	if err := s.Save(ctx, want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err = s.Load(ctx)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sameToken(t, got, want)

	// At rest, without Keys, the value is the core's own encoding.
	raw, err := c.Get(ctx, "tokenkeeper:cred").Bytes()
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	dec, err := tokenkeeper.DecodeToken(raw)
	if err != nil {
		t.Fatalf("DecodeToken of the stored value: %v", err)
	}
	sameToken(t, dec, want)
	if ttl := c.TTL(ctx, "tokenkeeper:cred").Val(); ttl != -1 {
		t.Errorf("TTL of the token key = %v; want none (-1)", ttl)
	}

	if err := c.Set(ctx, "tokenkeeper:cred", "not a token", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, tokenkeeper.ErrCorruptStore) {
		t.Errorf("Load of garbage: error %v; want one wrapping ErrCorruptStore", err)
	}
}

func TestNamespacing(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	c := rs.client(t)
	ctx := context.Background()
	a := newStore(t, c, "a", Options{})
	b := newStore(t, c, "b", Options{})
	otherApp := newStore(t, c, "a", Options{Prefix: "other:"})

	ta := testToken(time.Now())
	if err := a.Save(ctx, ta); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{b, otherApp} {
		if got, err := s.Load(ctx); got != nil || err != nil {
			t.Errorf("%s: Load after saving under %s = %v, %v; want nil, nil", s.Key(), a.Key(), got, err)
		}
	}
	tb := testToken(time.Now().Add(time.Minute))
	if err := b.Save(ctx, tb); err != nil {
		t.Fatal(err)
	}
	got, err := a.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameToken(t, got, ta)

	checkLocksIndependent(t, a, b, otherApp)
	checkKeysLeft(t, c, "tokenkeeper:a", "tokenkeeper:b")
}

// checkLocksIndependent checks that others can each take their lock while
// a holds its own.
func checkLocksIndependent(t *testing.T, a *Store, others ...*Store) {
	t.Helper()
	ctx := context.Background()
	unlockA, ok, err := a.TryLock(ctx)
	if !ok || err != nil {
		t.Fatalf("a.TryLock = %v, %v; want true, nil", ok, err)
	}
	for _, s := range others {
		unlock, ok, err := s.TryLock(ctx)
		if !ok || err != nil {
			t.Fatalf("%s: TryLock while %s is locked = %v, %v; want true, nil", s.Key(), a.Key(), ok, err)
		}
		if err := unlock(ctx); err != nil {
			t.Errorf("%s: unlock: %v", s.Key(), err)
		}
	}
	if err := unlockA(ctx); err != nil {
		t.Errorf("a: unlock: %v", err)
	}
}

// checkKeysLeft checks that Redis holds exactly the keys want.
func checkKeysLeft(t *testing.T, c redis.UniversalClient, want ...string) {
	t.Helper()
	keys, err := c.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("keys left in Redis = %q; want %q", keys, want)
	}
}

// blackHole accepts connections and never answers, as a stalled Redis.
func blackHole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return l.Addr().String()
}

func TestCallsBoundedWhenRedisStalls(t *testing.T) {
	checkLeaks(t)
	addr := blackHole(t)
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	const timeout = 150 * time.Millisecond
	s := newStore(t, c, "cred", Options{Timeout: timeout})
	slow := newStore(t, c, "cred", Options{Timeout: time.Minute})
	tok := testToken(time.Now())

	calls := []struct {
		name string
		call func(ctx context.Context, s *Store) error
	}{
		{"Load", func(ctx context.Context, s *Store) error { _, err := s.Load(ctx); return err }},
		{"Save", func(ctx context.Context, s *Store) error { return s.Save(ctx, tok) }},
		{"TryLock", func(ctx context.Context, s *Store) error { _, _, err := s.TryLock(ctx); return err }},
	}
	for _, call := range calls {
		// Bounded by Options.Timeout.
		start := time.Now()
		err := call.call(context.Background(), s)
		elapsed := time.Since(start)
		if err == nil || elapsed > timeout+time.Second {
			t.Errorf("%s with Timeout %v: error %v after %v; want an error within about the timeout", call.name, timeout, err, elapsed)
		}
		t.Logf("%s: Timeout %v: error after %v: %v", call.name, timeout, elapsed.Round(time.Millisecond), err)

		// Bounded by the caller's context.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		start = time.Now()
		err = call.call(ctx, slow)
		elapsed = time.Since(start)
		cancel()
		if err == nil || elapsed > time.Second {
			t.Errorf("%s with a 100ms context: error %v after %v; want an error within about 100ms", call.name, err, elapsed)
		}
		t.Logf("%s: context 100ms: error after %v", call.name, elapsed.Round(time.Millisecond))
	}
}

func TestCallsFailFastWhenRedisDown(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	c := rs.client(t)
	ctx := context.Background()
	const timeout = 500 * time.Millisecond
	s := newStore(t, c, "cred", Options{Timeout: timeout})
	if err := s.Save(ctx, testToken(time.Now())); err != nil {
		t.Fatal(err)
	}
	unlock, ok, err := s.TryLock(ctx)
	if !ok || err != nil {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	rs.kill()

	start := time.Now()
	_, err = s.Load(ctx)
	check := func(name string, err error) {
		t.Helper()
		elapsed := time.Since(start)
		if err == nil || elapsed > timeout+time.Second {
			t.Errorf("%s with Redis down: error %v after %v; want an error within about %v", name, err, elapsed, timeout)
		}
		if errors.Is(err, ErrLockLost) {
			t.Errorf("%s: error %v; want a Redis error, not ErrLockLost", name, err)
		}
		t.Logf("%s with Redis down: error after %v: %v", name, elapsed.Round(time.Millisecond), err)
		start = time.Now()
	}
	check("Load", err)
	check("Save", s.Save(ctx, testToken(time.Now())))
	_, _, err = s.TryLock(ctx)
	check("TryLock", err)
	check("unlock", unlock(ctx))

	// Redis is back, empty: the pool reconnects.
	rs.restart()
	if got, err := s.Load(ctx); got != nil || err != nil {
		t.Errorf("Load after a restart = %v, %v; want nil, nil", got, err)
	}
}
