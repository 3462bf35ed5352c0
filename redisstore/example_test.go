package redisstore_test

import (
	"log"
	"net/http"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/redisstore"
	"github.com/tokenkeeper/tokenkeeper/seal"
)

// A replica of a service sharing one Daxium Air credential with the
// others. It needs a Redis server, so it is compiled, not run; the
// integration tests run the same set-up against a real one.
func Example() {
	rdb := redis.NewClient(&redis.Options{
		Addr:                  os.Getenv("REDIS_ADDR"),
		ContextTimeoutEnabled: true, // required: calls must stop at their deadline
	})
	defer rdb.Close()

	// AES-256-GCM at rest: TOKEN_KEYS="2025-06=<32 bytes, base64>,..."
	// from your secret manager, the first key current.
	keys, err := seal.EnvKeys("TOKEN_KEYS")
	if err != nil {
		log.Fatal(err)
	}
	store, err := redisstore.New(rdb, "daxium:prod", redisstore.Options{
		Keys: keys,
		// Lease (default 10s): a refresh is cut at nine tenths of it.
	})
	if err != nil {
		log.Fatal(err)
	}

	cfg := tokenkeeper.DaxiumAir(os.Getenv("DAXIUM_CLIENT_ID"), os.Getenv("DAXIUM_CLIENT_SECRET"))
	cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second} // a token request gives up well within the lease
	client, err := tokenkeeper.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	src, err := tokenkeeper.NewSource(client, tokenkeeper.SourceConfig{
		Store: store,
		// Used when Redis holds no token yet, and when the refresh token
		// is rejected.
		Login: tokenkeeper.PasswordGrant(os.Getenv("DAXIUM_USERNAME"), os.Getenv("DAXIUM_PASSWORD")),
		OnEvent: func(ev tokenkeeper.Event) {
			if ev.Kind == tokenkeeper.EventStoreFailed {
				log.Printf("token store: %s failed: %v", ev.Op, ev.Err) // alert on these
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	api := src.HTTPClient(nil) // every request carries a valid token
	resp, err := api.Get("https://api.daxium-air.com/v1.3/structures")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	// ...
}
