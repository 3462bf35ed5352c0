package jwtbearer_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"

	"github.com/tokenkeeper/tokenkeeper/jwtbearer"
)

// secretForms returns the private part of key as it could appear in
// printed text: decimal, hex and base64url, and a JWK's "d".
func secretForms(t *testing.T, key crypto.Signer) []string {
	t.Helper()
	var d []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		d = k.D.Bytes()
	case *ecdsa.PrivateKey:
		b, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		d = b
	case ed25519.PrivateKey:
		d = k.Seed()
	default:
		t.Fatalf("unexpected key %T", key)
	}
	return []string{
		new(big.Int).SetBytes(d).String(),
		hex.EncodeToString(d)[:32],
		strings.ToUpper(hex.EncodeToString(d)[:32]),
		base64.RawURLEncoding.EncodeToString(d)[:24],
		base64.StdEncoding.EncodeToString(d)[:24],
		fmt.Sprint(d[:8])[1:20],
	}
}

// TestKeyNeverPrinted prints a Signer, and a copy of it, with every verb,
// as JSON and through slog, and finds no trace of its private key.
func TestKeyNeverPrinted(t *testing.T) {
	t.Parallel()
	for name, key := range map[string]crypto.Signer{"RSA": rsaKey(), "ECDSA": ecKey(), "Ed25519": edKey()} {
		s, err := jwtbearer.New(key, jwtbearer.Config{Issuer: "svc", Audience: "https://auth.example/token", KeyID: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		// The check finds the key where fmt prints it raw.
		if !containsAny(fmt.Sprintf("%+v", key), secretForms(t, key)) {
			t.Fatalf("%s: the check does not find the key printed raw", name)
		}
		var outs []string
		for _, v := range []any{s, *s} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
				outs = append(outs, fmt.Sprintf(verb, v))
			}
			j, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, string(j))
			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("signer", "s", v)
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("signer", "s", v)
			outs = append(outs, buf.String())
		}
		for _, out := range outs {
			if containsAny(out, secretForms(t, key)) {
				t.Errorf("%s: %q shows the private key", name, out)
			}
		}
		if want := `jwtbearer.Signer{alg=`; !strings.HasPrefix(outs[0], want) {
			t.Errorf("%s: %%v = %q; want it to start with %q", name, outs[0], want)
		}
	}
}

// containsAny reports whether s contains one of subs.
func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
