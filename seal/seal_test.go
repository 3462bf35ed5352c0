package seal

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func testKeys(t *testing.T) KeyProvider {
	t.Helper()
	kp, err := StaticKeys("k2", map[string][]byte{
		"k1": bytes.Repeat([]byte{1}, KeySize),
		"k2": bytes.Repeat([]byte{2}, KeySize),
	})
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestSealOpen(t *testing.T) {
	ctx := context.Background()
	kp := testKeys(t)
	a, err := Seal(ctx, kp, []byte("secret"), "/a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Seal(ctx, kp, []byte("secret"), "/a")
	if bytes.Equal(a, b) || !IsSealed(a) || !bytes.HasPrefix(a, []byte(Prefix+"k2:")) || bytes.Contains(a, []byte("secret")) {
		t.Errorf("Seal = %q, %q; want two different records sealed with k2", a, b)
	}
	if got, err := Open(ctx, kp, a, "/a"); err != nil || string(got) != "secret" {
		t.Errorf("Open = %q, %v; want the plaintext", got, err)
	}
	var oe *OpenError
	if _, err := Open(ctx, kp, a, "/b"); !errors.As(err, &oe) || oe.KeyID != "k2" || !errors.Is(err, ErrAuthentication) {
		t.Errorf("Open under another identity = %v; want an *OpenError for k2 wrapping ErrAuthentication", err)
	}
	for _, bad := range []string{"", "clear", Prefix, Prefix + "k2", Prefix + "bad id:AAAA", Prefix + "k2:***"} {
		if _, err := Open(ctx, kp, []byte(bad), "/a"); !errors.Is(err, ErrMalformed) {
			t.Errorf("Open(%q) = %v; want ErrMalformed", bad, err)
		}
	}
}

func TestStaticKeysValidates(t *testing.T) {
	good := bytes.Repeat([]byte{1}, KeySize)
	for name, tc := range map[string]struct {
		current string
		keys    map[string][]byte
	}{
		"current missing": {"x", map[string][]byte{"k": good}},
		"short key":       {"k", map[string][]byte{"k": good[:16]}},
		"bad ID":          {"a b", map[string][]byte{"a b": good}},
		"long ID":         {strings.Repeat("k", 65), map[string][]byte{strings.Repeat("k", 65): good}},
	} {
		if _, err := StaticKeys(tc.current, tc.keys); err == nil {
			t.Errorf("%s: StaticKeys succeeded", name)
		}
	}
}

func TestEnvKeys(t *testing.T) {
	ctx := context.Background()
	// 32 bytes of 1s and of 2s, in standard and URL base64.
	one := "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	two := "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI"
	t.Setenv("TK_KEYS", "new="+two+", old="+one)
	kp, err := EnvKeys("TK_KEYS")
	if err != nil {
		t.Fatal(err)
	}
	if id, key, _ := kp.CurrentKey(ctx); id != "new" || key[0] != 2 {
		t.Errorf("CurrentKey = %q; want the first entry", id)
	}
	if key, err := kp.Key(ctx, "old"); err != nil || key[0] != 1 {
		t.Errorf("Key(old) = %v; want the second entry", err)
	}
	if _, err := kp.Key(ctx, "gone"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Key(gone) = %v; want ErrUnknownKey", err)
	}
	for _, bad := range []string{"", "nokey", "k=!!!", "k=" + one + ",k=" + two, "k=AQEB"} {
		t.Setenv("TK_KEYS", bad)
		_, err := EnvKeys("TK_KEYS")
		if err == nil || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Errorf("EnvKeys(%q) = %v; want an error without the value", bad, err)
		}
	}
}
