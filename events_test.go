package tokenkeeper

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// mtEventSource returns a fake clock, a token server issuing 1-hour
// tokens, and a Source holding the fresh 1-hour token at-0 / rt-0 whose
// events go to the returned recorder.
func mtEventSource(t *testing.T) (*oauthtest.Clock, *mtTokenServer, *Source, *mtEvents) {
	t.Helper()
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	events := &mtEvents{}
	c := mtClient(t, ts.url(), clock, ts.ts.Client())
	s := mtSource(t, c, SourceConfig{Token: mtToken(clock, "at-0", "rt-0", time.Hour), OnEvent: events.on})
	return clock, ts, s, events
}

type callerKey struct{}

// mtCaller returns a caller's context carrying a value, to find it again
// in the events.
func mtCaller(t *testing.T, name string) context.Context {
	return context.WithValue(mtCtx(t), callerKey{}, name)
}

func callerOf(ev Event) any {
	if ev.Context == nil {
		return nil
	}
	return ev.Context.Value(callerKey{})
}

func TestEventsScheduledRenewal(t *testing.T) {
	clock, _, s, events := mtEventSource(t)
	clock.Advance(56 * time.Minute) // stale from 55 min
	_, err := s.TokenContext(mtCaller(t, "first"))
	require.NoError(t, err)
	mtIdle(t, s)
	_, err = s.TokenContext(mtCtx(t)) // fresh again: not counted
	require.NoError(t, err)
	clock.Advance(60 * time.Minute)

	evs := events.all()
	require.Len(t, evs, 2)
	started, done := evs[0], evs[1]
	assert.Equal(t, EventRefreshStarted, started.Kind)
	assert.Equal(t, "refresh_token", started.Grant)
	assert.NoError(t, started.Err)
	assert.Equal(t, EventRefreshSucceeded, done.Kind)
	for _, ev := range evs {
		assert.Equal(t, uint64(1), ev.Renewal)
		assert.Equal(t, "scheduled", ev.Trigger)
		assert.Equal(t, 4*time.Minute, ev.Remaining)
		assert.Equal(t, "first", callerOf(ev), "the caller that started the renewal")
		assert.Equal(t, time.Duration(0), ev.Elapsed, "by the fake clock, which did not move")
	}
	assert.Equal(t, int64(1), done.Stale, "the request that started the renewal was served the stale token")
}

func TestEventsCallerWaits(t *testing.T) {
	clock, ts, s, events := mtEventSource(t)
	clock.Advance(2 * time.Hour)
	ts.hold()
	got := make(chan error, 1)
	go func() {
		_, err := s.TokenContext(mtCaller(t, "waiter"))
		got <- err
	}()
	mtRecv(t, ts.entered, "the token request")
	clock.Advance(2 * time.Second)
	ts.release()
	require.NoError(t, mtRecv(t, got, "the caller"))

	evs := events.all()
	require.Len(t, evs, 3)
	assert.Equal(t, []EventKind{EventRefreshStarted, EventRefreshSucceeded, EventWaited}, []EventKind{evs[0].Kind, evs[1].Kind, evs[2].Kind})
	assert.Equal(t, "expired", evs[0].Trigger)
	assert.Equal(t, -time.Hour, evs[0].Remaining)
	assert.Equal(t, 2*time.Second, evs[0].Elapsed, "the token request")
	assert.Equal(t, 2*time.Second, evs[1].Elapsed, "the renewal")
	wait := evs[2]
	assert.Equal(t, uint64(1), wait.Renewal)
	assert.Equal(t, 2*time.Second, wait.Elapsed)
	assert.NoError(t, wait.Err)
	assert.Equal(t, "waiter", callerOf(wait))
	assert.Empty(t, wait.Trigger)
}

func TestEventsFailedAttempt(t *testing.T) {
	clock, ts, s, events := mtEventSource(t)
	ts.setRespond(func(w http.ResponseWriter, _ *http.Request, _ int64) {
		mtWriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
	})
	clock.Advance(2 * time.Hour)
	_, err := s.TokenContext(mtImpatient(t))
	require.Error(t, err)

	started, ok := events.last(EventRefreshStarted)
	require.True(t, ok)
	var pe *Error
	require.ErrorAs(t, started.Err, &pe, "the attempt's failure")
	assert.Equal(t, http.StatusServiceUnavailable, pe.StatusCode)
	failed, ok := events.last(EventRefreshFailed)
	require.True(t, ok)
	assert.Equal(t, 1, failed.Failures)
	wait, ok := events.last(EventWaited)
	require.True(t, ok, "the caller waited for the renewal")
	assert.ErrorAs(t, wait.Err, &pe)
}

func TestEventsTriggers(t *testing.T) {
	clock, _, s, events := mtEventSource(t)
	ctx := mtCtx(t)
	require.NoError(t, s.SetToken(ctx, mtToken(clock, "at-set", "rt-set", time.Hour)))
	cur, err := s.TokenContext(ctx)
	require.NoError(t, err)
	_, err = s.Renew(ctx, cur)
	require.NoError(t, err)

	var triggers []string
	for _, ev := range events.all() {
		if ev.Kind == EventRefreshSucceeded {
			triggers = append(triggers, ev.Trigger)
		}
	}
	assert.Equal(t, []string{"manual", "unauthorized"}, triggers)
}

func TestEventsInitialTrigger(t *testing.T) {
	clock := oauthtest.NewClock(mtT0)
	ts := mtNewTokenServer(t, 3600)
	events := &mtEvents{}
	s := mtSource(t, mtClient(t, ts.url(), clock, ts.ts.Client()), SourceConfig{Token: &Token{RefreshToken: "rt-0"}, OnEvent: events.on})
	_, err := s.TokenContext(mtCtx(t))
	require.NoError(t, err)
	done, ok := events.last(EventRefreshSucceeded)
	require.True(t, ok)
	assert.Equal(t, "initial", done.Trigger)
	assert.Equal(t, time.Duration(0), done.Remaining)
}
