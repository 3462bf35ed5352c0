// Package redisstore is a tokenkeeper.Store and tokenkeeper.Locker on Redis,
// for replicas that share one OAuth 2.0 credential (RFC 6749, section 6):
// one replica refreshes while the others wait and take the token it stored,
// so that a rotating refresh token is normally presented by one replica
// only.
//
// # Keys and values
//
// A Store for credential key uses two Redis keys: Prefix+key holds the token
// (tokenkeeper.EncodeToken's JSON, or that JSON sealed with Options.Keys),
// and Prefix+key+":lock" holds the refresh lock. The default Prefix is
// "tokenkeeper:", so several credentials, and other applications, share one
// Redis. The token key has no expiry; the lock key expires after
// Options.Lease.
//
// # The refresh lock
//
// TryLock is SET NX PX with a random owner value. Only the owner releases
// it, with a compare-and-delete script, and a holder that crashes leaves a
// lock that expires on its own after Lease. A tokenkeeper.Source using the
// Store takes the lock around every refresh and re-reads the token once it
// holds it; replicas that do not get it poll the token until the holder
// has stored a fresh one, or until the lease ends and one of them takes the
// lock in turn. The Store is a tokenkeeper.Locker with a lease: the Source ends
// its refresh (token call and save) within nine tenths of Lease, so that
// normally no other replica takes the lock while it runs. Cutting the
// client's side of a token request cannot recall it, though: a request cut
// at that point may still have been processed by the provider, which then
// rotated the refresh token away. The next holder's refresh then meets a
// refresh token that is no longer valid and falls back to a login, if its
// Source has one (tokenkeeper.SourceConfig.Login). Lease must therefore be
// longer than a refresh normally takes, and shorter than the Source's
// RefreshTimeout, so that waiters outlive a crashed holder.
//
// # When Redis is down or slow
//
// Every Redis call is bounded by Options.Timeout and by the caller's
// context, so Load, Save, TryLock and unlock return an error promptly when
// Redis is unreachable, refuses the connection or stops answering. The
// client must honour context deadlines (go-redis: ContextTimeoutEnabled);
// New rejects one that says it does not.
//
// A tokenkeeper.Source reacts to those errors without failing requests:
//
//   - a TryLock error is reported as EventStoreFailed (Op "lock") and the Source
//     refreshes in its own process, as if it had no shared store;
//   - a Save error is reported as EventStoreFailed; the new token (and its
//     rotated refresh token) stays in the Source's memory, is used, and is
//     saved again with the next token;
//   - a Load error is reported as EventStoreFailed and the token in memory
//     is used.
//
// What an outage costs is the coordination. Replicas that refresh while
// Redis is away do so each on its own. With a provider that keeps the
// refresh token (Transiteo, Auth0 without rotation) that is only extra
// token calls. With a rotating provider (Daxium Air, Auth0 with rotation)
// the first replica's refresh retires the shared refresh token and the
// other replicas' refreshes are refused with invalid_grant: they recover
// through their login grant (tokenkeeper.SourceConfig.Login) if they have
// one, and Auth0's reuse detection may revoke the whole token family. Run
// Redis so that it is rarely away when the credential rotates.
//
// # Encryption
//
// Refresh tokens are long-lived secrets. With Options.Keys (a
// seal.KeyProvider: seal.StaticKeys, seal.EnvKeys or your KMS) the token is
// stored sealed with AES-256-GCM in the format of package seal, the one
// tokenkeeper's FileStore uses, bound to its Redis key, so that neither
// Redis, its backups nor its replicas see it in clear, and a value copied
// under another key does not open. The value names the key that sealed it:
// a KeyProvider with a new current key still reads values sealed with an
// older key it holds, and seals the next save with the new one.
//
// A value that does not open (a *seal.OpenError: wrong key, a key the
// provider does not hold, tampered, moved from another key), a clear-text
// value while Keys is set, or a value sealed by the Cipher of redisstore
// v0.1 (ErrOldFormat), is an error wrapping tokenkeeper.ErrCorruptStore; a
// Source reports it (EventStoreFailed), goes on with the token it holds or
// its login grant, and overwrites the stored value with its next token.
package redisstore
