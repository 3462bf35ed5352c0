module github.com/tokenkeeper/tokenkeeper/redisstore

go 1.26.0

// Inside this repository the core is the one next door, so that both
// modules change together. A replace applies only to the main module: users
// of redisstore get the tagged core required below.
replace github.com/tokenkeeper/tokenkeeper => ../

require (
	github.com/redis/go-redis/v9 v9.23.0
	github.com/tokenkeeper/tokenkeeper v0.1.0
	go.uber.org/goleak v1.3.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/gofrs/flock v0.13.2 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/oauth2 v0.37.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
