package tkotel

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Store and lock scenarios, each checked by its exact metrics.

func TestStoreSaveFails(t *testing.T) {
	st := &flakyStore{}
	r := newRig(t, withStore(st))
	_, err := r.src.TokenContext(testCtx(t)) // first use: the Store is read
	require.NoError(t, err)
	r.waitEnd(t)
	st.failSave.Store(true)
	r.clock.Advance(56 * time.Minute)
	_, err = r.src.TokenContext(testCtx(t))
	require.NoError(t, err)
	end := r.waitEnd(t)
	require.NoError(t, end.Err, "a failed save does not fail the renewal")

	assert.Equal(t, storedThenScheduled("tokenkeeper.store.failures{error.type=other}", "1"), r.metrics(t))
	assert.Equal(t, []string{"store failed"}, spanEvents(r.spans.Ended()[len(r.spans.Ended())-1]))
}

func TestLockHeldByAnotherProcess(t *testing.T) {
	st := newSharedStore()
	r := newRig(t, withStore(st))
	_, err := r.src.TokenContext(testCtx(t))
	require.NoError(t, err)
	r.waitEnd(t)
	drain(st.tries)

	st.held.Store(true) // another process renews
	r.clock.Advance(56 * time.Minute)
	_, err = r.src.TokenContext(testCtx(t)) // served the stale token
	require.NoError(t, err)
	first := recv(t, st.tries, "a try of the lock")
	recv(t, st.tries, "a second try of the lock")
	held := time.Since(first)
	st.held.Store(false) // it crashed without renewing: ours to renew
	require.NoError(t, r.waitEnd(t).Err)

	m := r.metrics(t)
	count, sum := lockWait(t, m)
	assert.Equal(t, 1, count)
	assert.GreaterOrEqual(t, sum, held.Seconds(), "the wait lasted at least as long as the lock was held")
	assert.Equal(t, storedThenScheduled(), m)
}

func TestLockFailsFallsBackToLocalRenewal(t *testing.T) {
	st := newSharedStore()
	r := newRig(t, withStore(st))
	_, err := r.src.TokenContext(testCtx(t))
	require.NoError(t, err)
	r.waitEnd(t)

	st.lockErr.Store(true)
	r.clock.Advance(56 * time.Minute)
	_, err = r.src.TokenContext(testCtx(t))
	require.NoError(t, err)
	require.NoError(t, r.waitEnd(t).Err, "renewed in this process only")

	m := r.metrics(t)
	count, _ := lockWait(t, m)
	assert.Equal(t, 1, count)
	assert.Equal(t, storedThenScheduled("tokenkeeper.lock.failures{error.type=other}", "1"), m)
}

// storedThenScheduled is what a Source with a custom Store records when
// its first caller waits for the Store's token and a scheduled renewal
// follows, 4 minutes before expiry, with one request served stale; extra
// holds more series and their values, in pairs.
func storedThenScheduled(extra ...string) map[string]string {
	m := map[string]string{
		"tokenkeeper.renewals{tokenkeeper.outcome=success,tokenkeeper.trigger=initial}":                        "1",
		"tokenkeeper.renewal.token_remaining{tokenkeeper.trigger=initial}":                                     "count=1 sum=0",
		"tokenkeeper.waits{tokenkeeper.outcome=success}":                                                       "1", // the first caller waits for the Store
		"tokenkeeper.wait.duration{tokenkeeper.outcome=success}":                                               "count=1 sum=0",
		"tokenkeeper.token.requests{tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=success}":         "1",
		"tokenkeeper.token.request.duration{tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=success}": "count=1 sum=0",
		"tokenkeeper.renewals{tokenkeeper.outcome=success,tokenkeeper.trigger=scheduled}":                      "1",
		"tokenkeeper.renewal.token_remaining{tokenkeeper.trigger=scheduled}":                                   "count=1 sum=240",
		"tokenkeeper.requests.stale{}":                                                                         "1",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}
