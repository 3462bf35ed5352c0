// Package multi holds many OAuth 2.0 credentials at once: one managed
// tokenkeeper.Source per Key (tenant, subject, scope, audience, resource),
// created on first use, bounded in number and idle time, behind a single
// *http.Client whose requests carry the credential of the Key in their
// context.
//
// Credentials are never crossed: a Key is compared in full, each Key has
// its own Source (and so its own token, renewal and 401 recovery), and a
// request whose context has no Key is refused rather than sent with some
// other credential. Store a key's token under Key.ID, which hides the
// key's fields.
package multi
