package oauthtest

import (
	"sync"
	"time"
)

// Clock is a controllable clock. A Server given one reads it for token
// expiry, authorization-code expiry, the Daxium login window and DAERR
// server_time, so tests move time forward instead of sleeping. Its Now
// method lets it be passed wherever an interface{ Now() time.Time } clock is
// accepted, so a client under test and the Server can share one.
//
// A Clock is safe for concurrent use by multiple goroutines. Use NewClock;
// the zero value reads the zero time.
type Clock struct {
	mu  sync.Mutex
	now time.Time
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

// Advance moves the clock forward by d (backward if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t, forward or backward.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
