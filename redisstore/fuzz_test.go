package redisstore

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/seal"
)

// FuzzDecode feeds stored values, clear and sealed, to the decoder of a
// Store without Keys and of one with Keys. Whatever the value, it
// must not panic, every failure must wrap tokenkeeper.ErrCorruptStore, and
// a token it accepts must be saved and loaded again unchanged. The input is
// also sealed with the Store's current key, so that the decoder behind a valid seal
// is fuzzed too: it must then accept and refuse exactly what the clear
// Store does.
func FuzzDecode(f *testing.F) {
	ctx := context.Background()
	sealed, clear := fuzzStores(f)
	tok := testToken(time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC))
	encode := func(s *Store) []byte {
		data, err := s.encode(ctx, tok)
		if err != nil {
			f.Fatal(err)
		}
		return data
	}
	clearData := encode(clear)
	sealedData := encode(sealed)
	oldKeyData := encode(&Store{key: sealed.key, keys: testKeys(f, "k1")})
	otherKeyData := encode(&Store{key: "tokenkeeper:other", keys: sealed.keys})
	unknownKeyData := encode(&Store{key: sealed.key, keys: testKeys(f, "k3")})
	prefix := []byte(seal.Prefix)
	withExtras := []byte(`{"version":1,"access_token":"at","refresh_token":"rt","expiry":"2025-01-02T03:04:05+02:00",` +
		`"extra":{"n":1.5,"big":123456789012345678901234567890,"s":"x","a":[1,{"b":null}],"t":true}}`)
	refreshOnly := []byte(`{"version":1,"access_token":"","refresh_token":"rt-only"}`)
	for _, valid := range []struct {
		s    *Store
		data []byte
	}{{clear, clearData}, {sealed, sealedData}, {sealed, oldKeyData}, {clear, withExtras}, {clear, refreshOnly}} {
		if _, err := valid.s.decode(ctx, valid.data); err != nil {
			f.Fatalf("a valid seed does not decode: %v", err)
		}
	}
	flip := func(data []byte, i int) []byte {
		data = bytes.Clone(data)
		data[i] ^= 1
		return data
	}
	for _, seed := range [][]byte{
		// Valid values.
		clearData,
		sealedData,
		oldKeyData,
		withExtras,
		refreshOnly,
		// Sealed, but not for this Store.
		otherKeyData,
		unknownKeyData,
		// The format of redisstore v0.1.
		append(bytes.Clone(oldPrefix), bytes.Repeat([]byte{0xa5}, 60)...),
		oldPrefix,
		// Truncated.
		sealedData[:len(sealedData)-1],
		sealedData[:len(prefix)+5],
		prefix,
		prefix[:len(prefix)-1],
		clearData[:len(clearData)/2],
		// Tampered.
		flip(sealedData, len(sealedData)-1),
		flip(sealedData, len(prefix)),
		flip(sealedData, len(prefix)+2),
		flip(sealedData, 3),
		flip(clearData, len(clearData)/2),
		bytes.Replace(clearData, []byte(`"version":1`), []byte(`"version":2`), 1),
		[]byte(`{"version":1,"access_token":"a"} {"version":1}`),
		[]byte(`{"version":1,"access_token":"a","expiry":"0000-01-01T00:00:00+01:00"}`),
		[]byte(`{"version":1,"access_token":"a","issued_at":"not a time"}`),
		[]byte(`{"version":1,"access_token":"a","extra":"not an object"}`),
		// Garbage.
		nil,
		[]byte("null"),
		[]byte("{}"),
		[]byte("[]"),
		[]byte("{not json"),
		[]byte("\xff\xfe\x00"),
		append(bytes.Clone(prefix), "{}"...),
		append(bytes.Clone(prefix), "k2:"...),
		append(bytes.Clone(prefix), "k2:!!!!"...),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fromClear := checkDecode(t, clear, data)
		checkDecode(t, sealed, data)

		// The same bytes behind a valid seal: sealing is transparent.
		box, err := seal.Seal(ctx, sealed.keys, data, sealed.key)
		if err != nil {
			t.Fatal(err)
		}
		fromSealed := checkDecode(t, sealed, box)
		if (fromClear == nil) != (fromSealed == nil) {
			t.Fatalf("clear decode gave %v and sealed decode %v; want both or neither", fromClear != nil, fromSealed != nil)
		}
		if fromClear != nil && !bytes.Equal(mustEncodeToken(t, fromClear), mustEncodeToken(t, fromSealed)) {
			t.Fatalf("the same value decoded clear and sealed gives two tokens")
		}
	})
}

// fuzzStores returns a Store with Keys (sealing with key k2, still holding
// k1) and one without, for the same Redis key. Neither has a Redis client: only
// encode and decode are used.
func fuzzStores(tb testing.TB) (sealed, clear *Store) {
	tb.Helper()
	return &Store{key: "tokenkeeper:cred", keys: testKeys(tb, "k2", "k1")}, &Store{key: "tokenkeeper:cred"}
}

// checkDecode decodes data with s and checks the outcome: an error that
// wraps ErrCorruptStore and no token, or a token that s encodes and
// decodes back to the same token. It returns the token, or nil.
func checkDecode(t *testing.T, s *Store, data []byte) *tokenkeeper.Token {
	t.Helper()
	ctx := context.Background()
	got, err := s.decode(ctx, data)
	if err != nil {
		if !errors.Is(err, tokenkeeper.ErrCorruptStore) {
			t.Fatalf("decode error %q does not wrap ErrCorruptStore", err)
		}
		if got != nil {
			t.Fatalf("decode returned a token along with error %q", err)
		}
		return nil
	}
	if got == nil {
		t.Fatal("decode returned neither a token nor an error")
	}
	stored, err := s.encode(ctx, got)
	if err != nil {
		t.Fatalf("a decoded token cannot be stored again: %v", err)
	}
	again, err := s.decode(ctx, stored)
	if err != nil {
		t.Fatalf("a token stored again does not decode: %v", err)
	}
	if !bytes.Equal(mustEncodeToken(t, got), mustEncodeToken(t, again)) {
		t.Fatal("a decoded token changed through encode and decode")
	}
	return got
}

// mustEncodeToken returns the canonical form of tok, for comparisons.
func mustEncodeToken(t *testing.T, tok *tokenkeeper.Token) []byte {
	t.Helper()
	data, err := tokenkeeper.EncodeToken(tok)
	if err != nil {
		t.Fatalf("EncodeToken: %v", err)
	}
	return data
}
