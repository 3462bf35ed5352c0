package oauthtest

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzVerifyDPoP feeds arbitrary proofs to the DPoP verifier: it must
// never panic, and never accept a proof without a key that verifies it.
func FuzzVerifyDPoP(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	for _, seed := range []string{
		"", "a.b.c", "..",
		enc([]byte(`{"typ":"dpop+jwt","alg":"none"}`)) + "." + enc([]byte(`{}`)) + ".",
		enc([]byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}`)) + ".e30.AA",
		enc([]byte(`{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"`+strings.Repeat("A", 43)+`"}}`)) + ".e30." + strings.Repeat("A", 86),
		enc([]byte(`{"typ":"dpop+jwt","alg":"RS256","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB","d":"x"}}`)) + ".e30.AA",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		if jkt, c, err := verifyDPoP(proof); err == nil {
			t.Fatalf("accepted %q (jkt %q, claims %+v)", proof, jkt, c)
		}
	})
}

func TestParseJWKRefusesPrivateAndOddKeys(t *testing.T) {
	x := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for _, jwk := range []string{
		`{"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"` + x + `"}`,
		`{"kty":"EC","crv":"P-384","x":"` + x + `","y":"` + x + `"}`,
		`{"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + x + `"}`, // not on the curve
		`{"kty":"RSA","n":"AQAB","e":"AQAB"}`,                        // too short
		`{"kty":"oct","k":"` + x + `"}`,
		`[]`,
	} {
		if _, _, err := parseJWK([]byte(jwk)); err == nil {
			t.Errorf("parseJWK accepted %s", jwk)
		}
	}
}

func TestDPoPRequiredRefusesRequestWithoutProof(t *testing.T) {
	s, err := NewServer(Options{Preset: Auth0, DPoP: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID},
		"client_secret": {DefaultClientSecret}, "audience": {DefaultAudience}}
	resp, err := s.Client().PostForm(s.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400 invalid_dpop_proof", resp.StatusCode)
	}
}
