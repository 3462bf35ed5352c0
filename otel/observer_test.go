package tkotel

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/tokenkeeper/tokenkeeper"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestScheduledRenewal(t *testing.T) {
	r := newRig(t)
	r.clock.Advance(56 * time.Minute) // stale from 55 min: 4 min left
	ctx, caller := r.tracer.Start(testCtx(t), "caller")
	_, err := r.src.TokenContext(ctx)
	require.NoError(t, err)
	r.waitEnd(t)
	caller.End()
	_, err = r.src.TokenContext(testCtx(t)) // fresh: no event
	require.NoError(t, err)

	assert.Equal(t, map[string]string{
		"tokenkeeper.token.requests{tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=success}":         "1",
		"tokenkeeper.token.request.duration{tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=success}": "count=1 sum=0",
		"tokenkeeper.renewals{tokenkeeper.outcome=success,tokenkeeper.trigger=scheduled}":                      "1",
		"tokenkeeper.renewal.token_remaining{tokenkeeper.trigger=scheduled}":                                   "count=1 sum=240",
		"tokenkeeper.requests.stale{}": "1",
	}, r.metrics(t))
	assert.Equal(t, []string{
		"caller <- ",
		"tokenkeeper.renewal <- caller",
		"tokenkeeper.token_request <- tokenkeeper.renewal",
	}, r.tree())
	req := r.span(t, "tokenkeeper.token_request")
	assert.Equal(t, "refresh_token", attrsOf(req)["tokenkeeper.grant_type"])
	assert.Equal(t, r.span(t, "caller").SpanContext().TraceID(), req.SpanContext().TraceID())
}

func TestUnauthorizedRecovery(t *testing.T) {
	r := newRig(t)
	cur, err := r.src.TokenContext(testCtx(t))
	require.NoError(t, err)
	r.srv.Revoke(cur.AccessToken)
	r.clock.Advance(time.Minute)

	ctx, caller := r.tracer.Start(testCtx(t), "caller")
	// otelhttp on the Transport's base: its spans sit beside ours, under
	// the caller's.
	base := otelhttp.NewTransport(r.srv.Client().Transport, otelhttp.WithTracerProvider(tracerProvider(r)))
	assert.Equal(t, http.StatusOK, r.get(t, ctx, base))
	caller.End()

	assert.Equal(t, map[string]string{
		"tokenkeeper.token.requests{tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=success}":         "1",
		"tokenkeeper.token.request.duration{tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=success}": "count=1 sum=0",
		"tokenkeeper.renewals{tokenkeeper.outcome=success,tokenkeeper.trigger=unauthorized}":                   "1",
		"tokenkeeper.renewal.token_remaining{tokenkeeper.trigger=unauthorized}":                                "count=1 sum=3540",
		"tokenkeeper.unauthorized{tokenkeeper.outcome=recovered}":                                              "1",
		"tokenkeeper.waits{tokenkeeper.outcome=success}":                                                       "1",
		"tokenkeeper.wait.duration{tokenkeeper.outcome=success}":                                               "count=1 sum=0",
	}, r.metrics(t))
	assert.Equal(t, []string{
		"HTTP GET <- caller",
		"HTTP GET <- caller",
		"caller <- ",
		"tokenkeeper.renewal <- caller",
		"tokenkeeper.token_request <- tokenkeeper.renewal",
		"tokenkeeper.wait <- caller ~ tokenkeeper.renewal",
	}, r.tree())
	events := r.span(t, "caller").Events()
	require.Len(t, events, 1)
	assert.Equal(t, "tokenkeeper.unauthorized", events[0].Name)
}

func TestOutage(t *testing.T) {
	r := newRig(t)
	r.srv.FailNext(1, http.StatusServiceUnavailable)
	r.clock.Advance(2 * time.Hour) // expired: callers wait
	ctx, caller := r.tracer.Start(testCtx(t), "caller")
	_, err := r.src.TokenContext(impatient{ctx})
	require.Error(t, err)
	caller.End()

	// The next attempt, once the backoff has passed, succeeds.
	r.clock.Advance(time.Second)
	_, err = r.src.TokenContext(testCtx(t))
	require.NoError(t, err)

	assert.Equal(t, map[string]string{
		"tokenkeeper.token.requests{error.type=server_error,tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=failure}":         "1",
		"tokenkeeper.token.request.duration{error.type=server_error,tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=failure}": "count=1 sum=0",
		"tokenkeeper.token.requests{tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=success}":                                 "1",
		"tokenkeeper.token.request.duration{tokenkeeper.grant_type=refresh_token,tokenkeeper.outcome=success}":                         "count=1 sum=0",
		"tokenkeeper.renewals{error.type=server_error,tokenkeeper.outcome=failure,tokenkeeper.trigger=expired}":                        "1",
		"tokenkeeper.renewals{tokenkeeper.outcome=success,tokenkeeper.trigger=expired}":                                                "1",
		"tokenkeeper.renewal.token_remaining{tokenkeeper.trigger=expired}":                                                             "count=2 sum=0",
		"tokenkeeper.renewal.retries{error.type=server_error}":                                                                         "1",
		"tokenkeeper.waits{error.type=server_error,tokenkeeper.outcome=failure}":                                                       "1",
		"tokenkeeper.wait.duration{error.type=server_error,tokenkeeper.outcome=failure}":                                               "count=1 sum=0",
		"tokenkeeper.waits{tokenkeeper.outcome=success}":                                                                               "1",
		"tokenkeeper.wait.duration{tokenkeeper.outcome=success}":                                                                       "count=1 sum=0",
	}, r.metrics(t))
	assert.Equal(t, []string{
		"caller <- ",
		"tokenkeeper.renewal <- ",
		"tokenkeeper.renewal <- caller",
		"tokenkeeper.token_request <- tokenkeeper.renewal",
		"tokenkeeper.token_request <- tokenkeeper.renewal",
		"tokenkeeper.wait <-  ~ tokenkeeper.renewal",
		"tokenkeeper.wait <- caller ~ tokenkeeper.renewal",
	}, r.tree())
	req := r.span(t, "tokenkeeper.token_request")
	assert.Equal(t, codes.Error, req.Status().Code)
	assert.Equal(t, map[string]string{
		"tokenkeeper.grant_type":    "refresh_token",
		"http.response.status_code": "503",
		"error.type":                "server_error",
	}, attrsOf(req))
}

func TestErrorType(t *testing.T) {
	for err, want := range map[error]string{
		nil:                          "",
		tokenkeeper.ErrClosed:        "closed",
		tokenkeeper.ErrLoginRequired: "login_required",
		&tokenkeeper.Error{StatusCode: 400, Code: "invalid_grant"}:  "invalid_grant",
		&tokenkeeper.Error{StatusCode: 401, Code: "invalid_client"}: "invalid_client",
		&tokenkeeper.Error{StatusCode: 429}:                         "rate_limited",
		&tokenkeeper.Error{StatusCode: 502}:                         "server_error",
		&tokenkeeper.Error{StatusCode: 401, Code: "DAERR-AUTH001"}:  "unauthorized",
		&tokenkeeper.Error{StatusCode: 400, Code: "whatever"}:       "client_error",
	} {
		assert.Equal(t, want, errorType(err), "%v", err)
	}
}

func TestTokenRequestHTTPSpanInCallersTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	r := newRig(t, func(c *tokenkeeper.Config, _ *tokenkeeper.SourceConfig) {
		// otelhttp on the Client's own HTTP client.
		c.HTTPClient = &http.Client{Transport: otelhttp.NewTransport(c.HTTPClient.Transport, otelhttp.WithTracerProvider(tp))}
	})
	r.clock.Advance(56 * time.Minute)
	ctx, caller := r.tracer.Start(testCtx(t), "caller")
	ctx, cancel := context.WithCancel(ctx)
	_, err := r.src.TokenContext(ctx)
	require.NoError(t, err)
	cancel() // the caller is gone: the renewal is not
	require.NoError(t, r.waitEnd(t).Err)
	caller.End()

	posts := rec.Ended()
	require.Len(t, posts, 1)
	post, c := posts[0], r.span(t, "caller").SpanContext()
	assert.Equal(t, "HTTP POST", post.Name())
	assert.Equal(t, c.TraceID(), post.SpanContext().TraceID(), "the token request's HTTP span is in the caller's trace")
	assert.Equal(t, c.SpanID(), post.Parent().SpanID())
	assert.Equal(t, c.SpanID(), r.span(t, "tokenkeeper.renewal").Parent().SpanID())
}
