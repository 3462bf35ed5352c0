package redisstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/multi"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// TestStorePerCredentialKey: a multi.Manager whose credentials each get a
// Store named by their Key's ID keeps each user's token and lock apart in
// Redis, under keys that name no user.
func TestStorePerCredentialKey(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	rdb := rs.client(t)
	clock := oauthtest.NewClock(time.Date(2030, time.March, 4, 10, 0, 0, 0, time.UTC))
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock,
		Users: map[string]string{"alice@example.com": "pw-alice", "bob@example.com": "pw-bob"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	stores := map[string]*Store{}
	open := func(_ context.Context, k multi.Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
		cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
		cfg.BaseURL = srv.URL()
		cfg.Clock, cfg.HTTPClient = clock, srv.Client()
		c, err := tokenkeeper.New(cfg)
		if err != nil {
			return nil, tokenkeeper.SourceConfig{}, err
		}
		store, err := New(rdb, "api:"+k.ID(), Options{})
		if err != nil {
			return nil, tokenkeeper.SourceConfig{}, err
		}
		stores[k.Subject] = store
		password := "pw-" + strings.TrimSuffix(k.Subject, "@example.com")
		return c, tokenkeeper.SourceConfig{Store: store, Login: tokenkeeper.PasswordGrant(k.Subject, password)}, nil
	}
	m, err := multi.New(multi.Config{Open: open, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tokens := map[string]string{}
	for _, user := range []string{"alice@example.com", "bob@example.com"} {
		tok, err := m.Token(ctx, multi.Key{Tenant: "t1", Subject: user})
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		tokens[user] = tok.AccessToken
	}
	checkPerUserKeys(ctx, t, rdb, stores, tokens)
}

// checkPerUserKeys checks that each user's Store has a Redis key and lock
// of its own, holding the token that user was served, and that no Redis
// key names a user or tenant.
func checkPerUserKeys(ctx context.Context, t *testing.T, rdb redis.UniversalClient, stores map[string]*Store, tokens map[string]string) {
	t.Helper()
	alice, bob := stores["alice@example.com"], stores["bob@example.com"]
	if alice.Key() == bob.Key() || alice.LockKey() == bob.LockKey() {
		t.Fatalf("the two users share a Redis key: %q, %q", alice.Key(), alice.LockKey())
	}
	for user, s := range stores {
		got, err := s.Load(ctx)
		if err != nil || got == nil || got.AccessToken != tokens[user] {
			t.Errorf("%s's Redis key holds %v, %v; want the token %s was served", user, got, err, user)
		}
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, "alice") || strings.Contains(k, "bob") || strings.Contains(k, "t1") {
			t.Errorf("Redis key %q names a user or tenant", k)
		}
	}
	if len(keys) != 2 {
		t.Errorf("Redis keys = %v; want one token per user (locks released)", fmt.Sprint(keys))
	}
}
