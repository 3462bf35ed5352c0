// Package show holds the plumbing the example programs share: sending a
// GET through the HTTP client of a tokenkeeper.Source and printing its
// outcome, and the main function of a program that reads its settings
// from the environment. What each program demonstrates about tokenkeeper
// (the Client, the Source, the grants, how its errors are told apart)
// stays in the program itself.
package show

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"

	"github.com/tokenkeeper/tokenkeeper"
)

// maxBody is how much of an answer Fetch reads.
const maxBody = 1 << 20

// Fetch sends GET rawURL with api, typically the HTTP client of a
// tokenkeeper.Source, and reads the answer, 1 MiB at most. It returns the
// response status and the number of bytes read. An answer outside 2xx is
// returned as the *tokenkeeper.Error that tokenkeeper.DecodeError makes of
// it: the same decoder as for the token endpoint's errors, so a provider's
// error body gives its code, message and, where the provider has one, a
// documentation URL.
func Fetch(ctx context.Context, api *http.Client, rawURL string) (status string, n int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := api.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", 0, tokenkeeper.DecodeError(resp)
	}
	n, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", 0, err
	}
	return resp.Status, n, nil
}

// Get fetches rawURL as Fetch does and prints the outcome to w, indented
// by three spaces as the details of the programs' steps are:
// "   GET /path -> 200 OK (123 bytes)". It prints only the path of the URL,
// as its query could hold something private. setting names where rawURL
// comes from, an environment variable say, for the error returned when
// rawURL does not parse.
func Get(ctx context.Context, w io.Writer, api *http.Client, setting, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%s: %w", setting, err)
	}
	status, n, err := Fetch(ctx, api, u.String())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   GET %s -> %s (%d bytes)\n", u.Path, status, n)
	return nil
}

// Main runs a program that reads its settings from the environment: it
// calls run with a context that an interrupt (Ctrl-C) cancels, standard
// output and os.Getenv, and if run fails, prints the error to standard
// error after the program's name and exits with status 1.
func Main(name string, run func(ctx context.Context, w io.Writer, getenv func(string) string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
