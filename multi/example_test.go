package multi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/multi"
	"github.com/tokenkeeper/tokenkeeper/oauthtest"
)

// Two users of one Daxium Air integration share one *http.Client; each
// request carries the token of the user named in its context.
func Example() {
	// A fake Daxium Air with two accounts stands in for the real one.
	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium,
		Users: map[string]string{"alice": "alice-pw", "bob": "bob-pw"}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	passwords := map[string]string{"alice": "alice-pw", "bob": "bob-pw"} // from your vault

	m, err := multi.New(multi.Config{
		Open: func(ctx context.Context, k multi.Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
			cfg := tokenkeeper.DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
			cfg.BaseURL = srv.URL()
			cfg.HTTPClient = srv.Client()
			c, err := tokenkeeper.New(cfg)
			return c, tokenkeeper.SourceConfig{
				Login: tokenkeeper.PasswordGrant(k.Subject, passwords[k.Subject], k.Params()...),
			}, err
		},
		MaxCredentials: 1000,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	api := m.HTTPClient() // one client for every user

	for _, user := range []string{"alice", "bob"} {
		ctx := multi.WithKey(context.Background(), multi.Key{Tenant: "daxium", Subject: user})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.APIURL(), nil)
		resp, err := api.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		var me struct{ User string }
		json.NewDecoder(resp.Body).Decode(&me)
		resp.Body.Close()
		fmt.Printf("%s's request: %s, the API saw %s\n", user, resp.Status, me.User)
	}

	_, err = api.Get(srv.APIURL()) // no Key in its context: not sent
	fmt.Println(errors.Is(err, multi.ErrNoKey))
	// Output:
	// alice's request: 200 OK, the API saw alice
	// bob's request: 200 OK, the API saw bob
	// true
}
