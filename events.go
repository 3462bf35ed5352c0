package tokenkeeper

import (
	"context"
	"log/slog"
	"time"
)

// EventKind says what happened, in a few words.
type EventKind string

// The kinds of Event.
const (
	// EventRefreshStarted: a renewal attempt began (refresh token or
	// login grant).
	EventRefreshStarted EventKind = "refresh started"
	// EventRefreshSucceeded: a new token is in use.
	EventRefreshSucceeded EventKind = "refresh succeeded"
	// EventRefreshFailed: an attempt failed; Err says why, Delay when the
	// next attempt may start.
	EventRefreshFailed EventKind = "refresh failed"
	// EventLogin: the login grant was used for a first token or a
	// re-login (Err: why the refresh token was rejected).
	EventLogin EventKind = "login"
	// EventStoreFailed: Store.Save or Load (or a shared lock's unlock)
	// failed; the token in memory is kept and used.
	EventStoreFailed EventKind = "store failed"
	// EventSharedToken: another process holding the shared lock renewed;
	// its token was taken from the Store.
	EventSharedToken EventKind = "token taken from shared store"
	// EventLockFallback: the shared lock could not be used (the store is
	// unreachable); the renewal went ahead in this process only.
	EventLockFallback EventKind = "shared lock unavailable, refreshing locally"
	// EventUnauthorized: an API answered 401 to a request of the
	// Transport; Recovered tells whether it was replayed with a new
	// token, Err why not.
	EventUnauthorized EventKind = "401 from API"
)

// Event describes something a Source did, for logs and metrics. It holds
// no secret.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Time is when it happened, by the Client's clock.
	Time time.Time
	// Grant is the grant type used, if any.
	Grant string
	// Failures is the number of consecutive failed attempts, this one
	// included.
	Failures int
	// Delay is how long until the next attempt may start (failures).
	Delay time.Duration
	// Elapsed is how long the attempt took.
	Elapsed time.Duration
	// Recovered is set on EventUnauthorized when the request was replayed.
	Recovered bool
	// Err is the failure, if any.
	Err error
}

// emit reports ev of flight f (nil outside a flight). The Logger gets it
// at once; OnEvent gets it at once outside a flight, and when the flight
// ends otherwise (see deliver).
func (s *Source) emit(f *flight, ev Event) {
	s.emitContext(context.Background(), f, ev)
}

// emitContext is emit with the context of the request the event belongs
// to, for the Logger's handler.
func (s *Source) emitContext(ctx context.Context, f *flight, ev Event) {
	ev.Time = s.c.now()
	s.log(ctx, ev)
	if s.cfg.OnEvent == nil {
		return
	}
	if f != nil {
		f.events = append(f.events, ev)
		return
	}
	s.cfg.OnEvent(ev)
}

// deliver hands the events that flight f queued to OnEvent, once f is
// over.
func (s *Source) deliver(f *flight) {
	for _, ev := range f.events {
		s.cfg.OnEvent(ev)
	}
	f.events = nil
}

// log writes ev to the Client's Logger, if any.
func (s *Source) log(ctx context.Context, ev Event) {
	l := s.c.logger
	if l == nil {
		return
	}
	level := slog.LevelDebug
	attrs := make([]slog.Attr, 0, 6)
	if ev.Grant != "" {
		attrs = append(attrs, slog.String("grant_type", ev.Grant))
	}
	switch ev.Kind {
	case EventRefreshFailed:
		level = slog.LevelWarn
		attrs = append(attrs, slog.Int("failures", ev.Failures), slog.Duration("retry_in", ev.Delay), slog.Duration("elapsed", ev.Elapsed))
	case EventStoreFailed, EventLockFallback:
		level = slog.LevelWarn
	case EventLogin:
		level = slog.LevelInfo
	case EventUnauthorized:
		level = slog.LevelInfo
		attrs = append(attrs, slog.Bool("recovered", ev.Recovered))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	l.LogAttrs(ctx, level, "tokenkeeper: "+string(ev.Kind), attrs...)
}
