package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/oauth2"
)

const loginUsage = `  tokenkeeper login [-p profile] [-code] [-timeout duration]

Logs in with the device authorization grant (RFC 8628): prints the code
to enter and the page where to enter it on stderr, then waits, with a
countdown, while the provider is polled until the user approves or
denies. The token is stored in the profile's cache; nothing is printed
on stdout. The profile's scopes and audience are asked for (add
offline_access to get a refresh token). A denial exits with code 1.
-timeout bounds the setup (discovery); the wait itself lasts until the
codes expire (the provider says when) or Ctrl-C.

With -code, logs in with the authorization code flow and PKCE (RFC 7636)
instead: the provider sends the browser back to a loopback address
(127.0.0.1, a free port, path /callback; RFC 8252), where the command
takes the code, checks the state and exchanges the code. It prints the
page to open on stderr, and opens it with $BROWSER when that is set. The
wait lasts at most 5 minutes.

Examples:
  tokenkeeper login -p auth0
  tokenkeeper login -p auth0 -code
  tokenkeeper login -p auth0 && tokenkeeper fetch -p auth0`

// countdownStep is how often the countdown is redrawn on a terminal, and
// countdownLine how often a line is written when stderr is not one.
const (
	countdownStep = time.Second
	countdownLine = 30 * time.Second
)

func runLogin(ctx context.Context, e *env, args []string) error {
	fs := e.flags("login", loginUsage)
	code := fs.Bool("code", false, "log in with the authorization code flow and PKCE on a loopback redirect")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	s, err := e.openWithin(ctx)
	if err != nil {
		return err
	}
	if *code {
		return e.loginCode(ctx, s)
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	started := false
	prompt := func(da oauth2.DeviceAuthResponse) {
		e.showDeviceCode(da)
		started = true
		go func() {
			defer close(finished)
			e.countdown(da.Expiry, done)
		}()
	}
	// The device codes live up to the provider's expires_in: the wait is
	// bounded by it (and by Ctrl-C), not by -timeout.
	t, err := s.client.DeviceLogin(ctx, prompt, s.prof.grantOptions()...)
	close(done)
	if started {
		<-finished // the countdown has cleared its line
	}
	if err != nil {
		return err
	}
	if err := s.store.Save(ctx, t); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	fmt.Fprintf(e.stderr, "tokenkeeper login: logged in, token stored for profile %s\n", s.name)
	return nil
}

// openWithin opens e's profile within e.timeout (discovery included).
func (e *env) openWithin(ctx context.Context) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	return e.open(ctx)
}

// showDeviceCode prints what the user must do, the code in bold when
// colour is allowed.
func (e *env) showDeviceCode(da oauth2.DeviceAuthResponse) {
	code := da.UserCode
	if e.color {
		code = "\x1b[1m" + code + "\x1b[0m"
	}
	fmt.Fprintf(e.stderr, "To sign in, open %s and enter the code %s\n", da.VerificationURI, code)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(e.stderr, "(or open %s)\n", da.VerificationURIComplete)
	}
}

// countdown shows the time left until expiry until done is closed: one
// line redrawn every second on a terminal, else a line every 30 seconds.
// It ends at expiry at the latest.
func (e *env) countdown(expiry time.Time, done <-chan struct{}) {
	tty := isTerminal(e.stderr)
	step := countdownLine
	if tty {
		step = countdownStep
	}
	tick := time.NewTicker(step)
	defer tick.Stop()
	end := time.NewTimer(time.Until(expiry))
	defer end.Stop()
	show := func() {
		left := max(time.Until(expiry), 0).Round(time.Second)
		if tty {
			fmt.Fprintf(e.stderr, "\rWaiting for approval: %s left ", left)
		} else {
			fmt.Fprintf(e.stderr, "Waiting for approval: %s left\n", left)
		}
	}
	show()
	for {
		select {
		case <-done:
			if tty {
				fmt.Fprint(e.stderr, "\r\x1b[K")
			}
			return
		case <-end.C:
			return
		case <-tick.C:
			show()
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
