package tokenkeeper

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestAgesOf(t *testing.T) {
	t.Parallel()
	t0 := mtT0
	def := margins{early: defaultEarlyRefresh, skew: defaultSkew}
	tests := []struct {
		name           string
		issued, expiry time.Time
		m              margins
		stale, skew    time.Time
	}{
		{"1h token", t0, t0.Add(time.Hour), def, t0.Add(55 * time.Minute), t0.Add(time.Hour - 3*time.Second)},
		{"30s token: capped at a quarter and a tenth", t0, t0.Add(30 * time.Second), def, t0.Add(22500 * time.Millisecond), t0.Add(27 * time.Second)},
		// Issue 10, point 6: no issue time, the margins apply whole.
		{"no issue time", time.Time{}, t0.Add(5 * time.Second), def, t0.Add(5*time.Second - 5*time.Minute), t0.Add(2 * time.Second)},
		{"issue time after expiry", t0.Add(time.Hour), t0, def, t0.Add(-5 * time.Minute), t0.Add(-3 * time.Second)},
		// Issue 10, point 8: early refresh switched off.
		{"early refresh off", t0, t0.Add(time.Hour), margins{early: defaultEarlyRefresh, skew: defaultSkew, noEarly: true}, t0.Add(time.Hour - 3*time.Second), t0.Add(time.Hour - 3*time.Second)},
		{"no skew", t0, t0.Add(time.Hour), margins{early: defaultEarlyRefresh}, t0.Add(55 * time.Minute), t0.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := agesOf(tt.issued, tt.expiry, tt.m)
			if !a.stale.Equal(tt.stale) || !a.skew.Equal(tt.skew) || !a.expiry.Equal(tt.expiry) {
				t.Errorf("agesOf = stale %v, skew %v, expiry %v; want %v, %v, %v", a.stale, a.skew, a.expiry, tt.stale, tt.skew, tt.expiry)
			}
		})
	}
	if a := agesOf(t0, time.Time{}, def); !a.stale.Equal(farFuture) || !a.expiry.Equal(farFuture) {
		t.Errorf("a token without expiry ages %+v; want never", a)
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	t0 := mtT0
	a := &ages{stale: t0.Add(55 * time.Minute), skew: t0.Add(59 * time.Minute), expiry: t0.Add(time.Hour)}
	failed := retry{failures: 1, next: t0.Add(2 * time.Hour), err: errors.New("down"), waitable: true}
	refused := retry{failures: 1, next: t0.Add(2 * time.Hour), err: ErrLoginRequired}
	fresh, stale, inSkew, expired := t0, t0.Add(56*time.Minute), t0.Add(59*time.Minute+30*time.Second), t0.Add(time.Hour)
	tests := []struct {
		name   string
		a      *ages
		now    time.Time
		flying bool
		r      retry
		want   action
	}{
		{"fresh", a, fresh, false, retry{}, serve},
		{"fresh, failures", a, fresh, false, failed, serve},
		{"stale", a, stale, false, retry{}, serveAndRenew},
		{"stale, renewal running", a, stale, true, retry{}, serve},
		{"stale, in backoff", a, stale, false, failed, serve},
		{"in skew: a renewal can replace it", a, inSkew, false, retry{}, renewAndJoin},
		{"in skew, renewal running", a, inSkew, true, retry{}, join},
		{"in skew, renewals failed: nothing better", a, inSkew, false, failed, serve},
		{"in skew, refused for good: still valid", a, inSkew, false, refused, serve},
		{"expired", a, expired, false, retry{}, renewAndJoin},
		{"expired, renewal running", a, expired, true, failed, join},
		{"expired, transient failure", a, expired, false, failed, waitRetry},
		{"expired, permanent failure", a, expired, false, refused, fail},
		{"no token", nil, fresh, false, retry{}, renewAndJoin},
		{"no token, permanent failure", nil, fresh, false, refused, fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(tt.a, tt.now, tt.flying, tt.r); got != tt.want {
				t.Errorf("decide = %v; want %v", got, tt.want)
			}
		})
	}
}

// Issue 10, point 4: every wait lies between MinBackoff and MaxBackoff,
// and follows the formula the docs state: base = min·2^(n-1) capped at
// max, plus up to half of base, capped at max.
func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	b := backoff{min: time.Second, max: time.Minute}
	for n := 1; n <= 70; n++ {
		base := min(time.Second<<min(n-1, 30), time.Minute)
		for _, u := range []float64{0, 0.25, 0.5, 0.999999} {
			d := b.delay(n, u)
			want := min(base+time.Duration(u*float64(base/2)), time.Minute)
			if d != want || d < b.min || d > b.max {
				t.Fatalf("delay(%d, %v) = %v; want %v within [%v, %v]", n, u, d, want, b.min, b.max)
			}
		}
	}
	huge := backoff{min: time.Second, max: time.Duration(1<<63 - 1)}
	if d := huge.delay(200, 0.9); d < huge.min {
		t.Errorf("delay with a huge max = %v: overflowed", d)
	}
}

func TestRetryFailed(t *testing.T) {
	t.Parallel()
	b := backoff{min: time.Second, max: time.Minute}
	now := mtT0
	var r retry
	r = r.failed(now, transient, &Error{StatusCode: http.StatusBadGateway}, b)
	if r.failures != 1 || !r.waitable || r.next.Before(now.Add(time.Second)) || r.next.After(now.Add(1500*time.Millisecond)) {
		t.Errorf("after a 502: %+v; want one waitable failure, next within [1s, 1.5s]", r)
	}
	r = r.failed(now, permanent, &Error{StatusCode: http.StatusBadRequest, Code: "invalid_grant"}, b)
	if r.failures != 2 || r.waitable || !r.next.Equal(now.Add(time.Minute)) {
		t.Errorf("after invalid_grant: %+v; want MaxBackoff and no waiting", r)
	}
	r = retry{}.failed(now, transient, &Error{StatusCode: http.StatusTooManyRequests, RetryAfter: 10 * time.Minute}, b)
	if !r.next.Equal(now.Add(10 * time.Minute)) {
		t.Errorf("after a 429 with Retry-After 10m: next %v; want in 10m", r.next.Sub(now))
	}
	// Issue 10, point 3: after a login refused by ReloginInterval, the
	// next attempt comes when the login is allowed, not MaxBackoff later.
	wait := &loginWaitError{wait: 17 * time.Second, cause: ErrInvalidGrant}
	r = retry{}.failed(now, classify(wait), wait, b)
	if !r.next.Equal(now.Add(17*time.Second)) || !r.waitable {
		t.Errorf("after a throttled login: %+v; want the next attempt in 17s, waitable", r)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want failure
	}{
		{&Error{StatusCode: http.StatusBadGateway}, transient},
		{&Error{StatusCode: http.StatusTooManyRequests}, transient},
		{&Error{StatusCode: http.StatusBadRequest, Code: "invalid_grant"}, permanent},
		{&Error{StatusCode: http.StatusUnauthorized, Code: "invalid_client"}, permanent},
		{&Error{StatusCode: http.StatusUnauthorized, Code: "DAERR-AUTH001", clientRejected: true}, permanent},
		// Issue 10, point 3: a rejection cut off or unreadable is no
		// verdict on the grant.
		{&Error{StatusCode: http.StatusUnauthorized, Err: ErrMalformedResponse}, transient},
		{fmt.Errorf("read: %w", &refreshTimeoutError{timeout: time.Second, err: errors.New("x")}), transient},
		{&loginWaitError{wait: time.Second, cause: ErrInvalidGrant}, throttled},
		{&storeReadError{err: errors.New("down")}, transient},
		{ErrLoginRequired, permanent},
		{ErrClosed, closing},
	}
	for _, tt := range tests {
		if got := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
	// Issue 10, point 5: a rejected client is not a dead refresh token.
	if deadRefreshToken(&Error{StatusCode: http.StatusUnauthorized, Code: "DAERR-AUTH001", clientRejected: true}) {
		t.Error("a rejected client counts as a dead refresh token")
	}
	if !deadRefreshToken(&Error{StatusCode: http.StatusUnauthorized, Code: "DAERR-AUTH003"}) {
		t.Error("a rejected refresh token does not count as dead")
	}
}
