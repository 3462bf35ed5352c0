package tokenkeeper

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// lostLease is a shared store whose lease cannot be renewed.
type lostLease struct {
	memoryStore
	lease time.Duration
}

func (l *lostLease) TryLock(ctx context.Context) (func(context.Context) error, bool, error) {
	unlock, _, ok, err := l.TryLockRenewable(ctx)
	return unlock, ok, err
}

func (l *lostLease) TryLockRenewable(context.Context) (unlock, renew func(context.Context) error, ok bool, err error) {
	unlock = func(context.Context) error { return nil }
	renew = func(context.Context) error { return errors.New("lock lost") }
	return unlock, renew, true, nil
}

func (l *lostLease) Lease() time.Duration { return l.lease }

// A holder whose lease renewal fails stops its token request and does
// not use its outcome, and says why.
func TestLeaseRenewalFailureStopsRenewal(t *testing.T) {
	clock, srv, c := mtDaxium(t)
	srv.SetLatency(2 * time.Second)
	store := &lostLease{lease: 60 * time.Millisecond}
	seed := mtIssued(clock, srv.Issue("", ""))
	store.Save(context.Background(), seed)
	var evs mtEvents
	s := mtSource(t, c, SourceConfig{Store: store, OnEvent: evs.on})
	if _, err := s.TokenContext(mtCtx(t)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	start := time.Now()
	tok, err := s.TokenContext(mtImpatient(t))
	if tok != nil || err == nil || !strings.Contains(err.Error(), "lease could not be renewed") {
		t.Fatalf("TokenContext = %v, %v; want the lost lease as the error", tok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the renewal ran %v; want it stopped at the first failed lease renewal", d)
	}
	if ev, ok := evs.last(EventStoreFailed); !ok || !strings.Contains(ev.Err.Error(), "lock lost") {
		t.Errorf("EventStoreFailed = %v, %v; want the failed lease renewal", ev, ok)
	}
	if st, _ := store.Load(context.Background()); st.AccessToken != seed.AccessToken {
		t.Error("a token obtained without the lease was stored")
	}
}
