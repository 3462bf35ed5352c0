package oauthtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
)

// FuzzVerifyJWS feeds arbitrary assertions to the verifier: it must never
// panic, and never accept a token that is not signed.
func FuzzVerifyJWS(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		"", "a.b.c", "..",
		"eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
		"eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.AAAA",
		"eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0." + strings.Repeat("A", 43),
		"eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYiJdfQ.e30.AAAA",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		var c jwtClaims
		if verifyJWS(token, &key.PublicKey, "", &c) == nil {
			t.Fatalf("accepted a token not signed by the key: %q", token)
		}
		_ = verifyJWS(token, nil, "secret", &c)
	})
}

func TestClientKeyOption(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{
		{Preset: Daxium, ClientKey: key.Public()},
		{Preset: Auth0, ClientKey: key.Public()},
		{Preset: Auth0, ClientKey: "not a key"},
	} {
		if _, err := NewServer(o); err == nil {
			t.Errorf("NewServer(%v with ClientKey %T) = nil error; want one", o.Preset, o.ClientKey)
		}
	}
}
