package redisstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/seal"
)

// ErrOldFormat is wrapped, together with tokenkeeper.ErrCorruptStore, by the
// error of a Load that finds a value sealed by the Cipher of redisstore
// v0.1 (a value starting "tokenkeeper-sealed:v1:"). Such values are not
// read: a Source reports the error, goes on with the token it holds or
// its login grant, and its next save replaces the value in the current
// format (package seal).
var ErrOldFormat = errors.New("redisstore: the stored token was sealed by the Cipher of redisstore v0.1, which is no longer read")

// oldPrefix starts a value sealed by redisstore v0.1.
var oldPrefix = []byte("tokenkeeper-sealed:v1:")

// encode serializes t, sealed with the current key when the Store has Keys,
// bound to the Redis key.
func (s *Store) encode(ctx context.Context, t *tokenkeeper.Token) ([]byte, error) {
	data, err := tokenkeeper.EncodeToken(t)
	if err != nil || s.keys == nil {
		return data, err
	}
	return seal.Seal(ctx, s.keys, data, s.key)
}

// decode opens and parses a stored value. A value that is not a token, or
// a sealed one that does not open (a *seal.OpenError: wrong key, tampered,
// moved from another key), is an error wrapping tokenkeeper.ErrCorruptStore
// that shows none of the data; a failure of the KeyProvider itself is
// returned as is.
func (s *Store) decode(ctx context.Context, data []byte) (*tokenkeeper.Token, error) {
	isSealed := seal.IsSealed(data)
	switch {
	case bytes.HasPrefix(data, oldPrefix):
		return nil, fmt.Errorf("%w: %w", tokenkeeper.ErrCorruptStore, ErrOldFormat)
	case isSealed && s.keys == nil:
		return nil, fmt.Errorf("%w: the stored token is encrypted and the Store has no Keys", tokenkeeper.ErrCorruptStore)
	case !isSealed && s.keys != nil:
		return nil, fmt.Errorf("%w: the stored token is not encrypted and the Store has Keys", tokenkeeper.ErrCorruptStore)
	case isSealed:
		plain, err := seal.Open(ctx, s.keys, data, s.key)
		var oe *seal.OpenError
		if errors.As(err, &oe) {
			return nil, fmt.Errorf("%w: %w", tokenkeeper.ErrCorruptStore, err)
		}
		if err != nil {
			return nil, err
		}
		data = plain
	}
	return tokenkeeper.DecodeToken(data)
}
