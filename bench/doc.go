// Package bench compares tokenkeeper with golang.org/x/oauth2 for token
// management: hot-path benchmarks of the authenticating transport and of
// the token source (bench_test.go), and load scenarios against a loopback
// token server and API (scenarios_test.go). BENCHMARKS.md, at the root of
// the module, gives the commands and the figures.
package bench
