package multi

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

func TestNewChecksConfig(t *testing.T) {
	_, err := New(Config{MaxCredentials: -1})
	if err == nil || !strings.Contains(err.Error(), "no Open func") || !strings.Contains(err.Error(), "MaxCredentials is negative") {
		t.Fatalf("New = %v; want both problems", err)
	}
}

// keyVariants returns a key and, for each of its fields, a key that
// differs from it in that field only.
func keyVariants() []Key {
	base := Key{Tenant: "acme", Subject: "alice", Scope: "read", Audience: "https://api.example.com", Resource: "https://res.example.com", ProofKey: "jkt-1"}
	keys := []Key{base}
	for _, change := range []func(*Key){
		func(k *Key) { k.Tenant = "globex" },
		func(k *Key) { k.Subject = "bob" },
		func(k *Key) { k.Scope = "read write" },
		func(k *Key) { k.Audience = "https://other.example.com" },
		func(k *Key) { k.Resource = "" },
		func(k *Key) { k.ProofKey = "jkt-2" },
	} {
		k := base
		change(&k)
		keys = append(keys, k)
	}
	return keys
}

// Keys that differ in any field get their own credential and token call;
// callers of one key share one (CVE-2025-26620: concurrent requests with
// different parameters were handed one token).
func TestManagerOneCredentialPerKey(t *testing.T) {
	idp := newParamIdP(t)
	clock := oauthtest.NewClock(t0)
	m := newManager(t, Config{Open: idp.open(clock), Clock: clock})
	keys := keyVariants()
	const callers = 10
	got := make([][]string, len(keys))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, k := range keys {
		for range callers {
			wg.Go(func() {
				tok, err := m.Token(testCtx(t), k)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[i] = append(got[i], tok.AccessToken)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if n := idp.calls.Load(); n != int64(len(keys)) {
		t.Errorf("token calls = %d; want %d, one per key", n, len(keys))
	}
	seen := map[string]int{}
	for i, toks := range got {
		for _, tok := range toks {
			if tok != toks[0] {
				t.Errorf("key %d: callers got %q and %q; want one token per key", i, toks[0], tok)
			}
		}
		if j, ok := seen[toks[0]]; ok {
			t.Errorf("keys %d and %d share token %q", j, i, toks[0])
		}
		seen[toks[0]] = i
	}
	if m.Len() != len(keys) {
		t.Errorf("Len = %d; want %d", m.Len(), len(keys))
	}
}

// Opening one more credential than MaxCredentials closes the least
// recently used; its token stays in its store, so its next use makes no
// token call.
func TestManagerEvictsLeastRecentlyUsed(t *testing.T) {
	l := &countingLogin{clock: oauthtest.NewClock(t0)}
	m := newManager(t, Config{Open: l.open, MaxCredentials: 2, Clock: l.clock})
	ctx := testCtx(t)
	a, b, c := Key{Subject: "a"}, Key{Subject: "b"}, Key{Subject: "c"}
	for _, k := range []Key{a, b, a, c} { // b is now the least recently used
		if _, err := m.Token(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if m.entryOf(b) != nil || m.entryOf(a) == nil || m.entryOf(c) == nil {
		t.Fatalf("live a=%v b=%v c=%v; want b evicted", m.entryOf(a) != nil, m.entryOf(b) != nil, m.entryOf(c) != nil)
	}
	tok, err := m.Token(ctx, b) // evicts a, reopens b from its store
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "b-2" {
		t.Errorf("b's token = %q; want b-2, kept in its store", tok.AccessToken)
	}
	if got := l.calls.Load(); got != 3 {
		t.Errorf("logins = %d; want 3 (a, b, c): a reopened credential loads its stored token", got)
	}
	if got := l.opens.Load(); got != 4 {
		t.Errorf("opens = %d; want 4", got)
	}
}

// A credential unused for IdleTimeout is closed, without waiting for
// another use of the Manager.
func TestManagerEvictsIdle(t *testing.T) {
	l := &countingLogin{clock: oauthtest.NewClock(t0)}
	m := newManager(t, Config{Open: l.open, IdleTimeout: 10 * time.Minute, Clock: l.clock})
	ctx := testCtx(t)
	a, b := Key{Subject: "a"}, Key{Subject: "b"}
	if _, err := m.Token(ctx, a); err != nil {
		t.Fatal(err)
	}
	e := m.entryOf(a)
	l.clock.Advance(9 * time.Minute)
	if _, err := m.Token(ctx, b); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 2 {
		t.Fatalf("Len = %d after 9 min; want 2", m.Len())
	}
	l.clock.Advance(time.Minute)
	if m.Len() != 1 || m.entryOf(a) != nil {
		t.Fatalf("Len = %d; want a closed after 10 idle minutes", m.Len())
	}
	recv(t, e.gone, "the close of a")
	if _, err := e.src.TokenContext(ctx); !errors.Is(err, tokenkeeper.ErrClosed) {
		t.Errorf("a's old Source: %v; want ErrClosed", err)
	}
}

// A credential evicted while a request uses it is closed when the request
// ends, not under it.
func TestManagerEvictedInUseClosesAfterUse(t *testing.T) {
	l := &countingLogin{clock: oauthtest.NewClock(t0)}
	m := newManager(t, Config{Open: l.open, MaxCredentials: 1, Clock: l.clock})
	ctx := testCtx(t)
	a := Key{Subject: "a"}
	e, err := m.acquire(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(ctx, Key{Subject: "b"}); err != nil {
		t.Fatal(err)
	}
	if !e.evicted.Load() {
		t.Fatal("a not evicted")
	}
	if _, err := e.src.TokenContext(ctx); err != nil {
		t.Fatalf("a's Source while in use: %v; want a token", err)
	}
	m.release(e)
	recv(t, e.gone, "the close of a")
	if _, err := e.src.TokenContext(ctx); !errors.Is(err, tokenkeeper.ErrClosed) {
		t.Errorf("a's Source after use: %v; want ErrClosed", err)
	}
}

// RemoveSubject (a logout) closes and forgets every credential of the
// user: the next use logs in again. Other users keep theirs.
func TestManagerRemoveSubject(t *testing.T) {
	l := &countingLogin{clock: oauthtest.NewClock(t0)}
	m := newManager(t, Config{Open: l.open, Clock: l.clock})
	ctx := testCtx(t)
	keys := []Key{{Tenant: "t", Subject: "u", Scope: "read"}, {Tenant: "t", Subject: "u", Scope: "write"}, {Tenant: "t", Subject: "v"}}
	for _, k := range keys {
		if _, err := m.Token(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	old := m.entryOf(keys[0])
	if err := m.RemoveSubject(ctx, "t", "u"); err != nil {
		t.Fatal(err)
	}
	if m.Len() != 1 || m.entryOf(keys[2]) == nil {
		t.Fatalf("Len = %d; want only v's credential", m.Len())
	}
	if _, err := old.src.TokenContext(ctx); !errors.Is(err, tokenkeeper.ErrClosed) {
		t.Errorf("u's old Source: %v; want ErrClosed", err)
	}
	if _, err := m.Token(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	if got := l.calls.Load(); got != 4 {
		t.Errorf("logins = %d; want 4: a removed credential logs in again", got)
	}
	if err := m.Remove(ctx, keys[2]); err != nil || m.entryOf(keys[2]) != nil {
		t.Errorf("Remove = %v, live %v; want v closed", err, m.entryOf(keys[2]) != nil)
	}
}

// An Open failure is returned to the callers of that key, names the key
// by its ID (never its subject), and is not kept: the next use calls Open
// again.
func TestManagerOpenError(t *testing.T) {
	opens := 0
	m := newManager(t, Config{Open: func(context.Context, Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
		opens++
		return nil, tokenkeeper.SourceConfig{}, errors.New("no such tenant")
	}})
	k := Key{Tenant: "acme", Subject: "alice@example.com"}
	for range 2 {
		_, err := m.Token(testCtx(t), k)
		if err == nil || !strings.Contains(err.Error(), "no such tenant") || !strings.Contains(err.Error(), k.ID()[:12]) {
			t.Fatalf("Token = %v; want the Open error with the key's ID", err)
		}
		if strings.Contains(err.Error(), "alice") {
			t.Errorf("error %q names the subject", err)
		}
	}
	if opens != 2 || m.Len() != 0 {
		t.Errorf("opens = %d, Len = %d; want 2 and 0", opens, m.Len())
	}
}

// An Open that panics leaves no broken credential behind.
func TestManagerOpenPanics(t *testing.T) {
	l := &countingLogin{clock: oauthtest.NewClock(t0)}
	panicky := true
	m := newManager(t, Config{Open: func(ctx context.Context, k Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
		if panicky {
			panic("boom")
		}
		return l.open(ctx, k)
	}, Clock: l.clock})
	func() {
		defer func() { recover() }()
		m.Token(testCtx(t), Key{})
	}()
	panicky = false
	if _, err := m.Token(testCtx(t), Key{}); err != nil {
		t.Fatalf("Token after a panic in Open: %v", err)
	}
}

// After Close, every call fails with ErrClosed; Close is idempotent.
func TestManagerClose(t *testing.T) {
	l := &countingLogin{clock: oauthtest.NewClock(t0)}
	m, err := New(Config{Open: l.open, Clock: l.clock})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(testCtx(t), Key{}); err != nil {
		t.Fatal(err)
	}
	e := m.entryOf(Key{})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(testCtx(t), Key{}); !errors.Is(err, tokenkeeper.ErrClosed) {
		t.Errorf("Token after Close: %v; want ErrClosed", err)
	}
	if _, err := e.src.TokenContext(testCtx(t)); !errors.Is(err, tokenkeeper.ErrClosed) {
		t.Errorf("Source after Close: %v; want ErrClosed", err)
	}
}

// 1,000 credentials expiring at once make exactly 1,000 token calls, and a
// credential whose login hangs delays no other credential.
func TestManagerThousandExpiring(t *testing.T) {
	l := &countingLogin{clock: oauthtest.NewClock(t0), blocked: make(chan struct{}), unblock: make(chan struct{})}
	m := newManager(t, Config{Open: l.open, Clock: l.clock})
	ctx := testCtx(t)
	const n = 1000
	round := func() {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				if _, err := m.Token(ctx, Key{Subject: fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	round()
	l.clock.Advance(time.Hour) // every token expires at once
	slow := make(chan error, 1)
	go func() {
		_, err := m.Token(ctx, Key{Subject: "slow"})
		slow <- err
	}()
	recv(t, l.blocked, "the slow login")
	round() // completes while the slow login hangs
	if got := l.calls.Load(); got != 2*n+1 {
		t.Errorf("logins = %d; want %d: one per credential and expiry", got, 2*n+1)
	}
	close(l.unblock)
	if err := recv(t, slow, "the slow caller"); err != nil {
		t.Error(err)
	}
}

// TestManagerReopenWaitsForClose: a credential evicted while its Source
// finishes a renewal (Close waits for a refresh token request in flight)
// is opened again only once that Close is over, so that the new Source
// reads the rotated token from the Store instead of presenting the
// rotated-away refresh token.
func TestManagerReopenWaitsForClose(t *testing.T) {
	clock := oauthtest.NewClock(t0)
	srv := daxium(t, 2, clock)
	m := newManager(t, Config{Open: daxiumOpen(srv, clock), MaxCredentials: 1, IdleTimeout: -1, Clock: clock})
	ctx := testCtx(t)
	a, b := Key{Subject: "user-0"}, Key{Subject: "user-1"}
	first, err := m.Token(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetLatency(300 * time.Millisecond)
	clock.Advance(56 * time.Minute) // stale: a background renewal starts
	if tok, err := m.Token(ctx, a); err != nil || tok.AccessToken != first.AccessToken {
		t.Fatalf("stale token = %v, %v; want the first, served at once", tok, err)
	}
	// Opening b evicts a while a's refresh is in flight at the provider.
	for i := 0; srv.Stats().TokenCalls["refresh_token"] == 0; i++ {
		if i == 1000 {
			t.Fatal("a's refresh did not reach the provider within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	bDone := make(chan error, 1)
	go func() { _, err := m.Token(ctx, b); bDone <- err }()
	for i := 0; ; i++ {
		m.mu.Lock()
		_, open := m.live[a]
		m.mu.Unlock()
		if !open {
			break
		}
		if i == 1000 {
			t.Fatal("a was not evicted within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tok, err := m.Token(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := recv(t, bDone, "b's login"); err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == first.AccessToken {
		t.Error("the reopened credential serves the token its evicted Source was renewing")
	}
	if st := srv.Stats(); st.RefreshReuse != 0 || st.TokenCalls["refresh_token"] != 1 {
		t.Errorf("stats = %+v; want one refresh and no reuse", st)
	}
}

// BenchmarkLookup is the cost of finding an open credential among 1,000
// (acquire and release, no token read): the figure the Manager promises
// to keep at about 100 ns, with no allocation.
func BenchmarkLookup(b *testing.B) {
	c, err := tokenkeeper.New(tokenkeeper.Config{TokenURL: "http://127.0.0.1:1/token", ClientID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	open := func(context.Context, Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
		return c, tokenkeeper.SourceConfig{Token: &tokenkeeper.Token{AccessToken: "at", Expiry: time.Now().Add(time.Hour)}}, nil
	}
	m, err := New(Config{Open: open})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	keys := make([]Key, 1000)
	for i := range keys {
		keys[i] = Key{Tenant: "tenant-" + strconv.Itoa(i%10), Subject: "user-" + strconv.Itoa(i), Scope: "read write", Audience: "https://api.example.com"}
		if _, err := m.Token(ctx, keys[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e, err := m.acquire(ctx, keys[i%len(keys)])
		if err != nil {
			b.Fatal(err)
		}
		m.release(e)
		i++
	}
}

// TestManagerRemoveRevokes: removing a credential (a user's logout) revokes
// its tokens at a provider that has a revocation endpoint and clears its
// Store; without one, it only forgets it, with no error.
func TestManagerRemoveRevokes(t *testing.T) {
	clock := oauthtest.NewClock(t0)
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Auth0, Clock: clock, Rotation: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg := tokenkeeper.Auth0("tenant.example.com", oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = srv.URL()
	cfg.Clock, cfg.HTTPClient = clock, srv.Client()
	c, err := tokenkeeper.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	issued := srv.Issue("", "openid offline_access")
	seed := &tokenkeeper.Token{AccessToken: issued.AccessToken, RefreshToken: issued.RefreshToken, IssuedAt: clock.Now(),
		Expiry: clock.Now().Add(time.Duration(issued.ExpiresIn) * time.Second)}
	store, err := tokenkeeper.NewFileStore(filepath.Join(t.TempDir(), "token.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, Config{Clock: clock, Open: func(context.Context, Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
		return c, tokenkeeper.SourceConfig{Token: seed, Store: store}, nil
	}})
	ctx := testCtx(t)
	k := Key{Tenant: "t", Subject: "u"}
	if _, err := m.Token(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(ctx, k); err != nil {
		t.Fatalf("Remove = %v", err)
	}
	if n := srv.Stats().Revocations; n != 2 {
		t.Errorf("revocations = %d; want 2 (refresh and access token)", n)
	}
	if _, err := c.Token(ctx, tokenkeeper.RefreshTokenGrant(seed.RefreshToken)); err == nil {
		t.Error("the removed credential's refresh token still works at the provider")
	}
	if left, _ := store.Load(ctx); left != nil && (left.AccessToken != "" || left.RefreshToken != "") {
		t.Errorf("the Store still holds a credential: %v", left)
	}

	// A provider without revocation endpoint: Remove forgets, no error.
	l := &countingLogin{clock: oauthtest.NewClock(t0)}
	m2 := newManager(t, Config{Open: l.open, Clock: l.clock})
	if _, err := m2.Token(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := m2.Remove(ctx, k); err != nil {
		t.Errorf("Remove without a revocation endpoint = %v; want nil", err)
	}
}
