package oauthtest

import (
	"sort"
	"sync"
	"time"
)

// Clock is a controllable clock. A Server given one reads it for token
// expiry, authorization-code expiry, the Daxium login window and DAERR
// server_time, so tests move time forward instead of sleeping. Its Now
// method lets it be passed wherever an interface{ Now() time.Time } clock is
// accepted, so a client under test and the Server can share one; its
// AfterFunc method lets a tokenkeeper Source schedule its retries on it.
//
// A Clock is safe for concurrent use by multiple goroutines. Use NewClock;
// the zero value reads the zero time.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*clockTimer
}

// clockTimer is a function waiting for the clock to reach at.
type clockTimer struct {
	at time.Time
	f  func()
}

// NewClock returns a Clock that reads start until it is advanced or set.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward if d is negative), and
// runs the functions of AfterFunc that are then due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	due := c.dueLocked()
	c.mu.Unlock()
	run(due)
}

// Set moves the clock to t, forward or backward, and runs the functions
// of AfterFunc that are then due.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	due := c.dueLocked()
	c.mu.Unlock()
	run(due)
}

// AfterFunc calls f once the clock has been moved to d past its current
// time (at once, if d <= 0). f runs in the goroutine that moves the clock
// (or calls AfterFunc), after the clock's lock is released: it must not
// block. stop cancels the call; it reports whether it did so before f ran.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	if d <= 0 {
		f()
		return func() bool { return false }
	}
	t := &clockTimer{f: f}
	c.mu.Lock()
	t.at = c.now.Add(d)
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, p := range c.timers {
			if p == t {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return true
			}
		}
		return false
	}
}

// dueLocked removes and returns the timers due at c.now, earliest first.
func (c *Clock) dueLocked() []*clockTimer {
	var due, left []*clockTimer
	for _, t := range c.timers {
		if t.at.After(c.now) {
			left = append(left, t)
		} else {
			due = append(due, t)
		}
	}
	c.timers = left
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	return due
}

func run(due []*clockTimer) {
	for _, t := range due {
		t.f()
	}
}
