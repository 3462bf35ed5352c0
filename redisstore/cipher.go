package redisstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"github.com/tokenkeeper/tokenkeeper"
)

// Cipher seals tokens before they are stored and opens them when they are
// loaded. additionalData is the Redis key: a sealed value must open only
// with the same additionalData, so that a value copied under another key
// is refused. Seal must not reuse a nonce; Open must authenticate.
// Implementations must be safe for concurrent use. A Cipher can hold
// several keys, opening with any and sealing with the newest, to rotate
// keys.
type Cipher interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(ciphertext, additionalData []byte) ([]byte, error)
}

// NewAESGCM returns a Cipher using AES-GCM with key, which must be 16, 24
// or 32 bytes long (AES-128, -192 or -256). Every Seal draws a random
// 96-bit nonce and puts it before the ciphertext. The key is not retained.
func NewAESGCM(key []byte) (Cipher, error) {
	switch len(key) {
	case 16, 24, 32:
	default:
		return nil, fmt.Errorf("redisstore: NewAESGCM: key is %d bytes; want 16, 24 or 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("redisstore: NewAESGCM: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("redisstore: NewAESGCM: %w", err)
	}
	return aesGCM{aead}, nil
}

type aesGCM struct{ aead cipher.AEAD }

func (c aesGCM) Seal(plaintext, additionalData []byte) ([]byte, error) {
	return c.aead.Seal(nil, nil, plaintext, additionalData), nil
}

func (c aesGCM) Open(ciphertext, additionalData []byte) ([]byte, error) {
	return c.aead.Open(nil, nil, ciphertext, additionalData)
}

// sealedPrefix marks a sealed value, so that a clear value and a sealed
// one are never mistaken for each other.
var sealedPrefix = []byte("tokenkeeper-sealed:v1:")

// encode serializes t, sealed when the Store has a Cipher.
func (s *Store) encode(t *tokenkeeper.Token) ([]byte, error) {
	data, err := tokenkeeper.EncodeToken(t)
	if err != nil || s.cipher == nil {
		return data, err
	}
	sealed, err := s.cipher.Seal(data, []byte(s.key))
	if err != nil {
		return nil, fmt.Errorf("sealing the token: %w", err)
	}
	return append(bytes.Clone(sealedPrefix), sealed...), nil
}

// decode opens and parses a stored value. Every failure wraps
// tokenkeeper.ErrCorruptStore and shows none of the data.
func (s *Store) decode(data []byte) (*tokenkeeper.Token, error) {
	sealed, isSealed := bytes.CutPrefix(data, sealedPrefix)
	switch {
	case isSealed && s.cipher == nil:
		return nil, fmt.Errorf("%w: the stored token is encrypted and the Store has no Cipher", tokenkeeper.ErrCorruptStore)
	case !isSealed && s.cipher != nil:
		return nil, fmt.Errorf("%w: the stored token is not encrypted and the Store has a Cipher", tokenkeeper.ErrCorruptStore)
	case isSealed:
		plain, err := s.cipher.Open(sealed, []byte(s.key))
		if err != nil {
			return nil, fmt.Errorf("%w: cannot decrypt the stored token (wrong key, or a value written under another key): %w",
				tokenkeeper.ErrCorruptStore, err)
		}
		data = plain
	}
	return tokenkeeper.DecodeToken(data)
}
