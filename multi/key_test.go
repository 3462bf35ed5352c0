package multi

import (
	"bytes"
	"context"
	"encoding/hex"
	"strings"
	"testing"
)

func TestKeyIDNamesEachField(t *testing.T) {
	keys := keyVariants()
	seen := map[string]int{}
	for i, k := range keys {
		id := k.ID()
		if len(id) != 64 {
			t.Errorf("len(ID) = %d; want 64", len(id))
		}
		if _, err := hex.DecodeString(id); err != nil {
			t.Errorf("ID %q is not hexadecimal", id)
		}
		if strings.Contains(id, k.Subject) || strings.Contains(id, k.Tenant) {
			t.Errorf("ID %q holds a raw field of the key", id)
		}
		if j, ok := seen[id]; ok {
			t.Errorf("keys %d and %d share ID %s", j, i, id)
		}
		seen[id] = i
		if k.ID() != id {
			t.Error("ID is not stable")
		}
	}
}

func TestKeyParams(t *testing.T) {
	if got := (Key{Tenant: "t", Subject: "s"}).Params(); len(got) != 0 {
		t.Errorf("Params of a key without parameters = %v; want none", got)
	}
	if got := (Key{Scope: "read", Audience: "a", Resource: "r"}).Params(); len(got) != 3 {
		t.Errorf("len(Params) = %d; want 3", len(got))
	}
}

func TestWithKey(t *testing.T) {
	if _, ok := KeyFrom(context.Background()); ok {
		t.Error("KeyFrom found a key in an empty context")
	}
	k := Key{Tenant: "t", Subject: "s", Scope: "x"}
	ctx := WithKey(context.Background(), k)
	k.Subject = "changed" // the context holds its own copy
	if got, ok := KeyFrom(ctx); !ok || got.Subject != "s" {
		t.Errorf("KeyFrom = %+v, %v; want subject s", got, ok)
	}
}

// FuzzKeyID checks that two different keys never encode, or hash, alike:
// no two keys can share a credential in a Store.
func FuzzKeyID(f *testing.F) {
	f.Add("a", "bc", "", "", "", "", "ab", "c", "", "", "", "")
	f.Add("", "", "read", "", "", "", "", "", "", "read", "", "")
	f.Add("t\x00", "s", "", "", "", "", "t", "\x00s", "", "", "", "")
	f.Add("\x01a", "", "", "", "", "", "", "\x01a", "", "", "", "")
	f.Add("same", "same", "same", "same", "same", "same", "same", "same", "same", "same", "same", "same")
	f.Fuzz(func(t *testing.T, a1, a2, a3, a4, a5, a6, b1, b2, b3, b4, b5, b6 string) {
		a := Key{Tenant: a1, Subject: a2, Scope: a3, Audience: a4, Resource: a5, ProofKey: a6}
		b := Key{Tenant: b1, Subject: b2, Scope: b3, Audience: b4, Resource: b5, ProofKey: b6}
		sameEnc := bytes.Equal(a.encode(), b.encode())
		sameID := a.ID() == b.ID()
		if (a == b) != sameEnc || (a == b) != sameID {
			t.Errorf("keys equal %v, encodings equal %v, IDs equal %v:\n%+v\n%+v", a == b, sameEnc, sameID, a, b)
		}
	})
}
