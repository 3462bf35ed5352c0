package redisstore

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/seal"
)

// testKeys returns a KeyProvider sealing with the key named current and
// holding the keys named ids too. Key "k<n>" is 32 bytes of n's first byte,
// so two providers agree on a key of the same name.
func testKeys(tb testing.TB, current string, ids ...string) seal.KeyProvider {
	tb.Helper()
	keys := map[string][]byte{}
	for _, id := range append([]string{current}, ids...) {
		keys[id] = bytes.Repeat([]byte{id[len(id)-1]}, seal.KeySize)
	}
	kp, err := seal.StaticKeys(current, keys)
	if err != nil {
		tb.Fatal(err)
	}
	return kp
}

// failingKeys is a KeyProvider whose KMS does not answer.
type failingKeys struct{}

var errKMSDown = errors.New("kms down")

func (failingKeys) CurrentKey(context.Context) (string, []byte, error) { return "", nil, errKMSDown }
func (failingKeys) Key(context.Context, string) ([]byte, error)        { return nil, errKMSDown }

// TestDecodeMismatch covers the stored formats without Redis: every
// mismatch between the value and the Store's Keys is ErrCorruptStore,
// with no secret in the message.
func TestDecodeMismatch(t *testing.T) {
	ctx := context.Background()
	sealed := &Store{key: "tokenkeeper:cred", keys: testKeys(t, "k1")}
	clear := &Store{key: "tokenkeeper:cred"}
	tok := testToken(time.Now())

	sealedData, err := sealed.encode(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	clearData, err := clear.encode(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sealed.decode(ctx, sealedData)
	if err != nil {
		t.Fatal(err)
	}
	sameToken(t, got, tok)

	tests := []struct {
		name  string
		store *Store
		data  []byte
	}{
		{"sealed, read without Keys", clear, sealedData},
		{"clear, read with Keys", sealed, clearData},
		{"sealed, unknown key", &Store{key: "tokenkeeper:cred", keys: testKeys(t, "k2")}, sealedData},
		{"sealed, other Redis key", &Store{key: "tokenkeeper:other", keys: sealed.keys}, sealedData},
		{"sealed, truncated", sealed, sealedData[:len(sealedData)-3]},
		{"old format", sealed, append(bytes.Clone(oldPrefix), "AAAA"...)},
		{"old format, no Keys", clear, append(bytes.Clone(oldPrefix), "AAAA"...)},
		{"garbage", clear, []byte("{not json")},
	}
	for _, tt := range tests {
		got, err := tt.store.decode(ctx, tt.data)
		if got != nil || !errors.Is(err, tokenkeeper.ErrCorruptStore) {
			t.Errorf("%s: decode = %v, %v; want an error wrapping ErrCorruptStore", tt.name, got, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error %q shows a secret", tt.name, err)
		}
	}
}

// TestDecodeOldFormat: a value sealed by redisstore v0.1 is refused with
// ErrOldFormat, with or without Keys, and not mistaken for a clear or a
// current sealed value.
func TestDecodeOldFormat(t *testing.T) {
	ctx := context.Background()
	old := append(bytes.Clone(oldPrefix), bytes.Repeat([]byte{0xa5}, 60)...)
	for _, s := range []*Store{{key: "tokenkeeper:cred"}, {key: "tokenkeeper:cred", keys: testKeys(t, "k1")}} {
		_, err := s.decode(ctx, old)
		if !errors.Is(err, ErrOldFormat) || !errors.Is(err, tokenkeeper.ErrCorruptStore) {
			t.Errorf("decode of a v0.1 value (Keys %t): error %v; want ErrOldFormat and ErrCorruptStore", s.keys != nil, err)
		}
	}
}

// TestKeyProviderFailure: a KMS that does not answer is not a corrupt
// store (the value may be fine), and Save fails rather than store in clear.
func TestKeyProviderFailure(t *testing.T) {
	ctx := context.Background()
	data, err := (&Store{key: "tokenkeeper:cred", keys: testKeys(t, "k1")}).encode(ctx, testToken(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{key: "tokenkeeper:cred", keys: failingKeys{}}
	if _, err := s.decode(ctx, data); !errors.Is(err, errKMSDown) || errors.Is(err, tokenkeeper.ErrCorruptStore) {
		t.Errorf("decode with a failing KeyProvider: error %v; want the provider's error, not ErrCorruptStore", err)
	}
	if got, err := s.encode(ctx, testToken(time.Now())); !errors.Is(err, errKMSDown) || got != nil {
		t.Errorf("encode with a failing KeyProvider = %d bytes, %v; want nothing and the provider's error", len(got), err)
	}
}

// rawValue returns the bytes Redis holds at key.
func rawValue(t *testing.T, c redis.UniversalClient, key string) []byte {
	t.Helper()
	raw, err := c.Get(context.Background(), key).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// saveAndLoad saves want with s and checks that s loads it back.
func saveAndLoad(t *testing.T, s *Store, want *tokenkeeper.Token) {
	t.Helper()
	if err := s.Save(context.Background(), want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sameToken(t, got, want)
}

// checkSealedKey checks that raw is sealed with the key named id and shows
// no part of tok.
func checkSealedKey(t *testing.T, raw []byte, id string, tok *tokenkeeper.Token) {
	t.Helper()
	if header := seal.Prefix + id + ":"; !bytes.HasPrefix(raw, []byte(header)) {
		t.Errorf("the stored value does not start with %q", header)
	}
	for _, secret := range []string{tok.AccessToken, tok.RefreshToken, tok.IDToken, "secret", "access_token", tok.Scope} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("the stored value contains %q", secret)
		}
	}
}

// checkRefused checks that s refuses the stored value with an error
// wrapping ErrCorruptStore and want, showing no secret.
func checkRefused(t *testing.T, name string, s *Store, want error) {
	t.Helper()
	got, err := s.Load(context.Background())
	if got != nil || !errors.Is(err, tokenkeeper.ErrCorruptStore) || want != nil && !errors.Is(err, want) {
		t.Errorf("%s: Load = %v, %v; want nil and an error wrapping ErrCorruptStore and %v", name, got, err, want)
		return
	}
	var oe *seal.OpenError
	if errors.Is(want, seal.ErrAuthentication) || errors.Is(want, seal.ErrUnknownKey) {
		if !errors.As(err, &oe) {
			t.Errorf("%s: error %v is not a *seal.OpenError", name, err)
		}
	}
	if msg := err.Error(); strings.Contains(msg, "secret") {
		t.Errorf("%s: error %q shows a secret", name, msg)
	}
	t.Logf("%s: %v", name, err)
}

// TestEncryptionAtRest: with Keys, Redis holds the token sealed with the
// current key, a fresh nonce each save, and no part of it in clear.
func TestEncryptionAtRest(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	c := rs.client(t)
	s := newStore(t, c, "cred", Options{Keys: testKeys(t, "k1")})
	want := testToken(time.Now())
	saveAndLoad(t, s, want)
	raw := rawValue(t, c, s.Key())
	checkSealedKey(t, raw, "k1", want)

	// Two saves of one token differ: the nonce is random.
	saveAndLoad(t, s, want)
	if raw2 := rawValue(t, c, s.Key()); bytes.Equal(raw, raw2) {
		t.Errorf("two saves of one token stored the same bytes; want a fresh nonce each time")
	}
}

// TestEncryptionRefuses: a stored value that does not open, or does not
// match the Store, is an error wrapping ErrCorruptStore, never a token.
func TestEncryptionRefuses(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	c := rs.client(t)
	ctx := context.Background()
	keys := testKeys(t, "k1")
	s := newStore(t, c, "cred", Options{Keys: keys})
	saveAndLoad(t, s, testToken(time.Now()))
	sameIDOtherKey, err := seal.StaticKeys("k1", map[string][]byte{"k1": bytes.Repeat([]byte{9}, seal.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	checkRefused(t, "wrong key", newStore(t, c, "cred", Options{Keys: sameIDOtherKey}), seal.ErrAuthentication)
	checkRefused(t, "unknown key", newStore(t, c, "cred", Options{Keys: testKeys(t, "k2")}), seal.ErrUnknownKey)
	checkRefused(t, "no Keys", newStore(t, c, "cred", Options{}), nil)

	// A sealed value moved under another key does not open: the Redis key
	// is authenticated with it.
	if err := c.Copy(ctx, s.Key(), "tokenkeeper:other", 0, false).Err(); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, "moved to another key", newStore(t, c, "other", Options{Keys: keys}), seal.ErrAuthentication)
	if err := c.Copy(ctx, s.Key(), "app:cred", 0, false).Err(); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, "moved to another Prefix", newStore(t, c, "cred", Options{Keys: keys, Prefix: "app:"}), seal.ErrAuthentication)

	// A tampered value does not open.
	raw := rawValue(t, c, s.Key())
	i := len(raw) - 10 // a character of the ciphertext, changed for another one of the base64 alphabet
	raw[i] = map[bool]byte{true: 'B', false: 'A'}[raw[i] == 'A']
	if err := c.Set(ctx, s.Key(), raw, 0).Err(); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, "tampered", s, seal.ErrAuthentication)

	// A clear value is refused by a Store with Keys, not trusted.
	clear := newStore(t, c, "clear", Options{})
	if err := clear.Save(ctx, testToken(time.Now())); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, "clear value, Store with Keys", newStore(t, c, "clear", Options{Keys: keys}), nil)
}

// TestKeyRotation: a Store given a new current key still reads values
// sealed with the old one it holds, and seals its next save with the new
// key; a Store that no longer holds the old key refuses what the old one
// sealed.
func TestKeyRotation(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	c := rs.client(t)
	before := newStore(t, c, "cred", Options{Keys: testKeys(t, "k1")})
	after := newStore(t, c, "cred", Options{Keys: testKeys(t, "k2", "k1")})
	newOnly := newStore(t, c, "cred", Options{Keys: testKeys(t, "k2")})

	old := testToken(time.Now())
	saveAndLoad(t, before, old)
	checkRefused(t, "old key, Store without it", newOnly, seal.ErrUnknownKey)
	got, err := after.Load(context.Background())
	if err != nil {
		t.Fatalf("Load of a value sealed with the old key: %v", err)
	}
	sameToken(t, got, old)

	next := testToken(time.Now().Add(time.Minute))
	saveAndLoad(t, after, next)
	checkSealedKey(t, rawValue(t, c, after.Key()), "k2", next)
	got, err = newOnly.Load(context.Background())
	if err != nil {
		t.Fatalf("Load with the new key only: %v", err)
	}
	sameToken(t, got, next)
	checkRefused(t, "new key, Store with the old one only", before, seal.ErrUnknownKey)
}

// TestOldFormatReplaced: a value sealed by redisstore v0.1 is refused with
// ErrOldFormat, and the next Save replaces it with a value in the current
// format.
func TestOldFormatReplaced(t *testing.T) {
	checkLeaks(t)
	rs := startRedis(t)
	c := rs.client(t)
	s := newStore(t, c, "cred", Options{Keys: testKeys(t, "k1")})
	old := append(bytes.Clone(oldPrefix), bytes.Repeat([]byte{0xa5}, 60)...)
	if err := c.Set(context.Background(), s.Key(), old, 0).Err(); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, "v0.1 value", s, ErrOldFormat)
	want := testToken(time.Now())
	saveAndLoad(t, s, want)
	checkSealedKey(t, rawValue(t, c, s.Key()), "k1", want)
}
