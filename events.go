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
	// EventRefreshStarted: a token request began (refresh token or login
	// grant). Delivered to OnEvent when the renewal ends, it carries the
	// request's outcome as well: Elapsed is how long it took, Err its
	// failure, if any. Login says when it is a first login or a re-login.
	EventRefreshStarted EventKind = "refresh started"
	// EventRefreshSucceeded: a renewal ended and a new token is in use.
	// Elapsed is how long the renewal took, Stale and LockWait are set.
	// Grant is the grant that brought the token: "shared" when another
	// process holding the shared lock renewed and the token was taken
	// from the Store.
	EventRefreshSucceeded EventKind = "refresh succeeded"
	// EventRefreshFailed: a renewal failed; Err says why, Delay when the
	// next attempt may start. Elapsed, Stale and LockWait are set.
	EventRefreshFailed EventKind = "refresh failed"
	// EventStoreFailed: an operation of the Store failed, as Op says;
	// the token in memory is kept and used. When the shared lock could
	// not be taken (Op "lock": the store is unreachable), the renewal
	// went ahead in this process only.
	EventStoreFailed EventKind = "store failed"
	// EventUnauthorized: an API answered 401 to a request of the
	// Transport; Recovered tells whether it was replayed with a new
	// token, Err why not.
	EventUnauthorized EventKind = "401 from API"
	// EventWaited: a caller waited for a renewal, or for the next attempt
	// after a failure, before it got a token or an error. Elapsed is how
	// long it waited, Err why it got no token, Renewal the last renewal
	// it waited on (0 when it waited only for a backoff to pass).
	EventWaited EventKind = "caller waited"
)

// The values of Event.Login and Event.Op.
const (
	loginInitial = "initial"
	loginRelogin = "relogin"

	opLoad   = "load"
	opSave   = "save"
	opLock   = "lock"
	opUnlock = "unlock"
	opLease  = "lease"
	opCheck  = "check"
)

// The triggers of a renewal, in Event.Trigger.
const (
	triggerInitial      = "initial"      // no token yet (or only a refresh token)
	triggerScheduled    = "scheduled"    // a stale token, renewed in the background
	triggerExpired      = "expired"      // the token could not be served: callers wait
	triggerUnauthorized = "unauthorized" // an API answered 401 to the current token
	triggerManual       = "manual"       // SetToken
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
	// Elapsed is how long the token request, the renewal or the wait
	// took, by the Client's clock.
	Elapsed time.Duration
	// Recovered is set on EventUnauthorized when the request was replayed.
	Recovered bool
	// Err is the failure, if any.
	Err error
	// Login, on EventRefreshStarted, is "initial" when the login grant
	// gets a first token and "relogin" when it replaces a refresh token
	// the provider rejected (the failed refresh's EventRefreshStarted
	// says why); empty for a refresh, and for a login grant that is how
	// the Source renews (client credentials).
	Login string
	// Op, on EventStoreFailed, names the operation that failed: "load",
	// "save", "lock" (taking the shared lock), "unlock", "lease"
	// (renewing the held lock's lease) or "check" (a finding that did not
	// fail a load: a token file others may read).
	Op string

	// Renewal numbers the renewal the event belongs to, from 1 in each
	// Source; on EventWaited, the last renewal the caller waited on. 0 for
	// none.
	Renewal uint64
	// Trigger, on the events of a renewal, says why it started:
	// "initial" (no token yet, or only a refresh token), "scheduled" (a
	// stale token, renewed in the background), "expired" (the token
	// could no longer be served: callers wait), "unauthorized" (an API
	// answered 401 to it) or "manual" (SetToken).
	Trigger string
	// Remaining, on the events of a renewal, is how long the token it
	// replaces had left before its expiry when it started (negative once
	// expired); 0 when there was none, or it never expires.
	Remaining time.Duration
	// Stale, on EventRefreshSucceeded and EventRefreshFailed, counts the
	// requests served a stale token (past its early-refresh time) since
	// the previous such event.
	Stale int64
	// LockWait, on EventRefreshSucceeded and EventRefreshFailed, is how
	// long the renewal waited for the shared lock of a Store that is a
	// Locker.
	LockWait time.Duration
	// Context is the context of the caller the event belongs to: the
	// request that started the renewal, that waited, or that got the 401;
	// nil for none. It carries values for tracing (the caller's span) and
	// may be done by the time the event is delivered.
	Context context.Context
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
	if f != nil {
		ev.Renewal, ev.Trigger, ev.Remaining, ev.Context = f.id, f.trigger, f.remaining, f.ctx
	} else {
		ev.Context = ctx
	}
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

// attempt reports the start of a token request with grant in flight f
// (login as in Event.Login), and
// returns the func that completes its event with the request's duration
// and failure once it ends (OnEvent gets the event when f ends).
func (s *Source) attempt(f *flight, grant, login string) (done func(error)) {
	start := s.c.now()
	s.emit(f, Event{Kind: EventRefreshStarted, Grant: grant, Login: login})
	i := len(f.events) - 1 // -1 without OnEvent
	return func(err error) {
		if i >= 0 {
			f.events[i].Elapsed, f.events[i].Err = s.c.now().Sub(start), err
		}
	}
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
	if f := ev.Trigger; f != "" {
		attrs = append(attrs, slog.String("trigger", f))
	}
	switch ev.Kind {
	case EventRefreshFailed:
		level = slog.LevelWarn
		attrs = append(attrs, slog.Int("failures", ev.Failures), slog.Duration("retry_in", ev.Delay), slog.Duration("elapsed", ev.Elapsed))
	case EventWaited:
		attrs = append(attrs, slog.Duration("elapsed", ev.Elapsed))
	case EventStoreFailed:
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("op", ev.Op))
	case EventRefreshStarted:
		if ev.Login != "" {
			level = slog.LevelInfo
			attrs = append(attrs, slog.String("login", ev.Login))
		}
	case EventUnauthorized:
		level = slog.LevelInfo
		attrs = append(attrs, slog.Bool("recovered", ev.Recovered))
	}
	if ev.Err != nil {
		attrs = append(attrs, slog.String("error", ev.Err.Error()))
	}
	l.LogAttrs(ctx, level, "tokenkeeper: "+string(ev.Kind), attrs...)
}
