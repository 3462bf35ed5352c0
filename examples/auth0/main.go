// Command auth0 signs a user in with Auth0 the way a command-line tool
// does: the authorization code flow with PKCE (RFC 7636) and a loopback
// redirect (RFC 8252). It listens on 127.0.0.1, prints the authorization
// URL for the user to open, checks the callback's state, exchanges the
// code for tokens, and hands them to a Source that calls an API and
// refreshes them.
//
// Against an Auth0 tenant, with the settings in the environment (never in
// code):
//
//	export AUTH0_DOMAIN=example.eu.auth0.com
//	export AUTH0_CLIENT_ID=...
//	export AUTH0_CLIENT_SECRET=...                # optional: empty for a Native (public) application
//	export AUTH0_AUDIENCE=https://api.example.com # optional: the API identifier
//	export AUTH0_API_URL=https://...              # optional: default https://AUTH0_DOMAIN/userinfo
//	export AUTH0_CALLBACK_PORT=8765               # optional: default a free port
//	go run ./examples/auth0
//
// AUTH0_DOMAIN and AUTH0_CLIENT_ID go together. Without
// AUTH0_CLIENT_SECRET the program is a public client (AuthNone): it sends
// no secret, and PKCE alone protects the code. The redirect URI is
// http://127.0.0.1:PORT/callback: add it to the application's Allowed
// Callback URLs, and set AUTH0_CALLBACK_PORT to that PORT if the tenant
// wants the exact URL. The application needs the Authorization Code grant,
// and the Refresh Token grant for a refresh token (scope offline_access).
// The program waits five minutes at most for the sign-in.
//
// With neither AUTH0_DOMAIN nor AUTH0_CLIENT_ID set, the program says so
// and runs offline against a fake Auth0 tenant in the same process
// (package oauthtest), ignoring the other variables, and plays the browser
// itself: it opens the authorization URL and follows the redirect to its
// own listener.
//
//	go run ./examples/auth0
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Time given to the whole run: a person signs in, or the fake does.
const (
	signInTimeout  = 5 * time.Minute
	offlineTimeout = 30 * time.Second
)

// main calls run with a context that Ctrl-C cancels, standard output and
// the environment.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Stdout, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "auth0:", err)
		os.Exit(1)
	}
}

// settings is what the program reads from the environment.
type settings struct {
	domain, clientID, clientSecret string
	audience, apiURL               string
	port                           int
}

// readSettings reads the environment. offline is true when neither
// AUTH0_DOMAIN nor AUTH0_CLIENT_ID is set.
func readSettings(getenv func(string) string) (s settings, offline bool, err error) {
	s = settings{
		domain:       getenv("AUTH0_DOMAIN"),
		clientID:     getenv("AUTH0_CLIENT_ID"),
		clientSecret: getenv("AUTH0_CLIENT_SECRET"),
		audience:     getenv("AUTH0_AUDIENCE"),
		apiURL:       getenv("AUTH0_API_URL"),
	}
	if s.domain == "" && s.clientID == "" {
		return settings{}, true, nil
	}
	if s.domain == "" || s.clientID == "" {
		return s, false, errors.New("set both AUTH0_DOMAIN and AUTH0_CLIENT_ID, or neither to run offline")
	}
	if p := getenv("AUTH0_CALLBACK_PORT"); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return s, false, fmt.Errorf("AUTH0_CALLBACK_PORT %q is not a port number", p)
		}
	}
	return s, false, nil
}

func run(ctx context.Context, w io.Writer, getenv func(string) string) error {
	s, offline, err := readSettings(getenv)
	if err != nil {
		return err
	}
	cfg := tokenkeeper.Auth0(s.domain, s.clientID, s.clientSecret)
	timeout := signInTimeout
	if offline {
		// A Native application: no secret, PKCE required. Rotation with
		// reuse detection, as Auth0 recommends for public clients.
		provider, err := oauthtest.NewServer(oauthtest.Options{
			Preset: oauthtest.Auth0, PublicClient: true, Rotation: true, ReuseDetection: true,
		})
		if err != nil {
			return err
		}
		defer provider.Close()
		fmt.Fprintf(w, "AUTH0_DOMAIN and AUTH0_CLIENT_ID are not set:\n"+
			"running offline against a fake Auth0 tenant at %s.\n\n", provider.URL())
		s.clientID, s.audience, s.apiURL = oauthtest.DefaultClientID, oauthtest.DefaultAudience, provider.APIURL()
		cfg = tokenkeeper.Auth0("tenant.example.com", s.clientID, s.clientSecret)
		cfg.BaseURL = provider.URL()
		timeout = offlineTimeout
	} else if s.apiURL == "" {
		s.apiURL = "https://" + s.domain + "/userinfo"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	if s.clientSecret == "" {
		cfg.AuthStyle = tokenkeeper.AuthNone // a public client
	}
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		return err
	}
	tok, err := signIn(ctx, w, client, s, offline, timeout)
	if err != nil {
		return err
	}
	return useToken(ctx, w, client, tok, s.apiURL)
}

// signIn runs the authorization code flow with PKCE through a loopback
// redirect and exchanges the code (steps 1 to 3).
func signIn(ctx context.Context, w io.Writer, client *tokenkeeper.Client, s settings, offline bool, timeout time.Duration) (*tokenkeeper.Token, error) {
	fmt.Fprintln(w, "1. Listen for the redirect on the loopback interface.")
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)))
	if err != nil {
		return nil, err
	}
	redirectURI := "http://" + ln.Addr().String() + "/callback"
	fmt.Fprintf(w, "   redirect URI: %s\n", redirectURI)

	// The flow holds the state and the PKCE verifier until the callback.
	flow, err := client.AuthCodeURL(tokenkeeper.AuthCodeRequest{
		RedirectURI: redirectURI,
		Scope:       "openid offline_access", // an id_token, and a refresh token
		Audience:    s.audience,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	callbacks := make(chan callback, 1)
	stopListening := serve(ln, callbackHandler(flow, callbacks))
	defer stopListening()

	fmt.Fprintln(w, "2. Open this URL in a browser and sign in:")
	fmt.Fprintf(w, "\n   %s\n\n", flow.URL)
	if offline {
		fmt.Fprintln(w, "   (offline: a stand-in browser opens it and follows the redirect)")
		if err := playBrowser(ctx, flow.URL); err != nil {
			return nil, err
		}
	} else {
		fmt.Fprintf(w, "   waiting up to %v...\n", timeout)
	}

	var cb callback
	select {
	case cb = <-callbacks:
	case <-ctx.Done():
		return nil, fmt.Errorf("no sign-in: %w", ctx.Err())
	}
	stopListening() // the listener has done its job
	if cb.err != nil {
		explain(w, cb.err)
		return nil, cb.err
	}
	fmt.Fprintln(w, "3. The callback arrived with the state sent: exchange its code, with the PKCE verifier.")
	tok, err := client.Token(ctx, cb.grant)
	if err != nil {
		explain(w, err)
		return nil, err
	}
	fmt.Fprintf(w, "   %v\n", tok) // a Token prints no secret
	return tok, nil
}

// useToken hands the token to a Source, calls the API through it and
// shows a refresh with rotation (steps 4 and 5).
func useToken(ctx context.Context, w io.Writer, client *tokenkeeper.Client, tok *tokenkeeper.Token, apiURL string) error {
	fmt.Fprintln(w, "4. A source keeps the token fresh, and its HTTP client calls the API.")
	// No Login: when the refresh token dies, the user signs in again,
	// and the source says so with ErrLoginRequired.
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{Token: tok})
	if err != nil {
		return err
	}
	defer src.Close()
	if err := get(ctx, w, src.HTTPClient(nil), "AUTH0_API_URL", apiURL); err != nil {
		explain(w, err)
		return err
	}

	if tok.RefreshToken == "" {
		fmt.Fprintln(w, "   no refresh token (is the Refresh Token grant allowed, with offline_access?): done")
		return nil
	}
	fmt.Fprintln(w, "5. Say the API refused the token: the source gets the next one with the refresh token.")
	next, err := src.Renew(ctx, tok)
	if err != nil {
		explain(w, err)
		return err
	}
	fmt.Fprintf(w, "   %v\n", next)
	fmt.Fprintf(w, "   refresh token rotated: %t\n", next.RefreshToken != tok.RefreshToken)
	return nil
}

// callback is what the redirect brought: a code, or why there is none.
type callback struct {
	grant tokenkeeper.Grant
	err   error
}

// callbackHandler serves the redirect URI: it checks the state and takes
// the code with flow.Callback, hands the outcome over on results, which
// must have room for one, and tells the user in the browser. Only the
// first callback counts.
func callbackHandler(flow *tokenkeeper.AuthCodeFlow, results chan<- callback) http.Handler {
	var answered atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, r *http.Request) {
		if answered.Swap(true) {
			http.Error(w, "This sign-in is already over.", http.StatusConflict)
			return
		}
		grant, err := flow.Callback(r.URL.Query())
		results <- callback{grant: grant, err: err} // never blocks: one send, room for one
		if err != nil {
			http.Error(w, "Sign-in failed: "+err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "Signed in. You can close this window.")
	})
	return mux
}

// serve serves h on ln until the returned function is called; that
// function shuts the server down, waits for it, and may be called more
// than once.
func serve(ln net.Listener, h http.Handler) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln) // returns http.ErrServerClosed after Shutdown
	}()
	return sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	})
}

// playBrowser does what the user's browser would: open the authorization
// URL (the fake signs the user in at once) and follow its redirect to the
// loopback listener.
func playBrowser(ctx context.Context, authURL string) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	browser := &http.Client{Transport: tr}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := browser.Do(req)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return err
}

// explain prints what err means for the user, without any secret.
func explain(w io.Writer, err error) {
	var pe *tokenkeeper.Error
	switch {
	case errors.Is(err, tokenkeeper.ErrLoginRequired):
		fmt.Fprintln(w, "   the refresh token is no longer accepted: sign in again")
	case errors.As(err, &pe) && pe.StatusCode == 0:
		// An error parameter on the callback (access_denied, ...).
		fmt.Fprintf(w, "   the authorization server refused: %s: %s\n", pe.Code, pe.Message)
	case errors.Is(err, tokenkeeper.ErrInvalidGrant):
		fmt.Fprintln(w, "   the code was refused (used twice, expired, or another redirect URI or verifier)")
	case errors.As(err, &pe):
		fmt.Fprintf(w, "   refused: HTTP %d, %s: %s\n", pe.StatusCode, pe.Code, pe.Message)
	}
	fmt.Fprintf(w, "   error: %v\n", err)
}

// get fetches rawURL and prints "   GET /path -> 200 OK (123 bytes)": the
// path only, as a query could hold something private. setting names the
// environment variable rawURL comes from, for the error when it does not
// parse.
func get(ctx context.Context, w io.Writer, api *http.Client, setting, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("%s: %w", setting, err)
	}
	status, n, err := fetch(ctx, api, u.String())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   GET %s -> %s (%d bytes)\n", u.Path, status, n)
	return nil
}

// fetch sends GET rawURL with api, the HTTP client of a Source, and reads
// at most 1 MiB of the answer. It returns the status and the number of
// bytes read. An answer outside 2xx comes back as the *tokenkeeper.Error
// that tokenkeeper.DecodeError makes of it: the decoder of the token
// endpoint's errors, so a provider's error body gives its code and message.
func fetch(ctx context.Context, api *http.Client, rawURL string) (status string, n int64, err error) {
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
	n, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, err
	}
	return resp.Status, n, nil
}
