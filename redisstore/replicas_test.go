package redisstore

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// These tests run tokenkeeper Sources as replicas of one service: each has
// its own tokenkeeper Client, HTTP transport, Redis client and Store, on
// one credential key, against a rotating fake Daxium Air provider. Time is
// a shared fake clock; the tests move it past the token's expiry instead
// of sleeping.

// fleet is the provider, the clock and Redis that replicas share.
type fleet struct {
	t     *testing.T
	clock *oauthtest.Clock
	srv   *oauthtest.Server
	redis *redisServer
	key   string
	life  time.Duration // token lifetime
}

func newFleet(t *testing.T, opts oauthtest.Options) *fleet {
	t.Helper()
	rs := startRedis(t)
	clock := oauthtest.NewClock(time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC))
	opts.Preset, opts.Clock = oauthtest.Daxium, clock
	srv, err := oauthtest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	f := &fleet{t: t, clock: clock, srv: srv, redis: rs, key: "daxium:" + t.Name(), life: oauthtest.DefaultTokenLifetime}
	if opts.TokenLifetime != 0 {
		f.life = opts.TokenLifetime
	}
	return f
}

// seed logs in once, out of band, and stores the token for the replicas.
func (f *fleet) seed() *tokenkeeper.Token {
	f.t.Helper()
	tr := f.srv.Issue("", "")
	now := f.clock.Now()
	tok := &tokenkeeper.Token{
		AccessToken:  tr.AccessToken,
		TokenType:    tr.TokenType,
		RefreshToken: tr.RefreshToken,
		Expiry:       now.Add(time.Duration(tr.ExpiresIn) * time.Second),
		IssuedAt:     now,
	}
	s := newStore(f.t, f.redis.client(f.t), f.key, Options{})
	if err := s.Save(context.Background(), tok); err != nil {
		f.t.Fatalf("seeding the store: %v", err)
	}
	return tok
}

// redisBack restarts Redis after a kill and waits, at most 10 s, until
// every replica's client reaches it again.
func (f *fleet) redisBack(reps []*replica) {
	f.t.Helper()
	f.redis.restart()
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range reps {
		for r.rdb.Ping(context.Background()).Err() != nil {
			if time.Now().After(deadline) {
				f.t.Fatalf("%s: Redis client not reconnected within 10s of the restart", r.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// expire moves the clock past the current token's expiry.
func (f *fleet) expire() { f.clock.Advance(f.life + time.Second) }

// replica is one process of the service.
type replica struct {
	name   string
	src    *tokenkeeper.Source
	store  *Store
	rdb    *redis.Client
	api    *http.Client
	events *events
}

type replicaConfig struct {
	store Options
	login bool // configure the password grant as the login
}

func (f *fleet) replica(name string, rc replicaConfig) *replica {
	t := f.t
	t.Helper()
	rdb := f.redis.client(t)
	store := newStore(t, rdb, f.key, rc.store)
	base := &http.Transport{MaxIdleConnsPerHost: 32, MaxConnsPerHost: 32}
	t.Cleanup(base.CloseIdleConnections)

	cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = f.srv.URL()
	cfg.Clock = f.clock
	cfg.HTTPClient = &http.Client{Transport: base, Timeout: 10 * time.Second}
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{counts: make(map[string]int)}
	sc := tokenkeeper.SourceConfig{Store: store, OnEvent: ev.add}
	if rc.login {
		sc.Login = tokenkeeper.PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword)
	}
	src, err := tokenkeeper.NewSource(client, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return &replica{name: name, src: src, store: store, rdb: rdb, api: src.HTTPClient(base), events: ev}
}

// events records a Source's events.
type events struct {
	mu     sync.Mutex
	counts map[string]int // by kind, by "kind/grant" and by "kind/op"
	errs   []string
}

func (e *events) add(ev tokenkeeper.Event) {
	e.mu.Lock()
	e.counts[string(ev.Kind)]++
	if ev.Grant != "" {
		e.counts[string(ev.Kind)+"/"+ev.Grant]++
	}
	if ev.Op != "" {
		e.counts[string(ev.Kind)+"/"+ev.Op]++
	}
	if ev.Err != nil && len(e.errs) < 20 {
		e.errs = append(e.errs, string(ev.Kind)+": "+ev.Err.Error())
	}
	e.mu.Unlock()
}

func (e *events) count(k tokenkeeper.EventKind, grant ...string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := string(k)
	if len(grant) > 0 {
		key += "/" + grant[0]
	}
	return e.counts[key]
}

func (e *events) errors() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.errs...)
}

func sum(reps []*replica, k tokenkeeper.EventKind, grant ...string) int {
	n := 0
	for _, r := range reps {
		n += r.events.count(k, grant...)
	}
	return n
}

// get calls the provider's API through the replica's HTTP client.
func (r *replica) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := r.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: API answered %s", r.name, resp.Status)
	}
	return nil
}

// roundResult is what one burst of requests gave.
type roundResult struct {
	failed   int64
	firstErr error
	elapsed  time.Duration
}

// burst sends perReplica concurrent API requests from every replica and
// waits, at most limit, for all of them. during, if set, runs once the
// requests are launched.
func (f *fleet) burst(reps []*replica, perReplica int, limit time.Duration, during func()) roundResult {
	f.t.Helper()
	var (
		wg       sync.WaitGroup
		failed   atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	for _, r := range reps {
		for range perReplica {
			wg.Go(func() {
				if err := r.get(ctx, f.srv.APIURL()); err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
				}
			})
		}
	}
	if during != nil {
		during()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(limit + 5*time.Second):
		f.t.Fatalf("requests still running %v after they started", limit+5*time.Second)
	}
	return roundResult{failed: failed.Load(), firstErr: firstErr, elapsed: time.Since(start)}
}

// TestReplicasShareOneRefresh: 8 replicas serving 200 concurrent requests
// each through 20 rotations of a Daxium refresh token make exactly one
// token call per rotation, present no refresh token twice and fail no
// request.
func TestReplicasShareOneRefresh(t *testing.T) {
	checkLeaks(t)
	const (
		replicas   = 8
		requests   = 200 // concurrent, per replica and rotation
		rotations  = 20
		roundLimit = 60 * time.Second
	)
	f := newFleet(t, oauthtest.Options{})
	seeded := f.seed()
	reps := make([]*replica, replicas)
	for i := range reps {
		reps[i] = f.replica(fmt.Sprintf("replica-%d", i), replicaConfig{})
	}

	// Every replica starts from the stored token: no token call.
	if res := f.burst(reps, requests, roundLimit, nil); res.failed != 0 {
		t.Fatalf("warm-up: %d requests failed; first: %v", res.failed, res.firstErr)
	}
	if st := f.srv.Stats(); st.TokenCallsTotal != 0 {
		t.Fatalf("warm-up made %d token calls; want 0 (the stored token is valid)", st.TokenCallsTotal)
	}

	failed, total, slowest := rotateOneRefreshEach(t, f, reps, requests, rotations, roundLimit)
	st := f.srv.Stats()
	t.Logf("%d replicas x %d concurrent requests x %d rotations: %d API calls, %d failed, token calls %v, refresh reuse %d, 401s %d; rotation round trip mean %v, slowest %v",
		replicas, requests, rotations, st.APICalls, failed, st.TokenCalls, st.RefreshReuse, st.API401s,
		(total / rotations).Round(time.Millisecond), slowest.Round(time.Millisecond))
	if want := int(replicas * requests * (rotations + 1)); st.APICalls != want {
		t.Errorf("API calls = %d; want %d", st.APICalls, want)
	}
	checkSharedRefreshes(t, f, reps, rotations)
	checkAllHoldStored(t, reps, seeded)
}

// rotateOneRefreshEach expires the token rotations times, each time sends
// requests concurrent requests through every replica, and checks that each
// rotation makes one refresh_token call and fails no request. It returns
// the failed requests and the total and slowest rotation times.
func rotateOneRefreshEach(t *testing.T, f *fleet, reps []*replica, requests, rotations int, limit time.Duration) (failed int64, total, slowest time.Duration) {
	t.Helper()
	for i := 1; i <= rotations; i++ {
		f.expire()
		res := f.burst(reps, requests, limit, nil)
		if res.failed != 0 {
			t.Errorf("rotation %d: %d requests failed; first: %v", i, res.failed, res.firstErr)
		}
		failed += res.failed
		total += res.elapsed
		slowest = max(slowest, res.elapsed)
		if got := f.srv.Stats().TokenCalls["refresh_token"]; got != i {
			t.Fatalf("after rotation %d: %d refresh_token calls; want %d", i, got, i)
		}
	}
	return failed, total, slowest
}

// checkSharedRefreshes checks that rotations rotations made exactly one
// refresh each, by one replica, the others taking its token from the
// store, with no reuse, login, 401, fallback or failure.
func checkSharedRefreshes(t *testing.T, f *fleet, reps []*replica, rotations int) {
	t.Helper()
	st := f.srv.Stats()
	if st.TokenCallsTotal != rotations || st.TokenCalls["refresh_token"] != rotations {
		t.Errorf("token calls = %v (total %d); want exactly %d refresh_token calls", st.TokenCalls, st.TokenCallsTotal, rotations)
	}
	if st.RefreshReuse != 0 || st.Logins != 0 || st.API401s != 0 {
		t.Errorf("refresh reuse %d, logins %d, API 401s %d; want 0, 0, 0", st.RefreshReuse, st.Logins, st.API401s)
	}
	if n := sum(reps, tokenkeeper.EventRefreshStarted, "refresh_token"); n != rotations {
		t.Errorf("refresh_token refreshes started by the replicas = %d; want %d", n, rotations)
	}
	if n := sum(reps, tokenkeeper.EventRefreshSucceeded, "shared"); n != (len(reps)-1)*rotations {
		t.Errorf("tokens taken from the store = %d; want %d", n, (len(reps)-1)*rotations)
	}
	for _, r := range reps {
		if n := r.events.count(tokenkeeper.EventStoreFailed, "lock") + r.events.count(tokenkeeper.EventStoreFailed) + r.events.count(tokenkeeper.EventRefreshFailed); n != 0 {
			t.Errorf("%s: %d fallback, store or refresh failures: %q", r.name, n, r.events.errors())
		}
	}
}

// checkAllHoldStored checks that every replica holds the stored token, and
// that it is no longer the seeded one.
func checkAllHoldStored(t *testing.T, reps []*replica, seeded *tokenkeeper.Token) {
	t.Helper()
	stored, err := reps[0].store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stored.RefreshToken == seeded.RefreshToken {
		t.Fatalf("the stored refresh token is still the seeded one")
	}
	for _, r := range reps {
		tok, err := r.src.TokenContext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken != stored.AccessToken || tok.RefreshToken != stored.RefreshToken {
			t.Errorf("%s holds another token than the stored one", r.name)
		}
	}
}

// TestCrashedLockHolder: the replica holding the lock dies while its token
// call hangs, without releasing the lock. Another replica waits for the
// lease to run out, takes the lock and refreshes with the same refresh
// token, which the dead replica never got to rotate.
func TestCrashedLockHolder(t *testing.T) {
	checkLeaks(t)
	const lease = 300 * time.Millisecond
	f := newFleet(t, oauthtest.Options{})
	f.seed()
	rc := replicaConfig{store: Options{Lease: lease}}
	holder, next := f.replica("holder", rc), f.replica("next", rc)
	if res := f.burst([]*replica{holder, next}, 10, 10*time.Second, nil); res.failed != 0 {
		t.Fatalf("warm-up: %d requests failed; first: %v", res.failed, res.firstErr)
	}

	f.srv.HangNext(1)
	f.expire()
	holderDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := holder.src.TokenContext(ctx)
		holderDone <- err
	}()
	admin := f.redis.client(t)
	leaseEnd := waitForLock(t, admin, holder.store.LockKey())
	killHolder(t, admin, holder, holderDone)

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := next.src.TokenContext(ctx)
	done := time.Now()
	if err != nil {
		t.Fatalf("the next replica: %v", err)
	}
	if err := next.get(ctx, f.srv.APIURL()); err != nil {
		t.Errorf("the next replica's API call: %v", err)
	}
	waited, recovered := done.Sub(start), done.Sub(leaseEnd)
	t.Logf("lease %v: the next replica waited %v, got its token %v after the lease ran out", lease, waited.Round(time.Millisecond), recovered.Round(time.Millisecond))
	if done.Before(leaseEnd.Add(-20 * time.Millisecond)) {
		t.Errorf("the next replica refreshed %v before the dead holder's lease ran out", leaseEnd.Sub(done))
	}
	if recovered > 2*time.Second {
		t.Errorf("the next replica got its token %v after the lease ran out; want well under 2s", recovered)
	}
	checkNextTookOver(t, f, next, tok)
}

// waitForLock waits up to 10s for the lock at key to be taken, and returns
// when its lease runs out. A renewal's events reach OnEvent when it ends:
// the lock in Redis is what says that a holder is renewing.
func waitForLock(t *testing.T, admin redis.UniversalClient, key string) time.Time {
	t.Helper()
	for i := 0; admin.Exists(context.Background(), key).Val() == 0; i++ {
		if i == 1000 {
			t.Fatal("the holder did not take the lock within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ttl := admin.PTTL(context.Background(), key).Val()
	if ttl <= 0 {
		t.Fatalf("PTTL of the lock while the holder refreshes = %v; want > 0", ttl)
	}
	return time.Now().Add(ttl)
}

// killHolder kills the replica holding the lock: its Redis connection goes
// first, so its unlock cannot run; then its process stops, cancelling its
// hung call, whose result comes on done. The lock must remain.
func killHolder(t *testing.T, admin redis.UniversalClient, holder *replica, done <-chan error) {
	t.Helper()
	holder.rdb.Close()
	holder.src.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the dead holder got a token")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the holder's request did not end within 10s of its Close")
	}
	if n := admin.Exists(context.Background(), holder.store.LockKey()).Val(); n != 1 {
		t.Fatalf("the dead holder's lock exists = %d; want 1 (never released)", n)
	}
}

// checkNextTookOver checks that next stored its token tok, refreshing with
// the refresh token the dead holder never rotated, after waiting for the
// lock rather than falling back.
func checkNextTookOver(t *testing.T, f *fleet, next *replica, tok *tokenkeeper.Token) {
	t.Helper()
	stored, err := next.store.Load(context.Background())
	if err != nil || stored == nil || stored.AccessToken != tok.AccessToken {
		t.Errorf("the stored token is not the next replica's (err %v)", err)
	}
	st := f.srv.Stats()
	if st.TokenCalls["refresh_token"] != 2 || st.RefreshReuse != 0 || st.Logins != 0 {
		t.Errorf("token calls %v, refresh reuse %d, logins %d; want 2 refresh_token calls (the hung one and the next replica's), no reuse, no login",
			st.TokenCalls, st.RefreshReuse, st.Logins)
	}
	if n := next.events.count(tokenkeeper.EventStoreFailed, "lock"); n != 0 {
		t.Errorf("the next replica fell back %d times; want 0 (it waited for the lock): %q", n, next.events.errors())
	}
}

// TestRedisDownOneReplicaLosesNothing: Redis is killed; a replica keeps
// serving through several rotations, refreshing locally with the refresh
// token it keeps in memory, and saves its token again once Redis is back.
func TestRedisDownOneReplicaLosesNothing(t *testing.T) {
	checkLeaks(t)
	const (
		requests = 200
		outage   = 5 // rotations while Redis is down
	)
	f := newFleet(t, oauthtest.Options{})
	f.seed()
	r := f.replica("replica", replicaConfig{store: Options{Timeout: 500 * time.Millisecond}})
	reps := []*replica{r}
	if res := f.burst(reps, requests, 10*time.Second, nil); res.failed != 0 {
		t.Fatalf("warm-up: %d requests failed; first: %v", res.failed, res.firstErr)
	}

	f.redis.kill()
	var slowest time.Duration
	for i := 1; i <= outage; i++ {
		f.expire()
		res := f.burst(reps, requests, 30*time.Second, nil)
		if res.failed != 0 {
			t.Errorf("rotation %d with Redis down: %d requests failed; first: %v", i, res.failed, res.firstErr)
		}
		slowest = max(slowest, res.elapsed)
	}
	checkLocalRefreshes(t, f, r, outage, slowest)

	// Redis comes back, empty. The next rotation refreshes with the
	// refresh token kept in memory and stores the result.
	f.redisBack(reps)
	f.expire()
	if res := f.burst(reps, requests, 30*time.Second, nil); res.failed != 0 {
		t.Errorf("rotation after the restart: %d requests failed; first: %v", res.failed, res.firstErr)
	}
	checkStoredIsCurrent(t, r)
	if st := f.srv.Stats(); st.TokenCalls["refresh_token"] != outage+1 || st.RefreshReuse != 0 || st.Logins != 0 {
		t.Errorf("after the restart: token calls %v, reuse %d, logins %d; want %d refresh_token calls, no reuse, no login",
			st.TokenCalls, st.RefreshReuse, st.Logins, outage+1)
	}
}

// checkLocalRefreshes checks that r, alone while Redis was down for outage
// rotations, refreshed once per rotation, falling back to a local refresh
// and failing to save each time.
func checkLocalRefreshes(t *testing.T, f *fleet, r *replica, outage int, slowest time.Duration) {
	t.Helper()
	st := f.srv.Stats()
	t.Logf("Redis down, %d rotations: token calls %v, reuse %d, logins %d; fallbacks %d, store failures %d; slowest rotation %v",
		outage, st.TokenCalls, st.RefreshReuse, st.Logins, r.events.count(tokenkeeper.EventStoreFailed, "lock"),
		r.events.count(tokenkeeper.EventStoreFailed), slowest.Round(time.Millisecond))
	if st.TokenCalls["refresh_token"] != outage || st.TokenCallsTotal != outage || st.RefreshReuse != 0 || st.Logins != 0 {
		t.Errorf("token calls %v, reuse %d, logins %d; want %d refresh_token calls, no reuse, no login",
			st.TokenCalls, st.RefreshReuse, st.Logins, outage)
	}
	if n := r.events.count(tokenkeeper.EventStoreFailed, "lock"); n < outage {
		t.Errorf("lock fallbacks = %d; want at least %d", n, outage)
	}
	if n := r.events.count(tokenkeeper.EventStoreFailed); n < outage {
		t.Errorf("store failures = %d; want at least %d (every save)", n, outage)
	}
}

// checkStoredIsCurrent checks that the store holds r's current token.
func checkStoredIsCurrent(t *testing.T, r *replica) {
	t.Helper()
	cur, err := r.src.TokenContext(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored, err := r.store.Load(context.Background())
	if err != nil || stored == nil {
		t.Fatalf("Load after the restart = %v, %v; want the current token", stored, err)
	}
	if stored.AccessToken != cur.AccessToken || stored.RefreshToken != cur.RefreshToken {
		t.Errorf("the stored token is not the replica's current one")
	}
}

// TestRedisKilledMidRun: Redis is killed while 4 replicas serve a
// rotation. No request fails: replicas fall back to local refreshes, and
// those whose shared refresh token another replica rotated meanwhile log
// in again. Once Redis is back, a rotation costs one token call again.
func TestRedisKilledMidRun(t *testing.T) {
	checkLeaks(t)
	const (
		replicas = 4
		requests = 200
	)
	f := newFleet(t, oauthtest.Options{})
	f.seed()
	reps := make([]*replica, replicas)
	for i := range reps {
		reps[i] = f.replica(fmt.Sprintf("replica-%d", i), replicaConfig{store: Options{Timeout: 500 * time.Millisecond}, login: true})
	}
	check := func(what string, res roundResult) {
		t.Helper()
		if res.failed != 0 {
			t.Errorf("%s: %d requests failed; first: %v", what, res.failed, res.firstErr)
		}
		t.Logf("%s: %d requests in %v, %d failed", what, replicas*requests, res.elapsed.Round(time.Millisecond), res.failed)
	}
	check("warm-up", f.burst(reps, requests, 10*time.Second, nil))
	f.expire()
	check("rotation with Redis up", f.burst(reps, requests, 30*time.Second, nil))
	if n := f.srv.Stats().TokenCallsTotal; n != 1 {
		t.Fatalf("token calls with Redis up = %d; want 1", n)
	}

	f.expire()
	check("rotation during which Redis is killed", f.burst(reps, requests, 30*time.Second, f.redis.kill))
	for i := range 2 {
		f.expire()
		check(fmt.Sprintf("rotation %d with Redis down", i+1), f.burst(reps, requests, 30*time.Second, nil))
	}
	st := f.srv.Stats()
	t.Logf("outage: token calls %v, refresh reuse %d (rotated tokens presented by replicas that refreshed alone), logins %d",
		st.TokenCalls, st.RefreshReuse, st.Logins)
	for _, r := range reps {
		if r.events.count(tokenkeeper.EventStoreFailed, "lock") == 0 {
			t.Errorf("%s: no EventStoreFailed with Op lock during the outage", r.name)
		}
	}

	f.redisBack(reps)
	before := f.srv.Stats().TokenCallsTotal
	f.expire()
	check("rotation after Redis is back", f.burst(reps, requests, 30*time.Second, nil))
	if n := f.srv.Stats().TokenCallsTotal - before; n != 1 {
		t.Errorf("token calls in the rotation after Redis is back = %d; want 1", n)
	}
}

// TestSlowTokenEndpointKeepsLock: the token endpoint answers slower than
// the lock's lease. The holder renews its lease while its request is in
// flight, so no other replica takes the lock: exactly one refresh per
// rotation, no reuse, no login.
func TestSlowTokenEndpointKeepsLock(t *testing.T) {
	checkLeaks(t)
	const (
		replicas  = 8
		requests  = 5
		rotations = 8
		// The lease is renewed every third of it: a renewal late by up
		// to two thirds of it (a loaded machine) still holds the lock.
		lease   = 500 * time.Millisecond
		latency = 1100 * time.Millisecond // more than twice the lease
	)
	f := newFleet(t, oauthtest.Options{})
	f.seed()
	reps := make([]*replica, replicas)
	for i := range reps {
		reps[i] = f.replica(fmt.Sprintf("replica-%d", i), replicaConfig{store: Options{Lease: lease}, login: true})
	}
	f.srv.SetLatency(latency)
	var failed int64
	for i := 1; i <= rotations; i++ {
		f.expire()
		res := f.burst(reps, requests, 30*time.Second, nil)
		if res.failed != 0 {
			t.Errorf("rotation %d: %d requests failed; first: %v", i, res.failed, res.firstErr)
		}
		failed += res.failed
	}
	st := f.srv.Stats()
	t.Logf("%d replicas x %d rotations, token call %v > lease %v: token calls %v, reuse %d, logins %d, failed %d",
		replicas, rotations, latency, lease, st.TokenCalls, st.RefreshReuse, st.Logins, failed)
	if st.TokenCallsTotal != rotations || st.RefreshReuse != 0 || st.Logins != 0 {
		t.Errorf("token calls %d, reuse %d, logins %d; want %d, 0, 0", st.TokenCallsTotal, st.RefreshReuse, st.Logins, rotations)
	}
}
