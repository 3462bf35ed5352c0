package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenkeeper/tokenkeeper"
)

var (
	scenarioMode = flag.String("scenarios", "short", "load scenarios: short (quick, run by go test) or full (the figures of BENCHMARKS.md)")
	scenarioOut  = flag.String("scenarios-out", "", "also write the scenario table to this file")
)

// scenarioParams sizes the load scenarios.
type scenarioParams struct {
	repeats    int           // runs of every scenario; the table shows medians
	stormN     int           // concurrent requests of a storm
	rate       int           // requests per second of steady load
	early      time.Duration // steady load across the refresh point
	outage     time.Duration // token endpoint answering 503
	outageLoad time.Duration // steady load from the start of the outage
	revokeN    int           // concurrent requests after a revocation
}

var (
	shortScenarios = scenarioParams{repeats: 1, stormN: 200, rate: 200, early: time.Second, outage: time.Second, outageLoad: 1500 * time.Millisecond, revokeN: 50}
	fullScenarios  = scenarioParams{repeats: 3, stormN: 1000, rate: 200, early: 4 * time.Second, outage: 2 * time.Second, outageLoad: 3 * time.Second, revokeN: 200}
)

const (
	// tokenLatency is how long the token endpoint takes to answer a
	// grant.
	tokenLatency = 200 * time.Millisecond
	// stallThreshold: a request slower than this while a token call was
	// in flight was stalled by a refresh.
	stallThreshold = 20 * time.Millisecond
	// stormLeft is the time to expiry of the token in the first storm:
	// inside x/oauth2's fixed 10 s expiry margin, outside tokenkeeper's
	// 3 s default skew.
	stormLeft = 5 * time.Second
	// outageLeft is the time to expiry of the token when the outage
	// starts.
	outageLeft = 8 * time.Second
)

// Implementations compared, and the floor: the same requests through the
// same base transport, with the current token set by hand.
const (
	implFloor       = "floor"
	implXOAuth2     = "xoauth2"
	implTokenkeeper = "tokenkeeper"
)

// Scenario names, in the order of the table.
const (
	scenStormBase = "storm"
	scenStorm5s   = "storm, 5 s to expiry"
	scenStormExp  = "storm, expired"
	scenEarly     = "steady load across refresh"
	scenOutage    = "token endpoint outage"
	scenRevoked   = "revoked token"
)

// TestScenarios runs the load scenarios for both libraries against the same
// loopback provider (200 ms token latency, rotating refresh tokens) and a
// loopback API, and prints a table. The default short mode is quick; run
// with -scenarios=full for the figures of BENCHMARKS.md. It asserts only
// counts (token calls, failed and recovered requests), never latencies.
func TestScenarios(t *testing.T) {
	var sp scenarioParams
	switch *scenarioMode {
	case "short":
		sp = shortScenarios
	case "full":
		sp = fullScenarios
	default:
		t.Fatalf("-scenarios=%q; want short or full", *scenarioMode)
	}
	var rows []row
	for range sp.repeats {
		rows = append(rows, scenarioRound(t, sp)...)
	}
	table := formatTable(*scenarioMode, sp, rows)
	t.Log("\n" + table)
	if *scenarioOut != "" {
		if err := os.WriteFile(*scenarioOut, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// scenarioRound runs every scenario once, for every implementation, and
// checks tokenkeeper's counts.
func scenarioRound(t *testing.T, sp scenarioParams) []row {
	var rows []row
	rows = append(rows, stormRun(t, implFloor, scenStormBase, sp.stormN, time.Hour))
	for _, left := range []struct {
		scenario string
		left     time.Duration
	}{{scenStorm5s, stormLeft}, {scenStormExp, -time.Second}} {
		for _, impl := range []string{implXOAuth2, implTokenkeeper} {
			r := stormRun(t, impl, left.scenario, sp.stormN, left.left)
			rows = append(rows, r)
			if impl == implTokenkeeper {
				r.want(t, r.tokenCalls == 1, "token calls = %d; want 1", r.tokenCalls)
				r.want(t, r.failed == 0, "failed requests = %d; want 0", r.failed)
			}
		}
	}
	for _, impl := range []string{implFloor, implXOAuth2, implTokenkeeper} {
		r := earlyRun(t, impl, sp.rate, sp.early)
		rows = append(rows, r)
		if impl == implTokenkeeper {
			r.want(t, r.tokenCalls == 1, "token calls = %d; want 1", r.tokenCalls)
			r.want(t, r.failed == 0, "failed requests = %d; want 0", r.failed)
		}
	}
	for _, impl := range []string{implXOAuth2, implTokenkeeper} {
		r := outageRun(t, impl, sp.rate, sp.outage, sp.outageLoad)
		rows = append(rows, r)
		if impl == implTokenkeeper {
			r.want(t, r.failed == 0, "failed requests = %d; want 0", r.failed)
			r.want(t, r.tokenCalls >= 1 && r.tokenCalls <= 10, "token calls = %d; want 1 to 10", r.tokenCalls)
		}
	}
	for _, impl := range []string{implXOAuth2, implTokenkeeper} {
		r := revokedRun(t, impl, sp.revokeN)
		rows = append(rows, r)
		if impl == implTokenkeeper {
			r.want(t, r.ok == r.requests, "recovered requests = %d of %d; want all", r.ok, r.requests)
			r.want(t, r.tokenCalls == 1, "token calls = %d; want 1", r.tokenCalls)
		}
	}
	return rows
}

// env is the plumbing of one run: a fresh provider, the base transport of
// API requests (shared by the floor and the library measured), and the
// HTTP client of token requests.
type env struct {
	p         *provider
	apiBase   *http.Transport
	tokenBase *http.Transport
	tokenHC   *http.Client
	closers   []func()
	// refreshed receives an event when the tokenkeeper source of the
	// run, if any, ends a refresh.
	refreshed chan struct{}
}

func newEnv() *env {
	e := &env{p: newProvider(tokenLatency)}
	e.apiBase = http.DefaultTransport.(*http.Transport).Clone()
	e.apiBase.MaxIdleConns = 0 // no limit
	e.apiBase.MaxIdleConnsPerHost = 2000
	e.tokenBase = http.DefaultTransport.(*http.Transport).Clone()
	e.tokenHC = &http.Client{Transport: e.tokenBase, Timeout: 30 * time.Second}
	return e
}

// awaitRefresh waits, at most limit, until the tokenkeeper source of the
// run, if any, has ended a refresh: a background refresh is then counted
// even when the load ended before it reached the token endpoint.
func (e *env) awaitRefresh(limit time.Duration) {
	if e.refreshed == nil {
		return
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-e.refreshed:
	case <-t.C:
	}
}

// close stops the sources, closes the connections and the provider, so
// that runs do not add up open files.
func (e *env) close() {
	for _, f := range e.closers {
		f()
	}
	e.apiBase.CloseIdleConnections()
	e.tokenBase.CloseIdleConnections()
	e.p.close()
}

// caller makes API requests through one implementation.
type caller struct {
	hc     *http.Client
	header string // Authorization set by hand (the floor)
	url    string
}

// caller returns the API client of impl, holding a token (access,
// refresh) that expires left from now, issued an hour before it expires.
func (e *env) caller(t *testing.T, impl, access, refresh string, left time.Duration) *caller {
	t.Helper()
	expiry := time.Now().Add(left)
	c := &caller{url: e.p.apiURL()}
	switch impl {
	case implFloor:
		c.hc = &http.Client{Transport: e.apiBase}
		c.header = "Bearer " + access
	case implXOAuth2:
		conf := &oauth2.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			Endpoint:     oauth2.Endpoint{TokenURL: e.p.tokenURL(), AuthStyle: oauth2.AuthStyleInParams},
		}
		tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, e.tokenHC)
		ts := conf.TokenSource(tokenCtx, &oauth2.Token{AccessToken: access, TokenType: "Bearer", RefreshToken: refresh, Expiry: expiry})
		apiCtx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: e.apiBase})
		c.hc = oauth2.NewClient(apiCtx, ts)
	case implTokenkeeper:
		kc, err := tokenkeeper.New(tokenkeeper.Config{
			TokenURL:     e.p.tokenURL(),
			ClientID:     clientID,
			ClientSecret: clientSecret,
			HTTPClient:   e.tokenHC,
		})
		if err != nil {
			t.Fatal(err)
		}
		e.refreshed = make(chan struct{}, 1)
		src, err := tokenkeeper.NewSource(kc, tokenkeeper.SourceConfig{
			Token: &tokenkeeper.Token{
				AccessToken:  access,
				TokenType:    "Bearer",
				RefreshToken: refresh,
				Expiry:       expiry,
				IssuedAt:     expiry.Add(-tokenLifetime),
			},
			OnEvent: func(ev tokenkeeper.Event) {
				if ev.Kind == tokenkeeper.EventRefreshSucceeded || ev.Kind == tokenkeeper.EventRefreshFailed {
					select {
					case e.refreshed <- struct{}{}:
					default:
					}
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		e.closers = append(e.closers, func() { src.Close() })
		c.hc = src.HTTPClient(e.apiBase)
	default:
		t.Fatalf("unknown implementation %q", impl)
	}
	return c
}

// result is one API request.
type result struct {
	start  time.Time
	dur    time.Duration
	status int
	err    error
}

func (c *caller) get(ctx context.Context) result {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return result{start: start, err: err}
	}
	if c.header != "" {
		req.Header.Set("Authorization", c.header)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return result{start: start, dur: time.Since(start), err: err}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return result{start: start, dur: time.Since(start), status: resp.StatusCode}
}

// burst makes n requests at once: n goroutines released together.
func (c *caller) burst(n int) []result {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	results := make([]result, n)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-gate
			results[i] = c.get(ctx)
		})
	}
	close(gate)
	wg.Wait()
	return results
}

// steady makes rate requests a second for d, each in its own goroutine
// at its scheduled time, whether or not earlier ones are done (open loop).
func (c *caller) steady(rate int, d time.Duration) []result {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	n := int(d * time.Duration(rate) / time.Second)
	interval := time.Second / time.Duration(rate)
	results := make([]result, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() { results[i] = c.get(ctx) })
	}
	wg.Wait()
	return results
}

// stormRun makes n concurrent requests with a token that expires left from
// now, after n warm-up requests have opened the connections.
func stormRun(t *testing.T, impl, scenario string, n int, left time.Duration) row {
	e := newEnv()
	defer e.close()
	access, refresh := e.p.issue()
	e.caller(t, implFloor, access, refresh, time.Hour).burst(n)
	e.p.resetStats()
	rs := e.caller(t, impl, access, refresh, left).burst(n)
	e.awaitRefresh(10 * time.Second)
	e.p.settle(100*time.Millisecond, 5*time.Second)
	return summarize(scenario, impl, false, rs, e.p.snapshot())
}

// earlyRun makes rate requests a second for d with a token whose x/oauth2
// refresh point (10 s before expiry) comes halfway through; tokenkeeper's
// (5 minutes before expiry, by default) has passed already, so it
// refreshes at the first request.
func earlyRun(t *testing.T, impl string, rate int, d time.Duration) row {
	e := newEnv()
	defer e.close()
	access, refresh := e.p.issue()
	e.caller(t, implFloor, access, refresh, time.Hour).burst(20)
	e.p.resetStats()
	rs := e.caller(t, impl, access, refresh, 10*time.Second+d/2).steady(rate, d)
	e.awaitRefresh(10 * time.Second)
	e.p.settle(100*time.Millisecond, 5*time.Second)
	return summarize(scenEarly, impl, true, rs, e.p.snapshot())
}

// outageRun makes rate requests a second for load with a token valid for
// outageLeft, while the token endpoint answers 503 for the first outage.
func outageRun(t *testing.T, impl string, rate int, outage, load time.Duration) row {
	e := newEnv()
	defer e.close()
	access, refresh := e.p.issue()
	e.caller(t, implFloor, access, refresh, time.Hour).burst(20)
	e.p.resetStats()
	c := e.caller(t, impl, access, refresh, outageLeft)
	e.p.failFor(outage)
	rs := c.steady(rate, load)
	e.p.settle(100*time.Millisecond, 5*time.Second)
	return summarize(scenOutage, impl, true, rs, e.p.snapshot())
}

// revokedRun makes n concurrent requests after the provider revoked the
// access token that the client still holds as valid for an hour.
func revokedRun(t *testing.T, impl string, n int) row {
	e := newEnv()
	defer e.close()
	access, refresh := e.p.issue()
	c := e.caller(t, impl, access, refresh, time.Hour)
	c.burst(20)
	e.p.resetStats()
	e.p.revoke(access)
	rs := c.burst(n)
	e.awaitRefresh(10 * time.Second)
	e.p.settle(100*time.Millisecond, 5*time.Second)
	return summarize(scenRevoked, impl, false, rs, e.p.snapshot())
}

// row is what one run of a scenario measured.
type row struct {
	scenario, impl string
	steady         bool // steady load, not a burst
	requests       int
	ok, failed     int // 200 answers; errors and other statuses
	tokenCalls     int
	stalled        int // slower than stallThreshold while a token call was in flight
	waited         int // at least as slow as a token call: waited for a whole refresh
	p50, p99, max  time.Duration
}

// summarize counts the results of a run. stalled is counted for steady
// load only: under a burst the floor itself is slower than stallThreshold.
func summarize(scenario, impl string, steady bool, rs []result, st providerStats) row {
	r := row{scenario: scenario, impl: impl, steady: steady, requests: len(rs), tokenCalls: st.tokenCalls}
	durs := make([]time.Duration, 0, len(rs))
	for _, res := range rs {
		durs = append(durs, res.dur)
		if res.err == nil && res.status == http.StatusOK {
			r.ok++
		} else {
			r.failed++
		}
		if res.dur >= tokenLatency {
			r.waited++
		}
		if steady && res.dur > stallThreshold {
			end := res.start.Add(res.dur)
			for _, w := range st.windows {
				if w.overlaps(res.start, end) {
					r.stalled++
					break
				}
			}
		}
	}
	slices.Sort(durs)
	r.p50, r.p99, r.max = percentile(durs, 50), percentile(durs, 99), percentile(durs, 100)
	return r
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// want reports a missed target of a tokenkeeper run.
func (r row) want(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf("%s, %s: %s", r.scenario, r.impl, fmt.Sprintf(format, args...))
	}
}

// formatTable returns the medians over repeats of every scenario and
// implementation, in the order they first ran.
func formatTable(mode string, sp scenarioParams, rows []row) string {
	type key struct{ scenario, impl string }
	var order []key
	groups := map[key][]row{}
	for _, r := range rows {
		k := key{r.scenario, r.impl}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "scenarios=%s: medians over %d run(s); token latency %v, rotating refresh tokens; storm %d concurrent requests; steady load %d req/s (%v across refresh; %v with the token endpoint down for the first %v); %d concurrent requests after a revocation\n\n",
		mode, sp.repeats, tokenLatency, sp.stormN, sp.rate, sp.early, sp.outageLoad, sp.outage, sp.revokeN)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\timpl\trequests\tok\tfailed\ttoken calls\tstalled>20ms\twaited>=200ms\tp50\tp99\tmax\t")
	for _, k := range order {
		g := groups[k]
		med := func(f func(row) int) int {
			v := make([]int, len(g))
			for i, r := range g {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		medDur := func(f func(row) time.Duration) string {
			v := make([]time.Duration, len(g))
			for i, r := range g {
				v[i] = f(r)
			}
			slices.Sort(v)
			return fmt.Sprintf("%.1fms", float64(v[len(v)/2])/float64(time.Millisecond))
		}
		stalled := "-"
		if g[0].steady {
			stalled = fmt.Sprint(med(func(r row) int { return r.stalled }))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t%s\t%s\t\n", k.scenario, k.impl,
			med(func(r row) int { return r.requests }),
			med(func(r row) int { return r.ok }),
			med(func(r row) int { return r.failed }),
			med(func(r row) int { return r.tokenCalls }),
			stalled,
			med(func(r row) int { return r.waited }),
			medDur(func(r row) time.Duration { return r.p50 }),
			medDur(func(r row) time.Duration { return r.p99 }),
			medDur(func(r row) time.Duration { return r.max }))
	}
	tw.Flush()
	return b.String()
}
