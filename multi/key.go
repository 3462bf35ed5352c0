package multi

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/tokenkeeper/tokenkeeper"
)

// Key names one credential: everything that makes two tokens differ. Two
// requests whose keys differ in any field never share a token or a token
// call; two with equal keys share one credential. A zero field is a value
// like any other: Key{Tenant: "a"} and Key{Tenant: "a", Scope: "read"}
// are two credentials.
//
// A Key is a comparable value, safe to copy and to use from many
// goroutines. Its Subject may identify a person: store ID instead, never
// the Key's fields.
type Key struct {
	// Tenant is the customer, account or provider the credential belongs
	// to, as the application names it.
	Tenant string
	// Subject is the user (or client) the token is issued for.
	Subject string
	// Scope, Audience and Resource are the token request's parameters
	// (RFC 6749 section 3.3, RFC 8707): a token for one scope or audience
	// is never sent where another was asked for.
	Scope, Audience, Resource string
	// ProofKey is the thumbprint of the key a sender-constrained token is
	// bound to (the jkt of RFC 9449). It is reserved for DPoP: leave it
	// empty until the package supports it.
	ProofKey string
}

// idDomain separates key IDs from any other SHA-256 use.
const idDomain = "tokenkeeper/multi.Key v1\x00"

// encode returns the unambiguous byte form of k: each field preceded by
// its length, so that no two different keys encode alike.
func (k Key) encode() []byte {
	fields := [...]string{k.Tenant, k.Subject, k.Scope, k.Audience, k.Resource, k.ProofKey}
	n := len(idDomain)
	for _, f := range fields {
		n += binary.MaxVarintLen64 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, idDomain...)
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// ID returns a name for k that is safe to keep at rest: 64 hexadecimal
// digits of SHA-256 over all of k's fields, each with its length, so that
// two different keys never share an ID (short of a SHA-256 collision).
// Use it to name k's token in a Store (a file name, a Redis key). It hides
// the Subject from a reader of the store, but whoever can guess all of a
// key's fields can confirm the guess: do not put a secret in a Key.
func (k Key) ID() string {
	sum := sha256.Sum256(k.encode())
	return hex.EncodeToString(sum[:])
}

// Params returns the grant options of k's request parameters: scope,
// audience and resource, each only when set. Build the Login grant of k's
// credential with them, so that the token asked for is the one k names.
func (k Key) Params() []tokenkeeper.GrantOption {
	var opts []tokenkeeper.GrantOption
	for _, p := range [...]struct{ name, v string }{{"scope", k.Scope}, {"audience", k.Audience}, {"resource", k.Resource}} {
		if p.v != "" {
			opts = append(opts, tokenkeeper.Param(p.name, p.v))
		}
	}
	return opts
}

// ctxKey is the context key under which WithKey puts a Key.
type ctxKey struct{}

// WithKey returns a copy of ctx carrying k: a request made with it through
// a Manager's HTTPClient carries k's credential.
func WithKey(ctx context.Context, k Key) context.Context {
	return context.WithValue(ctx, ctxKey{}, &k)
}

// KeyFrom returns the Key that WithKey put in ctx, if any.
func KeyFrom(ctx context.Context) (Key, bool) {
	k, ok := ctx.Value(ctxKey{}).(*Key)
	if !ok {
		return Key{}, false
	}
	return *k, true
}
