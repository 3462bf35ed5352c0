// Package oauthtest runs an in-process fake OAuth2 provider (RFC 6749
// sections 4.1, 4.3, 4.4 and 6, with RFC 7636 PKCE and RFC 6750 bearer
// tokens) that behaves like Daxium Air, Transiteo or Auth0, for tests of
// tokenkeeper and of the SDKs built on it.
//
// A Server is strict: it rejects what the real provider would (a Daxium
// secret in an HTTP Basic header, a Transiteo client_secret, a reused
// authorization code, a rotated-away refresh token), and answers with the
// provider's own error bodies: DAERR for Daxium, RFC 6749 JSON for the
// others. Each preset also serves a protected API endpoint (APIURL) that
// checks the credential as the provider's API does.
//
// Tests inject faults at run time from any goroutine (SetLatency, FailNext,
// RateLimitNext, MalformedNext, OversizedNext, TruncateNext, ResetNext,
// HangNext, LoseNextRotation, Revoke, RevokeAll), move time with a Clock
// instead of sleeping, and read what happened in Stats.
//
// Typical use:
//
//	clock := oauthtest.NewClock(time.Now())
//	srv, err := oauthtest.NewServer(oauthtest.Options{Preset: oauthtest.Daxium, Clock: clock})
//	if err != nil {
//		t.Fatal(err)
//	}
//	t.Cleanup(srv.Close)
//
//	resp, err := http.PostForm(srv.TokenURL(), url.Values{
//		"grant_type":    {"password"},
//		"client_id":     {oauthtest.DefaultClientID},
//		"client_secret": {oauthtest.DefaultClientSecret},
//		"username":      {oauthtest.DefaultUser},
//		"password":      {oauthtest.DefaultPassword},
//	})
//	// ... decode the token, call srv.APIURL() with it ...
//	clock.Advance(time.Hour) // the access token has now expired
//	srv.FailNext(2, http.StatusBadGateway) // and the next two refreshes fail
//
// Tokens are random opaque strings with a prefix telling their kind:
// "at_" access, "rt_" refresh, "id_" id, "ac_" authorization code.
package oauthtest
