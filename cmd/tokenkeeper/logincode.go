package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// codeLoginWait bounds the wait for the browser to come back.
const codeLoginWait = 5 * time.Minute

// loginCode logs in with the authorization code flow and PKCE on a
// loopback redirect, and stores the token in s's cache.
func (e *env) loginCode(ctx context.Context, s *session) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("loopback redirect: %w", err)
	}
	redirect := "http://" + ln.Addr().String() + "/callback"
	flow, err := s.client.AuthCodeURL(tokenkeeper.AuthCodeRequest{
		RedirectURI: redirect,
		Scope:       strings.Join(s.prof.Scopes, " "),
		Audience:    s.prof.Audience,
	})
	if err != nil {
		ln.Close()
		return err
	}
	result := make(chan codeResult, 1)
	srv := &http.Server{Handler: callbackHandler(s.client, flow, result), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Fprintf(e.stderr, "tokenkeeper login: open this page to log in (waiting up to %v):\n  %s\n", codeLoginWait, flow.URL)
	openBrowser(flow.URL)
	ctx, cancel := context.WithTimeout(ctx, codeLoginWait)
	defer cancel()
	var r codeResult
	select {
	case r = <-result:
	case <-ctx.Done():
		return fmt.Errorf("no login within %v: %w", codeLoginWait, ctx.Err())
	}
	if r.err != nil {
		return r.err
	}
	if err := s.store.Save(ctx, r.tok); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	fmt.Fprintf(e.stderr, "tokenkeeper login: logged in, token stored for profile %s\n", s.name)
	return nil
}

// codeResult is the outcome of the redirect back.
type codeResult struct {
	tok *tokenkeeper.Token
	err error
}

// callbackHandler serves the redirect back: it checks the state, exchanges
// the code and hands the outcome to result, once.
func callbackHandler(c *tokenkeeper.Client, flow *tokenkeeper.AuthCodeFlow, result chan<- codeResult) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		grant, err := flow.Callback(r.URL.Query())
		var tok *tokenkeeper.Token
		if err == nil {
			tok, err = c.Token(r.Context(), grant)
		}
		if err != nil {
			http.Error(w, "The login failed: see the terminal.", http.StatusBadRequest)
		} else {
			fmt.Fprintln(w, "Logged in: you can close this window.")
		}
		select {
		case result <- codeResult{tok, err}:
		default: // a second visit: the first one decided
		}
	})
}

// openBrowser opens u with $BROWSER when it is set; otherwise the printed
// page is for the user to open.
func openBrowser(u string) {
	browser := os.Getenv("BROWSER")
	if browser == "" {
		return
	}
	cmd := exec.Command(browser, u)
	if cmd.Start() == nil {
		go cmd.Wait()
	}
}
