package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

const requestUsage = `  tokenkeeper request [-p profile] [-X method] [-d body] [-H 'Name: value'] [-json] URL

Calls URL with the profile's credential (and its provider's headers, such
as Daxium Air's X-Accept-Version). A 401 renews the token once and
replays the request. The status goes to stderr and the body to stdout;
on a failure status, the provider's error is decoded (RFC 6749, DAERR)
and the exit code is 1.

Examples:
  tokenkeeper request -p daxium https://api.daxium-air.com/api/v1.3/me
  tokenkeeper request -p auth0 -X POST -d '{"a":1}' -H 'Content-Type: application/json' https://api.example.com/items
  tokenkeeper request -p auth0 -json https://api.example.com/me`

// headerFlags collects repeated -H flags.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func runRequest(ctx context.Context, e *env, args []string) error {
	fs := e.flags("request", requestUsage)
	e.jsonFlag(fs)
	method := fs.String("X", http.MethodGet, "HTTP `method`")
	body := fs.String("d", "", "request `body`")
	var headers headerFlags
	fs.Var(&headers, "H", "extra `header` (repeatable)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return configErrorf("request needs a URL")
	}
	req, err := newRequest(ctx, *method, fs.Arg(0), *body, headers)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	s, src, err := e.openSource(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	resp, err := src.HTTPClient(nil).Do(req.WithContext(ctx))
	if err != nil {
		return withLoginHint(err, s.name)
	}
	return e.showResponse(resp)
}

func newRequest(ctx context.Context, method, rawURL, body string, headers []string) (*http.Request, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, r)
	if err != nil {
		return nil, configErrorf("invalid request: %v", err)
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, configErrorf("invalid header %q: want 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return req, nil
}

// showResponse prints the status on stderr and the body on stdout, or the
// decoded error of a failure status.
func (e *env) showResponse(resp *http.Response) error {
	if resp.StatusCode >= 400 {
		perr := tokenkeeper.DecodeError(resp)
		if e.jsonOut {
			_ = writeJSON(e, errorJSON(resp.StatusCode, perr))
		}
		return &refusedError{msg: "the API answered " + resp.Status + ": " + perr.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if e.jsonOut {
		return writeJSON(e, map[string]any{"status": resp.StatusCode, "body": string(b)})
	}
	fmt.Fprintln(e.stderr, resp.Proto, resp.Status)
	_, err = e.stdout.Write(b)
	return err
}

// errorJSON is the machine-readable view of a provider error: its fields,
// never its raw body.
func errorJSON(status int, pe *tokenkeeper.Error) map[string]any {
	m := map[string]any{"status": status, "code": pe.Code, "message": pe.Message}
	if pe.URL != "" {
		m["url"] = pe.URL
	}
	if pe.APIVersion != "" {
		m["api_version"] = pe.APIVersion
	}
	if len(pe.Infos) > 0 {
		m["infos"] = pe.Infos
	}
	return m
}
