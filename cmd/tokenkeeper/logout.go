package main

import (
	"context"
	"errors"
	"fmt"
)

const logoutUsage = `  tokenkeeper logout [-p profile]
  tokenkeeper revoke [-p profile]

Revokes the profile's refresh and access tokens at the provider (RFC 7009)
and clears its token cache. The cache is cleared even when revocation
fails; the error then says the provider may still honour the tokens.
A provider without a revocation endpoint (Daxium Air, Transiteo) only
has its cache cleared, with a note on stderr.

Examples:
  tokenkeeper logout -p auth0
  tokenkeeper revoke -p auth0 && tokenkeeper fetch -p auth0`

func runLogout(ctx context.Context, e *env, args []string) error {
	fs := e.flags("logout", logoutUsage)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	s, src, err := e.openSource(ctx)
	if err != nil {
		return err
	}
	err = src.Logout(ctx)
	if errors.Is(err, errors.ErrUnsupported) {
		fmt.Fprintln(e.stderr, "tokenkeeper logout: the provider has no revocation endpoint; the token cache is cleared")
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, "tokenkeeper logout: tokens revoked and cache cleared for profile", s.name)
	return nil
}
