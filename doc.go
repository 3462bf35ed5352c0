// Package tokenkeeper gets OAuth 2.0 tokens (RFC 6749, sections 4 to 6:
// the authorization code grant with PKCE per RFC 7636, the resource owner
// password, client credentials, refresh token and extension grants) and
// keeps them fresh, with the quirks of Daxium Air, Transiteo and Auth0.
//
// # The package at a glance
//
//	Config ──New──▶ Client ──Token(ctx, Grant)──▶ *Token  or  *Error
//	                  │
//	                  └──NewSource──▶ Source ──HTTPClient──▶ Transport ──▶ your API
//	                                    │
//	                                    └──▶ Store (FileStore, redisstore; memory when none)
//
// In words:
//
//   - Client speaks to one token endpoint. Build it with New from a Config:
//     a preset (DaxiumAir, Transiteo, Auth0) or one filled by hand.
//   - Grant is how a token is obtained: PasswordGrant, RefreshTokenGrant,
//     AuthorizationCodeGrant (AuthCodeURL and AuthCodeFlow.Callback build
//     it for a sign-in), ClientCredentialsGrant, ExtensionGrant.
//   - Token is what the endpoint issues; it converts to and from
//     golang.org/x/oauth2's token without loss. A refusal is an *Error,
//     with sentinels for errors.Is, and IsRetryable tells whether waiting
//     can help. DecodeError decodes API error bodies the same way.
//   - Source keeps one credential fresh over time: it refreshes early, in
//     the background, rotates refresh tokens through a Store and recovers
//     from a 401 once. It is an oauth2.TokenSource, and its Transport puts
//     the credential (Config.Credential) on every request of an
//     *http.Client.
//   - Store keeps a token across restarts and replicas.
//   - Package multi holds many credentials at once, one Source per
//     tenant, user and request parameters, behind one *http.Client.
//   - Package oidc validates id_tokens against the provider's keys; the
//     nonce it checks is the one AuthCodeURL sent (AuthCodeFlow.Nonce).
//   - Package jwtbearer signs the assertions of the JWT bearer grant
//     (JWTBearerGrant), a fresh one for every login of a Source.
//   - Packages discovery (provider metadata) and seal (tokens encrypted
//     at rest) complete the map.
//
// Secrets (passwords, client secrets, access, refresh and id tokens) never
// appear in Error, in any fmt verb, in slog output or in JSON. Nothing is
// logged unless Config.Logger is set.
package tokenkeeper
