// Command tokenkeeper gets, inspects, uses and revokes OAuth 2.0 tokens from
// a terminal, with the same code that runs in services built on the
// tokenkeeper library.
//
// Usage:
//
//	tokenkeeper <command> [flags]
//
// The commands are fetch, header, info, request, login, test and logout (or revoke); "tokenkeeper <command> -h" describes each, with examples.
//
// Profiles live in config.json in the command's folder: tokenkeeper in
// the user's config folder (os.UserConfigDir), or $TOKENKEEPER_CONFIG_DIR.
// Tokens are cached per profile in its tokens folder, 0600, and sealed
// with AES-256-GCM when $TOKENKEEPER_KEYS holds keys ("ID=base64key,...").
//
// Exit codes: 0 success; 1 the provider (or the API, or id_token
// verification) refused; 2 usage or configuration error; 3 any other
// failure (network, provider down, cache); 4 a new login is needed (the
// profile has no login of its own, or the provider refused the cached one).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oidc"
)

// Exit codes.
const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
	exitOther   = 3
	exitLogin   = 4
)

const mainUsage = `tokenkeeper gets, inspects, uses and revokes OAuth 2.0 tokens.

Usage:
  tokenkeeper <command> [flags]

Commands:
  fetch     print an access token (refreshing or logging in as needed)
  header    print the credential header the profile's API expects
  info      decode the profile's token (JSON): JWT header and claims, expiry, scope
  request   call a URL with the profile's credential
  login     log in interactively (device flow) and cache the token
  test      say whether the profile works end to end, and why not
  logout    revoke the tokens at the provider and clear the cache (alias: revoke)

Every command takes -p PROFILE (default $TOKENKEEPER_PROFILE, else "default")
and -config-dir DIR (default $TOKENKEEPER_CONFIG_DIR, else tokenkeeper in the
user's config folder, holding config.json and the token cache).
Run "tokenkeeper <command> -h" for its flags and examples.

Exit codes:
  0  success
  1  refused by the provider, the API, or id_token verification
  2  usage or configuration error (unknown profile, missing secret)
  3  other failure (network, provider down, token cache)
  4  a new login is needed (the profile has no non-interactive login)
`

// command is one subcommand.
type command struct {
	usage string // the lines after "Usage:", with examples
	run   func(ctx context.Context, e *env, args []string) error
}

var commands = map[string]command{
	"fetch":   {fetchUsage, runFetch},
	"header":  {headerUsage, runHeader},
	"info":    {infoUsage, runInfo},
	"request": {requestUsage, runRequest},
	"login":   {loginUsage, runLogin},
	"test":    {testUsage, runTest},
	"logout":  {logoutUsage, runLogout},
	"revoke":  {logoutUsage, runLogout},
}

// env is what a command writes to, and its common flags.
type env struct {
	stdout, stderr io.Writer
	color          bool // stderr is a terminal and NO_COLOR is unset
	profileName    string
	dir            string
	jsonOut        bool
	timeout        time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, mainUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "tokenkeeper: unknown command %q (run tokenkeeper -h)\n", args[0])
		return exitUsage
	}
	e := &env{stdout: stdout, stderr: stderr, color: colorOK(stderr)}
	err := cmd.run(ctx, e, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokenkeeper %s: %s\n", args[0], oneLine(err.Error()))
	}
	return exitCode(err)
}

// flags returns a FlagSet with the common flags bound to e.
func (e *env) flags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	def := os.Getenv(envProfile)
	if def == "" {
		def = "default"
	}
	fs.StringVar(&e.profileName, "p", def, "profile `name`")
	fs.StringVar(&e.dir, "config-dir", "", "config `folder` (default $"+envConfigDir+" or the user's config folder)")
	fs.DurationVar(&e.timeout, "timeout", time.Minute, "give up after this `duration`")
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage:\n%s\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// jsonFlag adds -json to fs.
func (e *env) jsonFlag(fs *flag.FlagSet) {
	fs.BoolVar(&e.jsonOut, "json", false, "machine-readable output (JSON)")
}

// parse parses args; positional arguments are refused unless allowed.
func parse(fs *flag.FlagSet, args []string, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &configError{msg: err.Error()}
	}
	if fs.NArg() > maxArgs {
		return configErrorf("unexpected argument %q", fs.Arg(maxArgs))
	}
	return nil
}

// exitCode maps an error to the documented exit codes.
func exitCode(err error) int {
	var ce *configError
	var pe *tokenkeeper.Error
	var oe *oidc.Error
	var re *refusedError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return exitUsage
	case errors.Is(err, tokenkeeper.ErrLoginRequired):
		return exitLogin
	case errors.As(err, &pe), errors.As(err, &oe), errors.As(err, &re):
		return exitRefused
	}
	return exitOther
}

// refusedError is a refusal that is not a provider *Error (an API answer).
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// colorOK reports whether w is a terminal and NO_COLOR is unset.
func colorOK(w io.Writer) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	return isTerminal(w)
}
