package oauthtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// A Daxium login, an API call, and the same call once the token has expired
// on the server's clock.
func Example() {
	clock := oauthtest.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	resp, err := http.PostForm(srv.TokenURL(), url.Values{
		"grant_type":    {"password"},
		"client_id":     {oauthtest.DefaultClientID},
		"client_secret": {oauthtest.DefaultClientSecret},
		"username":      {oauthtest.DefaultUser},
		"password":      {oauthtest.DefaultPassword},
	})
	if err != nil {
		panic(err)
	}
	var tok oauthtest.TokenResponse
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil {
		panic(err)
	}
	fmt.Println("token:", resp.StatusCode, tok.TokenType, tok.ExpiresIn)

	callAPI := func() {
		req, _ := http.NewRequest(http.MethodGet, srv.APIURL(), nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("X-Accept-Version", "v1.3")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		fmt.Println("api:", resp.StatusCode, body["user"], body["code"])
	}
	callAPI()
	clock.Advance(time.Hour)
	callAPI()

	// Output:
	// token: 200 bearer 3600
	// api: 200 user@example.com <nil>
	// api: 401 <nil> DAERR-AUTH004
}

// Faults are queued and served in order, one token call each.
func ExampleServer_FailNext() {
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Transiteo})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	srv.FailNext(1, http.StatusBadGateway)
	srv.RateLimitNext(1, 30*time.Second)
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {oauthtest.DefaultClientID},
		"refresh_token": {srv.RefreshToken()},
	}
	for range 3 {
		resp, err := http.Post(srv.TokenURL(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Printf("%d %s Retry-After=%q\n", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"))
	}
	fmt.Println("token calls:", srv.Stats().TokenCallsTotal)

	// Output:
	// 502 text/html Retry-After=""
	// 429 application/json Retry-After="30"
	// 200 application/json Retry-After=""
	// token calls: 3
}
