package redisstore

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

// FuzzDecode feeds stored values, clear and sealed, to the decoder of a
// Store without a Cipher and of one with a Cipher. Whatever the value, it
// must not panic, every failure must wrap tokenkeeper.ErrCorruptStore, and
// a token it accepts must be saved and loaded again unchanged. The input is
// also sealed with the Store's key, so that the decoder behind a valid seal
// is fuzzed too: it must then accept and refuse exactly what the clear
// Store does.
func FuzzDecode(f *testing.F) {
	sealed, clear := fuzzStores(f)
	other, err := NewAESGCM(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		f.Fatal(err)
	}
	tok := testToken(time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC))
	clearData, err := clear.encode(tok)
	if err != nil {
		f.Fatal(err)
	}
	sealedData, err := sealed.encode(tok)
	if err != nil {
		f.Fatal(err)
	}
	otherKeyData, err := (&Store{key: "tokenkeeper:other", cipher: sealed.cipher}).encode(tok)
	if err != nil {
		f.Fatal(err)
	}
	otherCipherData, err := (&Store{key: sealed.key, cipher: other}).encode(tok)
	if err != nil {
		f.Fatal(err)
	}
	withExtras := []byte(`{"version":1,"access_token":"at","refresh_token":"rt","expiry":"2025-01-02T03:04:05+02:00",` +
		`"extra":{"n":1.5,"big":123456789012345678901234567890,"s":"x","a":[1,{"b":null}],"t":true}}`)
	refreshOnly := []byte(`{"version":1,"access_token":"","refresh_token":"rt-only"}`)
	for _, valid := range []struct {
		s    *Store
		data []byte
	}{{clear, clearData}, {sealed, sealedData}, {clear, withExtras}, {clear, refreshOnly}} {
		if _, err := valid.s.decode(valid.data); err != nil {
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
		withExtras,
		refreshOnly,
		// Sealed, but not for this Store.
		otherKeyData,
		otherCipherData,
		// Truncated.
		sealedData[:len(sealedData)-1],
		sealedData[:len(sealedPrefix)+5],
		sealedPrefix,
		sealedPrefix[:len(sealedPrefix)-1],
		clearData[:len(clearData)/2],
		// Tampered.
		flip(sealedData, len(sealedData)-1),
		flip(sealedData, len(sealedPrefix)),
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
		append(bytes.Clone(sealedPrefix), "{}"...),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fromClear := checkDecode(t, clear, data)
		checkDecode(t, sealed, data)

		// The same bytes behind a valid seal: the Cipher is transparent.
		box, err := sealed.cipher.Seal(data, []byte(sealed.key))
		if err != nil {
			t.Fatal(err)
		}
		fromSealed := checkDecode(t, sealed, append(bytes.Clone(sealedPrefix), box...))
		if (fromClear == nil) != (fromSealed == nil) {
			t.Fatalf("clear decode gave %v and sealed decode %v; want both or neither", fromClear != nil, fromSealed != nil)
		}
		if fromClear != nil && !bytes.Equal(mustEncodeToken(t, fromClear), mustEncodeToken(t, fromSealed)) {
			t.Fatalf("the same value decoded clear and sealed gives two tokens")
		}
	})
}

// fuzzStores returns a Store with an AES-GCM Cipher under a fixed test key
// and one without, for the same Redis key. Neither has a Redis client: only
// encode and decode are used.
func fuzzStores(tb testing.TB) (sealed, clear *Store) {
	tb.Helper()
	c, err := NewAESGCM(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return &Store{key: "tokenkeeper:cred", cipher: c}, &Store{key: "tokenkeeper:cred"}
}

// checkDecode decodes data with s and checks the outcome: an error that
// wraps ErrCorruptStore and no token, or a token that s encodes and
// decodes back to the same token. It returns the token, or nil.
func checkDecode(t *testing.T, s *Store, data []byte) *tokenkeeper.Token {
	t.Helper()
	got, err := s.decode(data)
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
	stored, err := s.encode(got)
	if err != nil {
		t.Fatalf("a decoded token cannot be stored again: %v", err)
	}
	again, err := s.decode(stored)
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
