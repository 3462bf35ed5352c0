package seal

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// FuzzOpen: any record either opens or fails with an *OpenError, never
// a panic, and never opens under another identity.
func FuzzOpen(f *testing.F) {
	ctx := context.Background()
	kp, _ := StaticKeys("k", map[string][]byte{"k": bytes.Repeat([]byte{9}, KeySize)})
	good, _ := Seal(ctx, kp, []byte(`{"version":1,"access_token":"at"}`), "/id")
	for _, seed := range [][]byte{good, []byte(Prefix), []byte(Prefix + "k:"), []byte(Prefix + "k:AAAA"), []byte("{}"), good[:len(good)-1]} {
		f.Add(seed, "/id")
	}
	f.Fuzz(func(t *testing.T, data []byte, identity string) {
		plain, err := Open(ctx, kp, data, identity)
		var oe *OpenError
		if err != nil && !errors.As(err, &oe) {
			t.Fatalf("Open error %v is not an *OpenError", err)
		}
		if err == nil && !bytes.Equal(data, good) && identity != "/id" {
			// Only a record sealed for this identity can open.
			if _, err := Open(ctx, kp, data, identity+"x"); err == nil {
				t.Fatalf("a record opened under two identities: %q", plain)
			}
		}
	})
}

// FuzzSealRoundTrip: what Seal writes opens to the same bytes under the
// same identity only.
func FuzzSealRoundTrip(f *testing.F) {
	ctx := context.Background()
	kp, _ := StaticKeys("k", map[string][]byte{"k": bytes.Repeat([]byte{9}, KeySize)})
	f.Add([]byte("token"), "/a")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, plain []byte, identity string) {
		rec, err := Seal(ctx, kp, plain, identity)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Open(ctx, kp, rec, identity)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("round trip = %q, %v", got, err)
		}
		if _, err := Open(ctx, kp, rec, identity+"/"); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("opened under another identity: %v", err)
		}
	})
}
