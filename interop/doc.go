// Package interop tests tokenkeeper side by side with golang.org/x/oauth2
// against a real OpenID Provider, ZITADEL's example OP, run in-process on
// loopback. Its tests generate docs/INTEROP.md at the repository root.
//
// It is a module of its own so that the provider's dependencies never reach
// the core's go.mod.
package interop
