package oauthtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start is NewServer for tests: it fails the test on error and closes the
// server when the test ends.
func start(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := NewServer(o)
	if err != nil {
		t.Fatalf("NewServer(%+v) error = %v", o, err)
	}
	t.Cleanup(s.Close)
	return s
}

// result is a response read in full.
type result struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // nil unless the body is a JSON object
}

func (r result) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

// read reads and closes resp.
func read(t *testing.T, resp *http.Response) result {
	t.Helper()
	r, err := readResponse(resp)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return r
}

// readResponse reads and closes resp; for goroutines other than the test's.
func readResponse(resp *http.Response) (result, error) {
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	r := result{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r, err
}

// postForm posts form to the token endpoint with http.PostForm.
func postForm(t *testing.T, s *Server, form url.Values) result {
	t.Helper()
	resp, err := http.PostForm(s.TokenURL(), form)
	if err != nil {
		t.Fatalf("POST %s: %v", s.TokenURL(), err)
	}
	return read(t, resp)
}

// do sends req with the default client and reads the response.
func do(t *testing.T, req *http.Request) result {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return read(t, resp)
}

// tokenRequest builds a form POST to the token endpoint.
func tokenRequest(t *testing.T, ctx context.Context, s *Server, form url.Values) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// callAPI calls the API endpoint with the given Authorization header
// (none if empty) and extra headers as key, value pairs.
func callAPI(t *testing.T, s *Server, authorization string, kv ...string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.APIURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	return do(t, req)
}

// watchCalls returns a channel that receives once per token call started,
// up to n pending.
func watchCalls(s *Server, n int) <-chan struct{} {
	ch := make(chan struct{}, n)
	s.mu.Lock()
	s.entered = ch
	s.mu.Unlock()
	return ch
}

// await receives from ch or fails the test after a generous deadline.
func await[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

// wantStatus checks a result's status.
func wantStatus(t *testing.T, r result, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d; want %d (body %s)", r.status, want, r.raw)
	}
}

// wantKeys checks that a JSON body has exactly the given keys.
func wantKeys(t *testing.T, r result, keys ...string) {
	t.Helper()
	if len(r.body) != len(keys) {
		t.Errorf("body keys = %v; want %v", r.body, keys)
	}
	for _, k := range keys {
		if _, ok := r.body[k]; !ok {
			t.Errorf("body %s has no %q", r.raw, k)
		}
	}
}

// daxiumLogin is a valid Daxium password grant form.
func daxiumLogin() url.Values {
	return url.Values{
		"grant_type":    {"password"},
		"client_id":     {DefaultClientID},
		"client_secret": {DefaultClientSecret},
		"username":      {DefaultUser},
		"password":      {DefaultPassword},
	}
}

// daxiumRefresh is a valid Daxium refresh grant form for rt.
func daxiumRefresh(rt string) url.Values {
	return url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {DefaultClientID},
		"client_secret": {DefaultClientSecret},
		"refresh_token": {rt},
	}
}

// transiteoRefresh is a valid Transiteo refresh grant form for s.
func transiteoRefresh(s *Server) url.Values {
	return url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {DefaultClientID},
		"refresh_token": {s.RefreshToken()},
	}
}

// auth0ClientCredentials is a valid Auth0 client_credentials form.
func auth0ClientCredentials() url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {DefaultClientID},
		"client_secret": {DefaultClientSecret},
		"audience":      {DefaultAudience},
	}
}

// with returns a copy of form with key set to value, or deleted if value
// is "-".
func with(form url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "-" {
			out.Del(kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	return out
}
