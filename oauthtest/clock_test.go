package oauthtest

import (
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := NewClock(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v; want %v", got, start)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Advance, Now() = %v; want %v", got, want)
	}
	c.Set(start.Add(-time.Hour))
	if got, want := c.Now(), start.Add(-time.Hour); !got.Equal(want) {
		t.Errorf("after Set, Now() = %v; want %v", got, want)
	}
	var _ interface{ Now() time.Time } = c
}

func TestClockConcurrent(t *testing.T) {
	t.Parallel()
	start := time.Unix(0, 0)
	c := NewClock(start)
	const goroutines, steps = 8, 100
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range steps {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(goroutines*steps*time.Second); !got.Equal(want) {
		t.Errorf("Now() = %v; want %v", got, want)
	}
}

func TestClockAfterFunc(t *testing.T) {
	t.Parallel()
	c := NewClock(time.Unix(0, 0))
	var fired []string
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "2s") })
	c.AfterFunc(time.Second, func() { fired = append(fired, "1s") })
	stop := c.AfterFunc(time.Second, func() { fired = append(fired, "stopped") })
	if !stop() {
		t.Error("stop() = false before the timer fired; want true")
	}
	if stop() {
		t.Error("second stop() = true; want false")
	}
	c.Advance(999 * time.Millisecond)
	if len(fired) != 0 {
		t.Fatalf("fired %v before the time", fired)
	}
	c.Advance(5 * time.Second)
	if got := len(fired); got != 2 || fired[0] != "1s" || fired[1] != "2s" {
		t.Errorf("fired %v; want [1s 2s]", fired)
	}
	now := false
	if c.AfterFunc(0, func() { now = true })(); !now {
		t.Error("AfterFunc(0) did not run f at once")
	}
	c.Set(time.Unix(0, 0))
	late := false
	c.AfterFunc(time.Minute, func() { late = true })
	c.Set(time.Unix(3600, 0))
	if !late {
		t.Error("Set past the timer did not run it")
	}
}
