package tokenkeeper_test

// Runnable examples for the package documentation, each against an
// in-process server and checked by its Output lines.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// The password grant against a Daxium Air-like token endpoint: client_id
// and client_secret travel in the form body, and the preset adds
// X-Accept-Version.
func ExamplePasswordGrant() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/v2/token" || r.PostFormValue("grant_type") != "password" ||
			r.PostFormValue("client_secret") != "app-secret" || r.Header.Get("X-Accept-Version") != "v1.3" {
			http.Error(w, `{"code":"DAERR-TEST","message":"unexpected request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"access-1","refresh_token":"refresh-1","expires_in":3600,"token_type":"bearer","scope":"api"}`)
	}))
	defer srv.Close()

	cfg := tokenkeeper.DaxiumAir("app-id", "app-secret")
	cfg.BaseURL = srv.URL
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	tok, err := client.Token(context.Background(), tokenkeeper.PasswordGrant("jane@example.com", "correct horse battery staple"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.TokenType, tok.AccessToken)
	fmt.Println("refresh token:", tok.RefreshToken)
	fmt.Println("scope:", tok.Scope)
	fmt.Println("lifetime:", tok.Expiry.Sub(tok.IssuedAt))
	// Output:
	// Bearer access-1
	// refresh token: refresh-1
	// scope: api
	// lifetime: 1h0m0s
}

// DecodeError turns an API's error response into the same *Error as the
// token endpoint's: here a Daxium Air 401 with its DAERR body.
func ExampleDecodeError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":"DAERR-AUTH002","message":"Access token expired","url":"https://doc.example.com/errors/DAERR-AUTH002","api_version":"v1.3","infos":[],"server_time":"1717243200"}`)
	}))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/api/structures")
	if err != nil {
		log.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		apiErr := tokenkeeper.DecodeError(resp) // reads and closes the body
		fmt.Println(apiErr)
		fmt.Println("code:", apiErr.Code)
		fmt.Println("docs:", apiErr.URL)
		fmt.Println("server time:", apiErr.ServerTime.Format(time.RFC3339))
		fmt.Println("unauthorized:", errors.Is(apiErr, tokenkeeper.ErrUnauthorized))
	}
	// Output:
	// tokenkeeper: 401 Unauthorized: DAERR-AUTH002: Access token expired
	// code: DAERR-AUTH002
	// docs: https://doc.example.com/errors/DAERR-AUTH002
	// server time: 2024-06-01T12:00:00Z
	// unauthorized: true
}

// A refresh that the provider refuses: errors.As gives the provider's
// fields, errors.Is the kind of failure, and IsRetryable whether waiting
// can help.
func ExampleRefreshTokenGrant() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"invalid_grant","error_description":"Refresh token is expired"}`)
	}))
	defer srv.Close()

	// Transiteo is a public client: client_id only, no secret.
	cfg := tokenkeeper.Transiteo("my-client-id")
	cfg.BaseURL = srv.URL
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Token(context.Background(), tokenkeeper.RefreshTokenGrant("refresh-token-from-the-console"))

	var tkErr *tokenkeeper.Error
	if errors.As(err, &tkErr) {
		fmt.Println("status:", tkErr.StatusCode)
		fmt.Println("code:", tkErr.Code)
		fmt.Println("message:", tkErr.Message)
	}
	fmt.Println("new login needed:", errors.Is(err, tokenkeeper.ErrInvalidGrant))
	fmt.Println("retry later:", tokenkeeper.IsRetryable(err))
	fmt.Println(err)
	// Output:
	// status: 400
	// code: invalid_grant
	// message: Refresh token is expired
	// new login needed: true
	// retry later: false
	// tokenkeeper: 400 Bad Request: invalid_grant: Refresh token is expired
}

// A managed Source on the fake Daxium Air provider: it logs in on first
// use, its HTTP client puts the token on every request, and it recovers
// from a revoked token with one refresh and one replay.
func ExampleSource_HTTPClient() {
	provider, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium})
	if err != nil {
		log.Fatal(err)
	}
	defer provider.Close()

	cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = provider.URL()
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		Login: tokenkeeper.PasswordGrant(oauthtest.DefaultUser, oauthtest.DefaultPassword),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	api := src.HTTPClient(nil)

	get := func() {
		resp, err := api.Get(provider.APIURL())
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	get()
	tok, err := src.TokenContext(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	provider.Revoke(tok.AccessToken)
	get()

	st := provider.Stats()
	fmt.Printf("logins: %d, refreshes: %d, API 401s: %d\n", st.Logins, st.TokenCalls["refresh_token"], st.API401s)
	// Output:
	// 200 OK
	// 200 OK
	// logins: 1, refreshes: 1, API 401s: 1
}
