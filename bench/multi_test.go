package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/multi"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// multiLogins counts the logins of multiOpen's credentials; each login
// waits latency (nanoseconds) first.
type multiLogins struct{ n, latency atomic.Int64 }

// multiOpen opens credentials whose login, with no I/O, returns a token
// valid for an hour on clock (the system clock if nil).
func multiOpen(clock interface{ Now() time.Time }, logins *multiLogins) func(context.Context, multi.Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
	now := time.Now
	if clock != nil {
		now = clock.Now
	}
	return func(_ context.Context, k multi.Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
		c, err := tokenkeeper.New(tokenkeeper.Config{TokenURL: "http://127.0.0.1/token", ClientID: "svc", Clock: clock})
		return c, tokenkeeper.SourceConfig{LoginFunc: func(context.Context) (*tokenkeeper.Token, error) {
			logins.n.Add(1)
			if d := logins.latency.Load(); d > 0 {
				time.Sleep(time.Duration(d))
			}
			t := now()
			return &tokenkeeper.Token{AccessToken: "at-" + k.Subject, TokenType: "Bearer", IssuedAt: t, Expiry: t.Add(time.Hour)}, nil
		}}, err
	}
}

// openKeys returns a Manager (closed with b) with n credentials open.
func openKeys(b *testing.B, n int, clock interface{ Now() time.Time }, logins *multiLogins) (*multi.Manager, []multi.Key) {
	b.Helper()
	m, err := multi.New(multi.Config{Open: multiOpen(clock, logins), MaxCredentials: n, Clock: clock, Base: newCannedTransport()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	keys := make([]multi.Key, n)
	ctx := context.Background()
	for i := range keys {
		keys[i] = multi.Key{Tenant: "acme", Subject: fmt.Sprintf("user-%06d@example.com", i), Scope: "read write", Audience: "https://api.example.com"}
		if _, err := m.Token(ctx, keys[i]); err != nil {
			b.Fatal(err)
		}
	}
	return m, keys
}

// BenchmarkManagerLookup is the cost of finding an open credential among
// 1,000 and reading its fresh token: Manager.Token.
func BenchmarkManagerLookup(b *testing.B) {
	m, keys := openKeys(b, 1000, nil, new(multiLogins))
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := m.Token(ctx, keys[i%len(keys)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 97
			for pb.Next() {
				if _, err := m.Token(ctx, keys[i%len(keys)]); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}

// BenchmarkManagerTransport sends a request through the Manager's client
// transport, the Key in its context, to a base that sends nothing: compare
// with BenchmarkTransport/impl=tokenkeeper, one Source's Transport.
func BenchmarkManagerTransport(b *testing.B) {
	m, keys := openKeys(b, 1000, nil, new(multiLogins))
	ctx := multi.WithKey(context.Background(), keys[len(keys)/2])
	rt := m.HTTPClient().Transport
	b.ReportAllocs()
	for b.Loop() {
		roundTrip(b, ctx, rt)
	}
}

// BenchmarkManagerIdleMemory reports the heap held per open, idle
// credential (Source, its token and header, its memory store, the
// Manager's entry and map slot) at 100,000 credentials.
func BenchmarkManagerIdleMemory(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		before := heapInUse()
		m, keys := openKeys(b, n, nil, new(multiLogins))
		after := heapInUse()
		b.ReportMetric(float64(after-before)/n, "B/credential")
		runtime.KeepAlive(keys)
		m.Close()
	}
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkManagerExpiring lets 1,000 credentials expire at once and asks
// each for a token at once; each login takes 5 ms. It reports the token
// calls of one round (exactly 1,000) and the longest wait of a caller: 5
// ms and scheduling if no credential waits for another's renewal, 5 s if
// they ran one after another.
func BenchmarkManagerExpiring(b *testing.B) {
	const n, latency = 1000, 5 * time.Millisecond
	clock := oauthtest.NewClock(time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC))
	logins := new(multiLogins)
	m, keys := openKeys(b, n, clock, logins)
	logins.latency.Store(int64(latency))
	ctx := context.Background()
	var calls, rounds int64
	var longest time.Duration
	for b.Loop() {
		clock.Advance(time.Hour)
		before := logins.n.Load()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, k := range keys {
			wg.Go(func() {
				start := time.Now()
				if _, err := m.Token(ctx, k); err != nil {
					b.Error(err)
				}
				d := time.Since(start)
				mu.Lock()
				longest = max(longest, d)
				mu.Unlock()
			})
		}
		wg.Wait()
		calls += logins.n.Load() - before
		rounds++
	}
	b.ReportMetric(float64(calls)/float64(rounds), "token-calls/op")
	b.ReportMetric(float64(longest)/float64(time.Millisecond), "max-wait-ms")
}
