package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxKeySet caps the JWKS document read.
const maxKeySet = 256 << 10

// keySet is the provider's JWKS, fetched on first use and again when a
// token names a kid it lacks. After a refetch, or a failed fetch, the next
// waits minInterval: tokens with made-up kids cannot make it hammer the
// provider. One fetch runs at a time; callers that need it wait for it.
type keySet struct {
	url         string
	client      *http.Client
	minInterval time.Duration
	now         func() time.Time

	mu sync.Mutex // guards keys, loaded, next, flight
	// keys are the usable public keys of the last document.
	keys []jose.JSONWebKey
	// loaded is whether a fetch has succeeded.
	loaded bool
	// next is the earliest time of the next fetch.
	next time.Time
	// flight is closed when the running fetch ends; nil when none runs.
	flight chan struct{}
}

// key returns the key for kid (any single key when kid is empty and the
// set has one), fetching the set when it lacks it and the rate allows.
func (s *keySet) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	// Twice at most: the cached set, then the set after one fetch
	// (ours or the one we waited for).
	for range 2 {
		s.mu.Lock()
		if k := find(s.keys, kid); k != nil {
			s.mu.Unlock()
			return k, nil
		}
		if flight := s.flight; flight != nil {
			s.mu.Unlock()
			select {
			case <-flight:
				continue
			case <-ctx.Done():
				return nil, refuse(ErrKeySet, "", ctx.Err())
			}
		}
		if s.now().Before(s.next) {
			s.mu.Unlock()
			break
		}
		if err := s.refresh(ctx); err != nil {
			return nil, err
		}
	}
	return nil, refuse(ErrUnknownKey, fmt.Sprintf("kid %q", kid), nil)
}

// refresh fetches the set; s.mu is held on entry and released on return.
func (s *keySet) refresh(ctx context.Context) error {
	flight, began := make(chan struct{}), s.now()
	s.flight = flight
	s.mu.Unlock()
	keys, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flight = nil
	close(flight)
	// The first load is free; a refetch or a failure spaces the next
	// fetch, unless the caller gave up, which says nothing of the
	// provider.
	if s.loaded || err != nil && ctx.Err() == nil {
		s.next = began.Add(s.minInterval)
	}
	if err != nil {
		return refuse(ErrKeySet, "", err)
	}
	s.keys, s.loaded = keys, true
	return nil
}

// fetch reads the JWKS document, keeping the public keys this package
// can verify with and skipping the others (an unknown kty, a private or
// symmetric key).
func (s *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySet+1))
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: HTTP %d", s.url, resp.StatusCode)
	case len(body) > maxKeySet:
		return nil, fmt.Errorf("%s: larger than %d bytes", s.url, maxKeySet)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", s.url, err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) == nil && k.Valid() && k.IsPublic() && family(k.Key) != "" {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// find returns the key of keys with kid, or, when kid is empty, the only
// key.
func find(keys []jose.JSONWebKey, kid string) *jose.JSONWebKey {
	if kid == "" {
		if len(keys) == 1 {
			return &keys[0]
		}
		return nil
	}
	for i := range keys {
		if keys[i].KeyID == kid {
			return &keys[i]
		}
	}
	return nil
}

// family is the algorithm family a public key verifies: "RS" (RSA, for
// RS* and PS*), "ES" or "EdDSA"; empty for any other key.
func family(key any) string {
	switch key.(type) {
	case *rsa.PublicKey:
		return "RS"
	case *ecdsa.PublicKey:
		return "ES"
	case ed25519.PublicKey:
		return "EdDSA"
	}
	return ""
}

// algFamily is the family of keys that verify alg: "RS", "ES" or
// "EdDSA"; empty for none, the HMAC algorithms and any unknown one.
func algFamily(alg string) string {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return "RS"
	case "ES256", "ES384", "ES512":
		return "ES"
	case "EdDSA":
		return "EdDSA"
	}
	return ""
}
