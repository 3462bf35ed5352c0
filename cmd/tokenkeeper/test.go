package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

const testUsage = `  tokenkeeper test [-p profile] [-refresh] [-json]

Says whether the profile works end to end, step by step, and why not:
config (the profile, its secrets, the issuer's discovery), token (cached,
refreshed or obtained by the profile's login; with -refresh, a new one
from the provider) and, when the profile has an api_url, a GET of it with
the credential. The report goes to stdout; the exit code is the one of
the first failing step (2 config, 1 refused, 3 provider down, 4 a new
login is needed).

Examples:
  tokenkeeper test -p daxium
  tokenkeeper test -p auth0 -refresh -json | jq .ok`

// step is one checked step of the test command.
type step struct {
	Name   string `json:"step"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func runTest(ctx context.Context, e *env, args []string) error {
	fs := e.flags("test", testUsage)
	e.jsonFlag(fs)
	renew := fs.Bool("refresh", false, "get a new token from the provider even if the cached one is valid")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	steps, err := checkProfile(ctx, e, *renew)
	if e.jsonOut {
		if werr := writeJSON(e, map[string]any{"profile": e.profileName, "ok": err == nil, "steps": steps}); werr != nil && err == nil {
			return werr
		}
		return err
	}
	for _, s := range steps {
		mark := "ok  "
		if !s.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(e.stdout, "%s %-6s %s\n", mark, s.Name, s.Detail)
	}
	return err
}

// checkProfile runs the steps until one fails, and returns them with the
// failure.
func checkProfile(ctx context.Context, e *env, renew bool) ([]step, error) {
	var steps []step
	fail := func(name string, err error) ([]step, error) {
		return append(steps, step{Name: name, Detail: oneLine(err.Error())}), err
	}
	s, err := e.open(ctx)
	if err == nil {
		_, err = s.prof.sourceConfig()
	}
	if err != nil {
		return fail("config", err)
	}
	steps = append(steps, step{Name: "config", OK: true, Detail: "profile " + s.name + ", login " + loginName(s.prof)})
	t, err := s.token(ctx, renew)
	if err != nil {
		return fail("token", err)
	}
	steps = append(steps, step{Name: "token", OK: true, Detail: tokenDetail(t)})
	if s.prof.APIURL == "" {
		return steps, nil
	}
	detail, err := s.callAPI(ctx)
	if err != nil {
		return fail("api", err)
	}
	return append(steps, step{Name: "api", OK: true, Detail: detail}), nil
}

func loginName(p *profile) string {
	if k := p.loginKind(); k != "" {
		return k
	}
	return "interactive (tokenkeeper login)"
}

// tokenDetail describes t without any secret.
func tokenDetail(t *tokenkeeper.Token) string {
	d := t.TokenType
	if d == "" {
		d = "token"
	}
	if !t.Expiry.IsZero() {
		d += ", expires in " + time.Until(t.Expiry).Round(time.Second).String()
	}
	if t.RefreshToken != "" {
		d += ", with a refresh token"
	}
	return d
}

// callAPI GETs the profile's api_url with the credential.
func (s *session) callAPI(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.prof.APIURL, nil)
	if err != nil {
		return "", configErrorf("api_url: %v", err)
	}
	src, err := s.source()
	if err != nil {
		return "", err
	}
	defer src.Close()
	resp, err := src.HTTPClient(nil).Do(req)
	if err != nil {
		return "", withLoginHint(err, s.name)
	}
	if resp.StatusCode >= 400 {
		perr := tokenkeeper.DecodeError(resp)
		return "", &refusedError{msg: "GET " + s.prof.APIURL + " answered " + resp.Status + ": " + perr.Error()}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return "GET " + s.prof.APIURL + ": " + resp.Status, nil
}
