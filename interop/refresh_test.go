package interop

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
)

// rotations is how many refreshes the rotation test waits for: one per
// expiry.
const rotations = 3

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	t.Run("tokenkeeper", func(t *testing.T) {
		t.Parallel()
		row(t, flowRotation, tk)
		p := startOP(t)
		c, seed := p.tkLogin(t)
		store, err := tokenkeeper.NewFileStore(filepath.Join(t.TempDir(), "token.json"))
		if err != nil {
			t.Fatal(err)
		}
		var hook seen
		src, err := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{
			Token: seed, Store: store,
			OnToken: func(_ context.Context, tok *tokenkeeper.Token) { hook.add(tok.RefreshToken) },
		})
		if err != nil {
			t.Fatalf("NewSource: %v", err)
		}
		t.Cleanup(func() { src.Close() })

		pollUntil(t, func() bool { return len(hook.after(seed.RefreshToken)) >= rotations }, func(ctx context.Context) error {
			tok, err := src.TokenContext(ctx)
			if err == nil && !tok.Expiry.After(time.Now()) {
				err = errors.New("an expired token was served")
			}
			return err
		})

		checkRotationChain(t, p, seed.RefreshToken, hook.after(seed.RefreshToken))
		checkStoreHoldsNewest(t, p, store)
	})
	t.Run("x-oauth2", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowRotation, xo)
		p := startOP(t)
		ctx := xContext(t, 4*rotations*tokenLifetime)
		cfg, seed := p.xLogin(t, ctx)
		ts := cfg.TokenSource(ctx, seed)
		var current *oauth2.Token
		pollUntil(t, func() bool { return len(p.wire.exchanges("refresh_token")) >= rotations }, func(context.Context) error {
			tok, err := ts.Token()
			if err == nil && !tok.Expiry.After(time.Now()) {
				err = errors.New("an expired token was served")
			}
			current = tok
			return err
		})

		last := seed.RefreshToken
		refreshes := p.wire.exchanges("refresh_token")
		for i, e := range refreshes {
			if e.Status != 200 || e.RefreshToken != last {
				t.Errorf("refresh %d: status %d, presented the newest refresh token: %v; want 200, true", i+1, e.Status, e.RefreshToken == last)
			}
			last = e.Answer.RefreshToken
		}
		if tok, err := ts.Token(); err != nil || (tok.RefreshToken != last && current.RefreshToken != last) {
			t.Errorf("the TokenSource holds the newest refresh token: false (err %v); want true", err)
		}
		c.gapf("follows rotation; no hook or store to persist a rotated refresh token: the caller must compare tokens after every call")
	})
}

func TestConcurrentCallersAtExpiry(t *testing.T) {
	t.Parallel()
	const callers = 100
	t.Run("tokenkeeper", func(t *testing.T) {
		t.Parallel()
		row(t, flowConcurrent, tk)
		p := startOP(t)
		c, seed := p.tkLogin(t)
		src, err := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{Token: seed})
		if err != nil {
			t.Fatalf("NewSource: %v", err)
		}
		t.Cleanup(func() { src.Close() })
		if _, err := src.TokenContext(testContext(t, 10*time.Second)); err != nil {
			t.Fatalf("first TokenContext: %v", err)
		}
		waitPast(t, seed.Expiry)

		got := atOnce(callers, func() (string, error) {
			tok, err := src.TokenContext(testContext(t, 10*time.Second))
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		})
		checkOneRefresh(t, p, got, seed.AccessToken)
	})
	t.Run("x-oauth2", func(t *testing.T) {
		t.Parallel()
		row(t, flowConcurrent, xo)
		p := startOP(t)
		ctx := xContext(t, 2*tokenLifetime)
		cfg, seed := p.xLogin(t, ctx)
		ts := cfg.TokenSource(ctx, seed)
		if _, err := ts.Token(); err != nil {
			t.Fatalf("first Token: %v", err)
		}
		waitPast(t, seed.Expiry)

		got := atOnce(callers, func() (string, error) {
			tok, err := ts.Token()
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		})
		checkOneRefresh(t, p, got, seed.AccessToken)
	})
}

// atOnce runs get in n goroutines released together, and returns what
// each got.
func atOnce(n int, get func() (string, error)) []result {
	out := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			<-start
			out[i].token, out[i].err = get()
		})
	}
	close(start)
	wg.Wait()
	return out
}

type result struct {
	token string
	err   error
}

// checkOneRefresh checks that every caller got the same new token, which
// one refresh on the wire brought.
func checkOneRefresh(t *testing.T, p *provider, got []result, old string) {
	t.Helper()
	refreshes := p.wire.exchanges("refresh_token")
	if len(refreshes) != 1 {
		t.Fatalf("refresh requests on the wire = %d; want 1", len(refreshes))
	}
	want := refreshes[0].Answer.AccessToken
	failed, other := 0, 0
	for _, r := range got {
		switch {
		case r.err != nil:
			failed++
		case r.token != want || r.token == old:
			other++
		}
	}
	if failed != 0 || other != 0 {
		t.Errorf("of %d callers: %d failed, %d got another token than the refreshed one; want 0, 0", len(got), failed, other)
	}
}

func TestRevokedRefreshToken(t *testing.T) {
	t.Parallel()
	t.Run("tokenkeeper", func(t *testing.T) {
		t.Parallel()
		row(t, flowRevoked, tk)
		p := startOP(t)
		c, seed := p.tkLogin(t)
		src, err := tokenkeeper.NewSource(c, tokenkeeper.SourceConfig{Token: seed})
		if err != nil {
			t.Fatalf("NewSource: %v", err)
		}
		t.Cleanup(func() { src.Close() })
		tok, err := src.TokenContext(testContext(t, 10*time.Second))
		if err != nil {
			t.Fatalf("TokenContext: %v", err)
		}
		p.revoke(t, seed.RefreshToken, "refresh_token")

		// An API refused the token: the Source must refresh, and cannot.
		if _, err := src.Renew(testContext(t, 10*time.Second), tok); !errors.Is(err, tokenkeeper.ErrLoginRequired) {
			t.Errorf("Refresh error = %v; want one matching ErrLoginRequired", err)
		}
		if _, err := src.TokenContext(testContext(t, 10*time.Second)); !errors.Is(err, tokenkeeper.ErrLoginRequired) {
			t.Errorf("TokenContext error = %v; want one matching ErrLoginRequired", err)
		}
		if _, err := src.Renew(testContext(t, 10*time.Second), tok); !errors.Is(err, tokenkeeper.ErrLoginRequired) {
			t.Errorf("second Refresh error = %v; want one matching ErrLoginRequired", err)
		}
		if n := presented(p, seed.RefreshToken); n != 1 {
			t.Errorf("the revoked refresh token was presented %d times; want 1", n)
		}
	})
	t.Run("x-oauth2", func(t *testing.T) {
		t.Parallel()
		c := row(t, flowRevoked, xo)
		p := startOP(t)
		ctx := xContext(t, 10*time.Second)
		cfg, seed := p.xLogin(t, ctx)
		p.revoke(t, seed.RefreshToken, "refresh_token")

		// x/oauth2 cannot be told that an API refused a token: it
		// refreshes a token it believes expired.
		expired := *seed
		expired.Expiry = time.Now().Add(-time.Second)
		ts := cfg.TokenSource(ctx, &expired)
		_, err := ts.Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("Token error = %v; want a *oauth2.RetrieveError with invalid_grant", err)
		}
		_, _ = ts.Token()
		c.gapf("*oauth2.RetrieveError invalid_grant, no sign that a new login is needed; 2 calls presented the revoked refresh token %d times", presented(p, seed.RefreshToken))
	})
}

// presented counts the refresh requests that presented refreshToken.
func presented(p *provider, refreshToken string) int {
	n := 0
	for _, e := range p.wire.exchanges("refresh_token") {
		if e.RefreshToken == refreshToken {
			n++
		}
	}
	return n
}

// checkRotationChain checks that each refresh on the wire presented the
// refresh token OnToken saw last (the seed first), and that OnToken saw
// each rotated one.
func checkRotationChain(t *testing.T, p *provider, seed string, persisted []string) {
	t.Helper()
	refreshes := p.wire.exchanges("refresh_token")
	if len(refreshes) < rotations || len(persisted) < rotations {
		t.Fatalf("refreshes on the wire = %d, seen by OnToken = %d; want at least %d each", len(refreshes), len(persisted), rotations)
	}
	last := seed // the hook need not see the seed, which the application gave
	for i, e := range refreshes[:rotations] {
		if e.Status != 200 || e.RefreshToken != last {
			t.Errorf("refresh %d: status %d, presented the refresh token OnToken saw last: %v; want 200, true", i+1, e.Status, e.RefreshToken == last)
		}
		if persisted[i] != e.Answer.RefreshToken || e.Answer.RefreshToken == e.RefreshToken {
			t.Errorf("refresh %d: OnToken saw the rotated refresh token: %v, rotated: %v; want true, true", i+1,
				persisted[i] == e.Answer.RefreshToken, e.Answer.RefreshToken != e.RefreshToken)
		}
		last = persisted[i]
	}
}

// checkStoreHoldsNewest checks that store holds the refresh token of the
// newest refresh on the wire.
func checkStoreHoldsNewest(t *testing.T, p *provider, store *tokenkeeper.FileStore) {
	t.Helper()
	stored, err := store.Load(testContext(t, time.Second))
	if err != nil {
		t.Fatalf("FileStore.Load: %v", err)
	}
	newest := p.wire.exchanges("refresh_token")
	if want := newest[len(newest)-1].Answer.RefreshToken; stored == nil || stored.RefreshToken != want {
		t.Errorf("the FileStore holds the newest refresh token: false; want true")
	}
}
