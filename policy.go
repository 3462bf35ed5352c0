package tokenkeeper

import (
	"errors"
	"math/rand/v2"
	"time"
)

// This file holds the renewal policy: what a caller does with the current
// token at a given time, and when a failed renewal may be tried again. It
// is pure: every function takes now and the state, and none reads a clock
// or locks anything.

// ages is when a token changes age: fresh until stale, then served while
// a renewal runs in the background; from skew on it is served only while
// nothing can replace it; never from expiry on.
type ages struct {
	stale, skew, expiry time.Time
}

// margins of a token: how long before its expiry it goes stale (early) and
// how long before it is held back while a renewal can replace it (skew).
type margins struct {
	early, skew time.Duration
	noEarly     bool // early refresh switched off
}

// agesOf returns the ages of a token issued at issued (zero if unknown)
// that expires at expiry (zero if never). With an issue time, the margins
// are capped at a quarter (early) and a tenth (skew) of the lifetime, so a
// short-lived token is not renewed on every call; without one (or with
// one not before the expiry, from a skewed clock), the margins apply
// whole: a lifetime counted from now would shrink them.
func agesOf(issued, expiry time.Time, m margins) ages {
	if expiry.IsZero() {
		return ages{stale: farFuture, skew: farFuture, expiry: farFuture}
	}
	early, skew := m.early, m.skew
	if !issued.IsZero() && issued.Before(expiry) {
		life := max(expiry.Sub(issued), 0)
		early = min(early, life/4)
		skew = min(skew, life/10)
	}
	a := ages{skew: expiry.Add(-skew), expiry: expiry}
	a.stale = expiry.Add(-early)
	if m.noEarly || a.stale.After(a.skew) {
		a.stale = a.skew
	}
	return a
}

// farFuture stands for "never" in ages.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// action is what a caller does.
type action int

const (
	// serve the current token.
	serve action = iota
	// serveAndRenew serves the current token and starts a renewal in the
	// background.
	serveAndRenew
	// join waits for the renewal in flight.
	join
	// renewAndJoin starts a renewal and waits for it.
	renewAndJoin
	// waitRetry waits until the next attempt is allowed, if the caller's
	// deadline reaches it.
	waitRetry
	// fail returns the last failure at once.
	fail
)

// decide says what a caller does at now with the current token's ages (nil
// when no token can be served: none yet, no access token, or refused by an
// API), whether a renewal is in flight, and the retry state.
//
// A fresh token is served. A stale one is served, and renewed unless a
// renewal runs or the backoff has not passed. Inside its skew, a token is
// held back while a renewal can replace it, and served when renewals have
// failed and the next is not due: nothing better exists. Without a token
// that can be served, a caller waits for a renewal, or for the next
// attempt if the failure allows waiting, or fails.
func decide(a *ages, now time.Time, flying bool, r retry) action {
	due := !now.Before(r.next)
	switch {
	case a != nil && now.Before(a.stale):
		return serve
	case a != nil && now.Before(a.skew):
		if flying || !due {
			return serve
		}
		return serveAndRenew
	case a != nil && now.Before(a.expiry):
		switch {
		case flying:
			return join
		case !due:
			return serve
		}
		return renewAndJoin
	case flying:
		return join
	case due:
		return renewAndJoin
	case r.waitable:
		return waitRetry
	}
	return fail
}

// retry is the state of renewals after failures: how many failed in a
// row, when the next may start, and why the last one failed. The zero
// value means the last renewal succeeded (or none ran).
type retry struct {
	failures int
	next     time.Time // no attempt before this
	err      error     // the last failure
	// waitable is set when callers may wait for the next attempt (a
	// transient failure, a login not allowed yet); a permanent failure
	// fails them at once.
	waitable bool
}

// backoff bounds the wait between attempts.
type backoff struct {
	min, max time.Duration
}

// failed returns the retry state after a failure of class k at now. The
// wait is the backoff for a transient failure and max for a permanent
// one, and never less than what err asks for: a server's Retry-After, or
// the time until a login is allowed again (then exactly that).
func (r retry) failed(now time.Time, k failure, err error, b backoff) retry {
	n := r.failures + 1
	var wait time.Duration
	switch k {
	case throttled:
		var we *loginWaitError
		errors.As(err, &we)
		wait = we.wait
	case permanent:
		wait = b.max
	default:
		wait = b.delay(n, rand.Float64())
	}
	var pe *Error
	if errors.As(err, &pe) && pe.RetryAfter > wait {
		wait = pe.RetryAfter
	}
	return retry{failures: n, next: now.Add(wait), err: err, waitable: k != permanent}
}

// delay returns the wait after the n-th failure in a row for a random u in
// [0, 1): base = min·2^(n-1), capped at max, plus jitter of up to half of
// base on top, the sum capped at max. It is never below min nor above max.
func (b backoff) delay(n int, u float64) time.Duration {
	base := b.min
	for i := 1; i < n && base < b.max; i++ {
		if base > b.max/2 {
			base = b.max // and no overflow
			break
		}
		base *= 2
	}
	base = min(base, b.max)
	d := base + time.Duration(u*float64(base/2))
	return max(min(d, b.max), b.min)
}
