// Package daxium is a sketch of a Daxium Air SDK built on tokenkeeper, for
// the sdk example: a Client that takes a *tokenkeeper.Source, sends its
// requests through the Source's HTTP client, and decodes the API's DAERR
// error bodies with tokenkeeper.DecodeError.
//
// The SDK leaves everything about tokens to the Source its user built: the
// grant, the Store, the refresh, the 401 recovery. It only speaks the API.
// Taking a *tokenkeeper.Source rather than an oauth2.TokenSource keeps the
// provider's credential shape and extra headers (the preset's), and the
// single refresh and replay after a 401.
package daxium

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenkeeper/tokenkeeper"
)

// DefaultBaseURL is the Daxium Air API.
const DefaultBaseURL = "https://api.daxium-air.com"

// apiVersion is the API version this SDK speaks; it is sent with every
// request, whatever the Source's configuration.
const apiVersion = "v1.3"

// Options configures a Client. The zero value is ready to use.
type Options struct {
	// BaseURL is the API's base URL. Empty means DefaultBaseURL.
	BaseURL string
	// Transport sends the requests under the Source's credential. Nil
	// means http.DefaultTransport.
	Transport http.RoundTripper
}

// Client calls the Daxium Air API with the credential of a
// tokenkeeper.Source. It is safe for concurrent use by multiple
// goroutines.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// New returns a Client using src for its credential. The caller keeps
// ownership of src and closes it after the last call.
func New(src *tokenkeeper.Source, opts Options) (*Client, error) {
	if src == nil {
		return nil, errors.New("daxium: New: nil Source")
	}
	raw := opts.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("daxium: New: BaseURL %q is not an absolute URL", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return &Client{base: u, hc: src.HTTPClient(opts.Transport)}, nil
}

// User is who the credential belongs to.
type User struct {
	// Name is the user's login.
	Name string `json:"user"`
	// Scope is the scope granted, space separated.
	Scope string `json:"scope"`
}

// Me returns the user the credential belongs to (GET /api/v1.3/me). A
// refusal by the API is a *tokenkeeper.Error (errors.As), with the DAERR
// code, message and documentation URL; a token that cannot be had wraps
// tokenkeeper's error (errors.Is(err, tokenkeeper.ErrLoginRequired), ...).
func (c *Client) Me(ctx context.Context) (*User, error) {
	var u User
	if err := c.get(ctx, "/api/"+apiVersion+"/me", &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// get sends GET path and decodes the JSON answer into v.
func (c *Client) get(ctx context.Context, path string, v any) error {
	u := *c.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("daxium: GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Accept-Version", apiVersion)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("daxium: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// DecodeError reads at most 1 MiB, closes the body and never
		// returns nil, whatever the body holds.
		return fmt.Errorf("daxium: GET %s: %w", path, tokenkeeper.DecodeError(resp))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("daxium: GET %s: decoding the answer: %w", path, err)
	}
	return nil
}
