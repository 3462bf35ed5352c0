package oidc

import (
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// FuzzParse: any input is parsed or refused with an *Error, without
// panicking, and nothing over MaxTokenBytes is split.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"..",
		"a.b.c",
		"eyJhbGciOiJub25lIn0.e30.",
		"eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0.eyJpc3MiOiJodHRwczovL29wLyJ9.AAAA",
		"eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
		"eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYjY0Il19.e30.AAAA",
		strings.Repeat(".", MaxTokenBytes+1),
	} {
		f.Add(seed)
	}
	algs := []jose.SignatureAlgorithm{jose.ES256, jose.RS256}
	f.Fuzz(func(t *testing.T, raw string) {
		jws, err := parse(raw, algs)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%T is not an *Error", err)
			}
			return
		}
		if len(raw) > MaxTokenBytes || len(jws.Signatures) != 1 {
			t.Fatalf("accepted %d bytes, %d signatures", len(raw), len(jws.Signatures))
		}
	})
}

// FuzzClaims: any payload is accepted only with the issuer, audience and
// times a Verifier asks for.
func FuzzClaims(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"iss":"https://op/","aud":"c","exp":2000000000,"iat":1700000000}`,
		`{"iss":"https://op/","aud":["c","d"],"azp":"c","exp":2e9,"iat":1.7e9,"nonce":"n"}`,
		`{"iss":"https://op/","aud":{"c":1},"exp":"x"}`,
		`{"exp":1e400}`,
		`[]`,
	} {
		f.Add([]byte(seed))
	}
	now := time.Unix(1_800_000_000, 0)
	v, err := NewVerifier(Config{Issuer: "https://op/", ClientID: "c", JWKSURL: "https://op/jwks", Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		id, err := v.check(payload, "")
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("%T is not an *Error", err)
			}
			return
		}
		if id.Issuer != "https://op/" || !id.Expiry.After(now) || id.IssuedAt.After(now.Add(time.Minute)) {
			t.Fatalf("accepted %+v", id)
		}
	})
}
