package redisstore

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenkeeper/tokenkeeper"
)

func TestNewAESGCMKeySizes(t *testing.T) {
	for _, n := range []int{0, 8, 15, 16, 24, 31, 32, 64} {
		_, err := NewAESGCM(make([]byte, n))
		if ok := n == 16 || n == 24 || n == 32; ok != (err == nil) {
			t.Errorf("NewAESGCM with a %d-byte key: error %v; want success %t", n, err, ok)
		}
	}
}

func TestAESGCMSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 16)
	c, err := NewAESGCM(key)
	if err != nil {
		t.Fatal(err)
	}
	key[0] = 2 // the key is not retained
	plain, ad := []byte("rt_refresh-secret"), []byte("tokenkeeper:cred")
	sealed, err := c.Seal(plain, ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatalf("sealed value contains the plaintext")
	}
	again, _ := c.Seal(plain, ad)
	if bytes.Equal(sealed, again) {
		t.Errorf("two seals of one plaintext are equal; want a random nonce each")
	}
	got, err := c.Open(sealed, ad)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v; want %q", got, err, plain)
	}
	if _, err := c.Open(sealed, []byte("tokenkeeper:other")); err == nil {
		t.Errorf("Open with other additional data succeeded")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := c.Open(tampered, ad); err == nil {
		t.Errorf("Open of a tampered value succeeded")
	}
	if _, err := c.Open(sealed[:5], ad); err == nil {
		t.Errorf("Open of a truncated value succeeded")
	}
}

// TestDecodeMismatch covers the stored formats without Redis: every
// mismatch between the value and the Store's Cipher is ErrCorruptStore,
// with no secret in the message.
func TestDecodeMismatch(t *testing.T) {
	c1, _ := NewAESGCM(bytes.Repeat([]byte{1}, 32))
	c2, _ := NewAESGCM(bytes.Repeat([]byte{2}, 32))
	sealed := &Store{key: "tokenkeeper:cred", cipher: c1}
	clear := &Store{key: "tokenkeeper:cred"}
	tok := testToken(time.Now())

	sealedData, err := sealed.encode(tok)
	if err != nil {
		t.Fatal(err)
	}
	clearData, err := clear.encode(tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sealed.decode(sealedData)
	if err != nil {
		t.Fatal(err)
	}
	sameToken(t, got, tok)

	tests := []struct {
		name  string
		store *Store
		data  []byte
	}{
		{"sealed, read without a Cipher", clear, sealedData},
		{"clear, read with a Cipher", sealed, clearData},
		{"sealed, wrong key", &Store{key: "tokenkeeper:cred", cipher: c2}, sealedData},
		{"sealed, other Redis key", &Store{key: "tokenkeeper:other", cipher: c1}, sealedData},
		{"sealed, truncated", sealed, sealedData[:len(sealedData)-3]},
		{"garbage", clear, []byte("{not json")},
	}
	for _, tt := range tests {
		got, err := tt.store.decode(tt.data)
		if got != nil || !errors.Is(err, tokenkeeper.ErrCorruptStore) {
			t.Errorf("%s: decode = %v, %v; want an error wrapping ErrCorruptStore", tt.name, got, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error %q shows a secret", tt.name, err)
		}
	}
}
