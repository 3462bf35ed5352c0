// Package seal encrypts token records at rest with AES-256-GCM (NIST SP
// 800-38D): the format shared by tokenkeeper's FileStore and the Redis
// store of its redisstore module.
//
// A sealed record reads
//
//	tokenkeeper-sealed:v2:<key ID>:<base64url(nonce | ciphertext | tag)>
//
// The key ID names the key that sealed it, so that keys can be rotated: a
// KeyProvider seals new records with its current key and still opens
// records sealed with an older key it holds. The record's identity (the
// file's absolute path, the Redis key) is bound as additional
// authenticated data together with the header, so a record copied to
// another identity, or altered in any byte, does not open.
package seal

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Prefix starts every sealed record.
const Prefix = "tokenkeeper-sealed:v2:"

// KeySize is the size of a key: AES-256.
const KeySize = 32

// Sentinels matched by errors.Is on an *OpenError.
var (
	// ErrUnknownKey: the record names a key the KeyProvider does not hold.
	ErrUnknownKey = errors.New("seal: unknown key")
	// ErrMalformed: the record is not in the sealed format.
	ErrMalformed = errors.New("seal: malformed sealed record")
	// ErrAuthentication: the record does not open with its key and
	// identity: a wrong key, a record altered, or one moved from
	// another identity.
	ErrAuthentication = errors.New("seal: the record does not authenticate (wrong key, tampered, or moved from another identity)")
)

// OpenError is the error of a sealed record that cannot be opened. Err
// is ErrUnknownKey, ErrMalformed or ErrAuthentication. It holds no part of
// the record and no key.
type OpenError struct {
	// KeyID is the key the record names ("" when malformed).
	KeyID string
	// Err says why it does not open.
	Err error
}

func (e *OpenError) Error() string {
	if e.KeyID == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v (key %q)", e.Err, e.KeyID)
}

// Unwrap returns Err.
func (e *OpenError) Unwrap() error { return e.Err }

// KeyProvider gives the keys that seal and open records: a static set
// (StaticKeys), an environment variable (EnvKeys), or the application's
// KMS. Keys are KeySize bytes; key IDs are 1 to 64 characters among
// letters, digits, '.', '_' and '-'. Implementations must be safe for
// concurrent use and must never put a key in an error.
type KeyProvider interface {
	// CurrentKey returns the key that new records are sealed with.
	CurrentKey(ctx context.Context) (id string, key []byte, err error)
	// Key returns the key named id, to open a record sealed with it.
	// A key it does not hold is an error wrapping ErrUnknownKey; any
	// other error (a KMS that does not answer) is passed on as is.
	Key(ctx context.Context, id string) ([]byte, error)
}

// staticKeys is a fixed set of keys. It is immutable.
type staticKeys struct {
	current string
	keys    map[string][]byte
}

// StaticKeys returns a KeyProvider holding keys, by ID, that seals with
// the key named current. Keep older keys in the set while records sealed
// with them may remain. The keys are copied.
func StaticKeys(current string, keys map[string][]byte) (KeyProvider, error) {
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("seal: StaticKeys: the current key %q is not in the set", current)
	}
	k := staticKeys{current: current, keys: make(map[string][]byte, len(keys))}
	for id, key := range keys {
		if err := checkKey(id, key); err != nil {
			return nil, fmt.Errorf("seal: StaticKeys: %w", err)
		}
		k.keys[id] = bytes.Clone(key)
	}
	return k, nil
}

func (k staticKeys) CurrentKey(context.Context) (string, []byte, error) {
	return k.current, k.keys[k.current], nil
}

func (k staticKeys) Key(_ context.Context, id string) ([]byte, error) {
	key, ok := k.keys[id]
	if !ok {
		return nil, ErrUnknownKey
	}
	return key, nil
}

// EnvKeys returns a KeyProvider holding the keys in the environment
// variable name, read once now: comma-separated "ID=base64 key" pairs
// (standard or URL base64, padded or not), the first one current. For
// example TOKEN_KEYS="2025-06=…,2024-12=…" seals with key 2025-06 and
// still opens records sealed with 2024-12. Errors name the variable,
// never its value.
func EnvKeys(name string) (KeyProvider, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return nil, fmt.Errorf("seal: EnvKeys: $%s is not set", name)
	}
	keys := map[string][]byte{}
	var current string
	for i, pair := range strings.Split(v, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(pair), "=")
		key, err := decodeKey(b64)
		if !ok || err != nil {
			return nil, fmt.Errorf("seal: EnvKeys: $%s: entry %d is not ID=base64 key", name, i+1)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("seal: EnvKeys: $%s: key %q appears twice", name, id)
		}
		if i == 0 {
			current = id
		}
		keys[id] = key
	}
	kp, err := StaticKeys(current, keys)
	if err != nil {
		return nil, fmt.Errorf("seal: EnvKeys: $%s: %w", name, errors.Unwrap(err))
	}
	return kp, nil
}

// decodeKey reads a key in any of the four base64 alphabets.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.NewReplacer("-", "+", "_", "/").Replace(s), "=")
	return base64.RawStdEncoding.DecodeString(s)
}

// checkKey reports what is wrong with a key ID or a key.
func checkKey(id string, key []byte) error {
	if !validID(id) {
		return fmt.Errorf("key ID %q: want 1 to 64 letters, digits, '.', '_' or '-'", id)
	}
	if len(key) != KeySize {
		return fmt.Errorf("key %q is %d bytes; want %d", id, len(key), KeySize)
	}
	return nil
}

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// IsSealed reports whether data is a sealed record (well formed or not),
// as opposed to a clear one.
func IsSealed(data []byte) bool { return bytes.HasPrefix(data, []byte(Prefix)) }

// Seal encrypts plaintext with the current key of kp, bound to identity.
func Seal(ctx context.Context, kp KeyProvider, plaintext []byte, identity string) ([]byte, error) {
	id, key, err := kp.CurrentKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("seal: current key: %w", err)
	}
	if err := checkKey(id, key); err != nil {
		return nil, fmt.Errorf("seal: current key: %w", err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	header := Prefix + id + ":"
	sealed := aead.Seal(nil, nil, plaintext, aad(header, identity))
	out := make([]byte, 0, len(header)+base64.RawURLEncoding.EncodedLen(len(sealed)))
	out = append(out, header...)
	return base64.RawURLEncoding.AppendEncode(out, sealed), nil
}

// Open decrypts a record that Seal wrote for identity. A record that is
// malformed, names a key kp does not hold, or does not authenticate is an
// *OpenError; a failure of kp itself is returned as is.
func Open(ctx context.Context, kp KeyProvider, data []byte, identity string) ([]byte, error) {
	rest, ok := bytes.CutPrefix(data, []byte(Prefix))
	if !ok {
		return nil, &OpenError{Err: ErrMalformed}
	}
	id, body, ok := bytes.Cut(rest, []byte(":"))
	if !ok || !validID(string(id)) {
		return nil, &OpenError{Err: ErrMalformed}
	}
	sealed, err := base64.RawURLEncoding.DecodeString(string(body))
	if err != nil {
		return nil, &OpenError{KeyID: string(id), Err: ErrMalformed}
	}
	key, err := kp.Key(ctx, string(id))
	if errors.Is(err, ErrUnknownKey) {
		return nil, &OpenError{KeyID: string(id), Err: ErrUnknownKey}
	}
	if err != nil {
		return nil, fmt.Errorf("seal: key %q: %w", id, err)
	}
	if err := checkKey(string(id), key); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nil, sealed, aad(Prefix+string(id)+":", identity))
	if err != nil {
		return nil, &OpenError{KeyID: string(id), Err: ErrAuthentication}
	}
	return plain, nil
}

// aad is the additional authenticated data: the header, then the
// identity, so that neither can be changed.
func aad(header, identity string) []byte { return []byte(header + identity) }

// newAEAD returns AES-256-GCM with a random 96-bit nonce before each
// ciphertext.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return aead, nil
}
