// Package tkotel turns the events of a tokenkeeper Source into
// OpenTelemetry metrics and spans. It is a translation of
// tokenkeeper.Event, not a second instrumentation: a Source reports what
// it does through SourceConfig.OnEvent, and an Observer records each
// event as metrics (see the package's README section for the table) and
// each renewal, token request and caller's wait as a span under the
// request that needed it.
//
// Import it as
//
//	import tkotel "github.com/tokenkeeper/tokenkeeper/otel"
//
// A request served a fresh token produces no event, and so costs nothing
// here.
package tkotel

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tokenkeeper/tokenkeeper"
)

// scope names the instrumentation scope of the meter and the tracer.
const scope = "github.com/tokenkeeper/tokenkeeper/otel"

// Config configures an Observer. Its zero value uses the global meter and
// tracer providers.
type Config struct {
	// MeterProvider provides the meter. Nil means otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// TracerProvider provides the tracer. Nil means
	// otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// Provider names the token provider, such as "daxium-air",
	// "transiteo" or "auth0", for the tokenkeeper.provider attribute of
	// every metric. It must be one of a few constants, never a URL or a
	// tenant. Empty leaves the attribute out.
	Provider string
	// Next, if set, receives every event after the Observer recorded it:
	// the place for a Source's own OnEvent hook.
	Next func(tokenkeeper.Event)
}

// Observer records the events of one Source as metrics and spans. Give its
// OnEvent method to SourceConfig.OnEvent. Use one Observer per Source: it
// matches a renewal's events by their renewal number, which counts from 1
// in each Source (MultiOpen gives each credential of a multi.Manager its
// own). Observers may share a MeterProvider.
//
// An Observer is safe for concurrent use by multiple goroutines.
type Observer struct {
	cfg    Config
	m      instruments
	tracer trace.Tracer
	common attribute.KeyValue // tokenkeeper.provider, if set
	group  attribute.KeyValue // tokenkeeper.credential.group, if set (MultiOpen)

	mu sync.Mutex // guards pending and recent
	// pending holds the events of the renewal being delivered, until its
	// last one: its spans need its start and end.
	pending []tokenkeeper.Event
	// recent holds the spans of the last renewals, for the links of the
	// callers' waits, by renewal number modulo its length.
	recent [16]renewalSpan
}

// renewalSpan is the span of one renewal.
type renewalSpan struct {
	renewal uint64
	sc      trace.SpanContext
}

// New returns an Observer recording to the providers of cfg.
func New(cfg Config) (*Observer, error) {
	mp, tp := cfg.MeterProvider, cfg.TracerProvider
	if mp == nil {
		mp = gotel.GetMeterProvider()
	}
	if tp == nil {
		tp = gotel.GetTracerProvider()
	}
	m, err := newInstruments(mp.Meter(scope))
	if err != nil {
		return nil, err
	}
	o := &Observer{cfg: cfg, m: m, tracer: tp.Tracer(scope)}
	if cfg.Provider != "" {
		o.common = attrProvider.String(cfg.Provider)
	}
	return o, nil
}

// OnEvent records ev. It has the signature of SourceConfig.OnEvent.
func (o *Observer) OnEvent(ev tokenkeeper.Event) {
	o.record(ev)
	if ev.Renewal != 0 && ev.Kind != tokenkeeper.EventWaited {
		o.trace(ev)
	}
	if ev.Kind == tokenkeeper.EventWaited {
		o.traceWait(ev)
	}
	if ev.Kind == tokenkeeper.EventUnauthorized {
		traceUnauthorized(ev)
	}
	if o.cfg.Next != nil {
		o.cfg.Next(ev)
	}
}

// trace queues ev, an event of a renewal, and records the renewal's spans
// once its last event arrives.
func (o *Observer) trace(ev tokenkeeper.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) > 0 && o.pending[0].Renewal != ev.Renewal {
		// The previous renewal never ended (the Source closed).
		o.pending = o.pending[:0]
	}
	o.pending = append(o.pending, ev)
	if ev.Kind != tokenkeeper.EventRefreshSucceeded && ev.Kind != tokenkeeper.EventRefreshFailed {
		return
	}
	sc := o.spans(o.pending)
	o.recent[ev.Renewal%uint64(len(o.recent))] = renewalSpan{renewal: ev.Renewal, sc: sc}
	o.pending = o.pending[:0]
}

// spans records the spans of one renewal, whose events are evs, the last
// one its end, and returns the renewal's span context.
func (o *Observer) spans(evs []tokenkeeper.Event) trace.SpanContext {
	end := evs[len(evs)-1]
	parent := end.Context
	if parent == nil {
		parent = context.Background()
	}
	ctx, span := o.tracer.Start(parent, "tokenkeeper.renewal",
		trace.WithTimestamp(end.Time.Add(-end.Elapsed)),
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attrTrigger.String(end.Trigger),
			attrRenewal.Int64(int64(end.Renewal)),
			attrRemaining.Float64(end.Remaining.Seconds()),
		))
	for _, ev := range evs[:len(evs)-1] {
		if ev.Kind == tokenkeeper.EventRefreshStarted {
			o.tokenRequestSpan(ctx, ev)
			continue
		}
		span.AddEvent(string(ev.Kind), trace.WithTimestamp(ev.Time), trace.WithAttributes(attrErrorType.String(errorType(ev.Err))))
	}
	if end.Err != nil {
		span.SetStatus(codes.Error, errorType(end.Err))
		span.SetAttributes(attrErrorType.String(errorType(end.Err)))
	}
	span.End(trace.WithTimestamp(end.Time))
	return span.SpanContext()
}

// tokenRequestSpan records the span of the token request of ev, an
// EventRefreshStarted, under the renewal's span in ctx.
func (o *Observer) tokenRequestSpan(ctx context.Context, ev tokenkeeper.Event) {
	attrs := []attribute.KeyValue{attrGrant.String(ev.Grant)}
	var pe *tokenkeeper.Error
	if errors.As(ev.Err, &pe) {
		attrs = append(attrs, attrHTTPStatus.Int(pe.StatusCode))
		if pe.Code != "" {
			attrs = append(attrs, attrErrorCode.String(pe.Code))
		}
	}
	_, span := o.tracer.Start(ctx, "tokenkeeper.token_request",
		trace.WithTimestamp(ev.Time), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	if ev.Err != nil {
		span.SetStatus(codes.Error, errorType(ev.Err))
		span.SetAttributes(attrErrorType.String(errorType(ev.Err)))
	}
	span.End(trace.WithTimestamp(ev.Time.Add(ev.Elapsed)))
}

// traceWait records the span of a caller's wait, under the caller's span
// and linked to the renewal it waited on.
func (o *Observer) traceWait(ev tokenkeeper.Event) {
	parent := ev.Context
	if parent == nil {
		parent = context.Background()
	}
	opts := []trace.SpanStartOption{trace.WithTimestamp(ev.Time.Add(-ev.Elapsed)), trace.WithSpanKind(trace.SpanKindInternal)}
	if ev.Renewal != 0 {
		opts = append(opts, trace.WithAttributes(attrRenewal.Int64(int64(ev.Renewal))))
		o.mu.Lock()
		r := o.recent[ev.Renewal%uint64(len(o.recent))]
		o.mu.Unlock()
		if r.renewal == ev.Renewal && r.sc.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: r.sc}))
		}
	}
	_, span := o.tracer.Start(parent, "tokenkeeper.wait", opts...)
	if ev.Err != nil {
		span.SetStatus(codes.Error, errorType(ev.Err))
		span.SetAttributes(attrErrorType.String(errorType(ev.Err)))
	}
	span.End(trace.WithTimestamp(ev.Time))
}

// traceUnauthorized adds the 401 of ev to the span of the request that got
// it, if that span records.
func traceUnauthorized(ev tokenkeeper.Event) {
	if ev.Context == nil {
		return
	}
	span := trace.SpanFromContext(ev.Context)
	if !span.IsRecording() {
		return
	}
	span.AddEvent("tokenkeeper.unauthorized", trace.WithTimestamp(ev.Time), trace.WithAttributes(
		attrOutcome.String(unauthorizedOutcome(ev)), attrErrorType.String(errorType(ev.Err))))
}

// errorType returns the class of err for the error.type attribute: one of
// a fixed set of values, never the error's text.
func errorType(err error) string {
	var (
		pe *tokenkeeper.Error
		ne net.Error
	)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, tokenkeeper.ErrClosed):
		return "closed"
	case errors.Is(err, tokenkeeper.ErrLoginRequired):
		return "login_required"
	case errors.Is(err, tokenkeeper.ErrInvalidGrant):
		return "invalid_grant"
	case errors.Is(err, tokenkeeper.ErrInvalidClient):
		return "invalid_client"
	case errors.Is(err, tokenkeeper.ErrRateLimited):
		return "rate_limited"
	case errors.As(err, &pe) && pe.StatusCode >= 500:
		return "server_error"
	case errors.Is(err, tokenkeeper.ErrMalformedResponse):
		return "malformed_response"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &pe):
		return httpClass(pe.StatusCode)
	case errors.As(err, &ne):
		return "network"
	}
	return "other"
}

// httpClass names the class of an HTTP status.
func httpClass(status int) string {
	switch {
	case status >= 500:
		return "server_error"
	case status == 401 || status == 403:
		return "unauthorized"
	case status >= 400:
		return "client_error"
	}
	return "other"
}

// seconds returns d in seconds, for the histograms.
func seconds(d time.Duration) float64 { return d.Seconds() }
