package tkotel

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tokenkeeper/tokenkeeper"
)

// The attributes. Each takes a few values only.
const (
	attrProvider   = attribute.Key("tokenkeeper.provider")
	attrGrant      = attribute.Key("tokenkeeper.grant_type")
	attrOutcome    = attribute.Key("tokenkeeper.outcome")
	attrTrigger    = attribute.Key("tokenkeeper.trigger")
	attrReason     = attribute.Key("tokenkeeper.login.reason")
	attrErrorType  = attribute.Key("error.type")
	attrHTTPStatus = attribute.Key("http.response.status_code")
	// On spans only: a provider's code (DAERR-..., invalid_grant), the
	// renewal's number and the time left, which metrics would multiply.
	attrErrorCode = attribute.Key("tokenkeeper.error.code")
	attrRenewal   = attribute.Key("tokenkeeper.renewal")
	attrRemaining = attribute.Key("tokenkeeper.token.remaining")
)

// durationBuckets are the bucket bounds, in seconds, of the duration
// histograms: a token call takes from milliseconds to its timeout.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// remainingBuckets are the bounds, in seconds, of the time left before
// expiry at renewal: from expired to an hour.
var remainingBuckets = []float64{0, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600}

// instruments are the metrics of an Observer.
type instruments struct {
	requests        metric.Int64Counter     // token requests
	requestDuration metric.Float64Histogram // their duration
	renewals        metric.Int64Counter
	remaining       metric.Float64Histogram // time left at renewal
	stale           metric.Int64Counter     // requests served a stale token
	retries         metric.Int64Counter
	unauthorized    metric.Int64Counter
	logins          metric.Int64Counter
	storeFailures   metric.Int64Counter
	lockFailures    metric.Int64Counter
	lockWait        metric.Float64Histogram
	waits           metric.Int64Counter
	waitDuration    metric.Float64Histogram
}

// newInstruments creates the instruments on m.
func newInstruments(m metric.Meter) (instruments, error) {
	var (
		in   instruments
		errs []error
	)
	counter := func(p *metric.Int64Counter, name, unit, desc string) {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		*p = c
		errs = append(errs, err)
	}
	histogram := func(p *metric.Float64Histogram, name, desc string, bounds []float64) {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(bounds...))
		*p = h
		errs = append(errs, err)
	}
	counter(&in.requests, "tokenkeeper.token.requests", "{request}", "Requests to the token endpoint (or LoginFunc calls), by grant type and outcome.")
	histogram(&in.requestDuration, "tokenkeeper.token.request.duration", "Duration of the requests to the token endpoint.", durationBuckets)
	counter(&in.renewals, "tokenkeeper.renewals", "{renewal}", "Renewals of the token, by trigger and outcome.")
	histogram(&in.remaining, "tokenkeeper.renewal.token_remaining", "Time left before the expiry of the token a renewal replaces, when it starts (0 once expired).", remainingBuckets)
	counter(&in.stale, "tokenkeeper.requests.stale", "{request}", "Requests served a stale token, past its early-refresh time.")
	counter(&in.retries, "tokenkeeper.renewal.retries", "{retry}", "Failed renewals, each followed by a retry after a backoff, by error type.")
	counter(&in.unauthorized, "tokenkeeper.unauthorized", "{response}", "401 answers of an API to a request of the Transport, by outcome.")
	counter(&in.logins, "tokenkeeper.logins", "{login}", "Logins with the login grant: the first one, or after the refresh token was rejected.")
	counter(&in.storeFailures, "tokenkeeper.store.failures", "{failure}", "Failures to read or save the Store, or to release its shared lock.")
	counter(&in.lockFailures, "tokenkeeper.lock.failures", "{failure}", "Renewals that could not use the shared lock and renewed in this process only.")
	histogram(&in.lockWait, "tokenkeeper.lock.wait.duration", "Time a renewal waited for the shared lock.", durationBuckets)
	counter(&in.waits, "tokenkeeper.waits", "{caller}", "Callers that waited for a renewal or a retry, by outcome.")
	histogram(&in.waitDuration, "tokenkeeper.wait.duration", "How long callers waited for a renewal or a retry.", durationBuckets)
	return in, errors.Join(errs...)
}

// record adds ev to the metrics.
func (o *Observer) record(ev tokenkeeper.Event) {
	ctx := context.Background()
	m := &o.m
	switch ev.Kind {
	case tokenkeeper.EventRefreshStarted:
		set := o.attrs(attrGrant.String(ev.Grant), outcome(ev.Err), attrErrorType.String(errorType(ev.Err)))
		m.requests.Add(ctx, 1, set)
		m.requestDuration.Record(ctx, seconds(ev.Elapsed), set)
		o.recordLogin(ctx, ev)
	case tokenkeeper.EventRefreshSucceeded, tokenkeeper.EventRefreshFailed:
		o.recordRenewal(ctx, ev)
	case tokenkeeper.EventUnauthorized:
		m.unauthorized.Add(ctx, 1, o.attrs(attrOutcome.String(unauthorizedOutcome(ev)), attrErrorType.String(errorType(ev.Err))))
	case tokenkeeper.EventStoreFailed:
		if ev.Op == "lock" { // the shared lock could not be used
			m.lockFailures.Add(ctx, 1, o.attrs(attrErrorType.String(errorType(ev.Err))))
			break
		}
		m.storeFailures.Add(ctx, 1, o.attrs(attrErrorType.String(errorType(ev.Err))))
	case tokenkeeper.EventWaited:
		set := o.attrs(outcome(ev.Err), attrErrorType.String(errorType(ev.Err)))
		m.waits.Add(ctx, 1, set)
		m.waitDuration.Record(ctx, seconds(ev.Elapsed), set)
	}
}

// recordLogin counts the token request ev if it is a first login or a
// re-login.
func (o *Observer) recordLogin(ctx context.Context, ev tokenkeeper.Event) {
	reason := ""
	switch ev.Login {
	case "initial":
		reason = "initial"
	case "relogin":
		reason = "refresh_rejected"
	default:
		return
	}
	o.m.logins.Add(ctx, 1, o.attrs(attrGrant.String(ev.Grant), attrReason.String(reason)))
}

// recordRenewal records the end of a renewal.
func (o *Observer) recordRenewal(ctx context.Context, ev tokenkeeper.Event) {
	m := &o.m
	trigger := attrTrigger.String(ev.Trigger)
	m.renewals.Add(ctx, 1, o.attrs(trigger, outcome(ev.Err), attrErrorType.String(errorType(ev.Err))))
	m.remaining.Record(ctx, seconds(max(ev.Remaining, 0)), o.attrs(trigger))
	if ev.Stale > 0 {
		m.stale.Add(ctx, ev.Stale, o.attrs())
	}
	if ev.Kind == tokenkeeper.EventRefreshFailed {
		m.retries.Add(ctx, 1, o.attrs(attrErrorType.String(errorType(ev.Err))))
	}
	if ev.LockWait > 0 {
		m.lockWait.Record(ctx, seconds(ev.LockWait), o.attrs())
	}
}

// attrs returns the attribute set of kvs with the common attributes,
// leaving out the empty error.type of a success.
func (o *Observer) attrs(kvs ...attribute.KeyValue) metric.MeasurementOption {
	out := make([]attribute.KeyValue, 0, len(kvs)+2)
	if o.common.Valid() {
		out = append(out, o.common)
	}
	if o.group.Valid() {
		out = append(out, o.group)
	}
	for _, kv := range kvs {
		if kv.Key == attrErrorType && kv.Value.AsString() == "" {
			continue
		}
		out = append(out, kv)
	}
	return metric.WithAttributeSet(attribute.NewSet(out...))
}

// outcome is the outcome attribute of a result whose failure is err.
func outcome(err error) attribute.KeyValue {
	if err != nil {
		return attrOutcome.String("failure")
	}
	return attrOutcome.String("success")
}

// unauthorizedOutcome says what became of a 401.
func unauthorizedOutcome(ev tokenkeeper.Event) string {
	if ev.Recovered {
		return "recovered"
	}
	return "not_recovered"
}
