package tokenkeeper

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tokenkeeper/tokenkeeper/oauthtest"
	"github.com/tokenkeeper/tokenkeeper/seal"
)

// mtFullToken returns a token with every field set, extras included, as
// decoded from a response.
func mtFullToken(t *testing.T) *Token {
	t.Helper()
	body := `{"access_token":"at-secret","token_type":"bearer","refresh_token":"rt-secret","id_token":"id-secret",` +
		`"scope":"read write","expires_in":3600,"user_id":42,"ratio":0.5,"nested":{"a":[1,"b",null,true]},"flag":false,"nothing":null}`
	tok, err := decodeTokenResponse(200, "application/json", []byte(body), mtT0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mtSameToken reports how a and b differ, or "".
func mtSameToken(a, b *Token) string {
	switch {
	case a.AccessToken != b.AccessToken, a.TokenType != b.TokenType, a.RefreshToken != b.RefreshToken,
		a.IDToken != b.IDToken, a.Scope != b.Scope:
		return "a string field differs"
	case !a.Expiry.Equal(b.Expiry) || a.Expiry.IsZero() != b.Expiry.IsZero():
		return "Expiry differs"
	case !a.IssuedAt.Equal(b.IssuedAt) || a.IssuedAt.IsZero() != b.IssuedAt.IsZero():
		return "IssuedAt differs"
	case !reflect.DeepEqual(a.raw, b.raw):
		return "extras differ"
	case mtKeyOf(a) != mtKeyOf(b):
		return "DPoP keys differ"
	}
	return ""
}

// Acceptance 7: EncodeToken and DecodeToken keep every field, extras
// included.
func TestEncodeDecodeTokenRoundTrip(t *testing.T) {
	for name, tok := range map[string]*Token{
		"full":               mtFullToken(t),
		"refresh token only": {RefreshToken: "rt"},
		"no expiry":          {AccessToken: "at", TokenType: "Bearer"},
		"local times":        {AccessToken: "at", Expiry: mtT0.In(time.FixedZone("X", 3600)), IssuedAt: mtT0.Add(-time.Hour).In(time.FixedZone("Y", -7200))},
		"DPoP key":           {AccessToken: "at", TokenType: "DPoP", RefreshToken: "rt", dpop: mtDPoPKey(t)},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := EncodeToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeToken(data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := mtSameToken(tok, got); diff != "" {
				t.Errorf("round trip: %s\nencoded: %s", diff, data)
			}
			if got.Extra("user_id") != tok.Extra("user_id") {
				t.Errorf("Extra(user_id) = %#v; want %#v", got.Extra("user_id"), tok.Extra("user_id"))
			}
		})
	}
	if _, err := EncodeToken(nil); err == nil {
		t.Error("EncodeToken(nil) succeeded")
	}
	bad := &Token{AccessToken: "a", raw: map[string]any{"c": make(chan int)}}
	if _, err := EncodeToken(bad); err == nil {
		t.Error("EncodeToken of an unencodable extra succeeded")
	}
}

// DecodeToken rejects anything EncodeToken did not write with
// ErrCorruptStore, and never quotes the data.
func TestDecodeTokenCorrupt(t *testing.T) {
	for name, data := range map[string]string{
		"empty":          "",
		"truncated":      `{"version":1,"access_token":"secret-at`,
		"not an object":  `["secret-at"]`,
		"null":           "null",
		"trailing data":  `{"version":1,"access_token":"secret-at"} {"x":1}`,
		"wrong version":  `{"version":2,"access_token":"secret-at"}`,
		"no version":     `{"access_token":"secret-at"}`,
		"bad type":       `{"version":1,"access_token":42}`,
		"bad expiry":     `{"version":1,"access_token":"secret-at","expiry":"tomorrow"}`,
		"html":           "<html>secret-at</html>",
		"binary garbage": "\x00\x01secret-at\xff",
		"bad DPoP key":   `{"version":1,"access_token":"secret-at","dpop_key":"secret+key"}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tok, err := DecodeToken([]byte(data))
			if !errors.Is(err, ErrCorruptStore) || tok != nil {
				t.Fatalf("DecodeToken = %v, %v; want ErrCorruptStore", tok, err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q quotes the data", err)
			}
		})
	}
}

// A token JSON cannot carry is refused, not altered; a record with a time
// EncodeToken could not write back is corrupt.
func TestStoreFormatLimits(t *testing.T) {
	for name, tok := range map[string]*Token{
		"access":      {AccessToken: "at\xff"},
		"refresh":     {AccessToken: "at", RefreshToken: "rt\xfe"},
		"extra value": {AccessToken: "at", raw: map[string]any{"k": []any{map[string]any{"x": "\xff"}}}},
		"extra key":   {AccessToken: "at", raw: map[string]any{"\xff": "v"}},
		"number":      {AccessToken: "at", raw: map[string]any{"n": json.Number("\xff")}},
	} {
		if data, err := EncodeToken(tok); err == nil {
			t.Errorf("%s: EncodeToken = %s; want an error for invalid UTF-8", name, data)
		} else if !utf8.ValidString(err.Error()) {
			t.Errorf("%s: error %q quotes the token", name, err)
		}
	}
	for _, record := range []string{
		`{"version":1,"access_token":"at","expiry":"0000-01-01T00:00:00+01:00"}`,
		`{"version":1,"access_token":"at","issued_at":"9999-12-31T23:00:00-02:00"}`,
	} {
		if tok, err := DecodeToken([]byte(record)); !errors.Is(err, ErrCorruptStore) {
			t.Errorf("DecodeToken(%s) = %v, %v; want ErrCorruptStore", record, tok, err)
		}
	}
	edge := &Token{AccessToken: "at", Expiry: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), IssuedAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}
	data, err := EncodeToken(edge)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := DecodeToken(data); err != nil || mtSameToken(edge, back) != "" {
		t.Errorf("edge years: %v, %v", back, err)
	}
}

// Acceptance 7: memoryStore round trip.
func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	var m memoryStore
	if tok, err := m.Load(ctx); tok != nil || err != nil {
		t.Fatalf("empty Load = %v, %v; want nil, nil", tok, err)
	}
	if err := m.Save(ctx, nil); err == nil {
		t.Error("Save(nil) succeeded")
	}
	tok := mtFullToken(t)
	if err := m.Save(ctx, tok); err != nil {
		t.Fatal(err)
	}
	tok.AccessToken = "changed after Save"
	got, err := m.Load(ctx)
	if err != nil || got.AccessToken != "at-secret" {
		t.Fatalf("Load = %v, %v; want a copy taken at Save", got, err)
	}
	got.RefreshToken = "changed after Load"
	again, _ := m.Load(ctx)
	if diff := mtSameToken(again, mtFullToken(t)); diff != "" {
		t.Errorf("stored token changed: %s", diff)
	}
	// Printing the store shows no secret.
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		if out := fmt.Sprintf(verb, &m); strings.Contains(out, "secret") {
			t.Errorf("Sprintf(%s, store) = %s", verb, out)
		}
	}
	// Safe for concurrent use.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				m.Save(ctx, &Token{AccessToken: "a"})
			} else if _, err := m.Load(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	mtWaitGroup(t, &wg, "store users")
}

// fileStoreRoundTrip checks a FileStore at path, in dir: a missing file
// loads as no token; saved tokens load back whole, in a 0600 file that is
// the only one in dir and holds the versioned JSON record. It returns the
// store and the token saved.
func fileStoreRoundTrip(t *testing.T, dir, path string) (*FileStore, *Token) {
	t.Helper()
	ctx := context.Background()
	fs, err := NewFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := fs.Load(ctx); tok != nil || err != nil {
		t.Fatalf("Load of a missing file = %v, %v; want nil, nil", tok, err)
	}
	// A file left by another tool with a wider mode is replaced with
	// 0600.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	want := mtFullToken(t)
	for range 3 {
		if err := fs.Save(ctx, want); err != nil {
			t.Fatal(err)
		}
	}
	got, err := fs.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := mtSameToken(want, got); diff != "" {
		t.Errorf("round trip: %s", diff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode = %v; want 0600", mode)
	}
	if names := fileNames(dir); len(names) != 1 {
		t.Errorf("directory holds %v; want only token.json, no temporary file", names)
	}
	data, _ := os.ReadFile(path)
	var record map[string]any
	if err := json.Unmarshal(data, &record); err != nil || record["version"] != 1.0 || record["refresh_token"] != "rt-secret" {
		t.Errorf("file content %s; want the versioned JSON record", data)
	}
	return fs, want
}

// fileNames returns the names of the entries of dir.
func fileNames(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Acceptance 7: FileStore round trip, 0600, atomic writes, corrupt and
// missing files.
func TestFileStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	fs, want := fileStoreRoundTrip(t, dir, path)

	if err := fs.Save(ctx, nil); err == nil {
		t.Error("Save(nil) succeeded")
	}

	mtWriteFile(t, path, `{"version":1,`)
	if tok, err := fs.Load(ctx); !errors.Is(err, ErrCorruptStore) || tok != nil {
		t.Errorf("Load of a corrupt file = %v, %v; want ErrCorruptStore", tok, err)
	}

	// A path that became a directory after NewFileStore cannot be read:
	// an error, not "no token".
	sub := filepath.Join(dir, "sub")
	dirStore, err := NewFileStore(sub)
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(sub, 0o700)
	if tok, err := dirStore.Load(ctx); err == nil || tok != nil {
		t.Errorf("Load of a directory = %v, %v; want an error", tok, err)
	}
	// Renaming over a directory fails: the temporary file is removed.
	if err := dirStore.Save(ctx, want); err == nil {
		t.Error("Save over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	// A directory removed after NewFileStore.
	gone := filepath.Join(dir, "gone")
	os.Mkdir(gone, 0o700)
	goneStore, _ := NewFileStore(filepath.Join(gone, "t.json"))
	os.Remove(gone)
	if err := goneStore.Save(ctx, want); err == nil {
		t.Error("Save into a removed directory succeeded")
	}
}

// Concurrent Saves and Loads never see a partial file.
func TestFileStoreAtomicUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := NewFileStore(filepath.Join(dir, "token.json"))
	if err != nil {
		t.Fatal(err)
	}
	fs.Save(ctx, mtFullToken(t))
	// A second FileStore on the same path shares no mutex: only the
	// rename keeps readers from partial files.
	other, _ := NewFileStore(fs.path)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if i%2 == 0 {
					tok := mtFullToken(t)
					tok.AccessToken = strings.Repeat("a", 1000*(i+1))
					if err := fs.Save(ctx, tok); err != nil {
						t.Error(err)
					}
				} else if tok, err := other.Load(ctx); err != nil || tok == nil {
					t.Errorf("Load during writes = %v, %v", tok, err)
				}
			}
		}()
	}
	mtWaitGroup(t, &wg, "writers and readers")
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left; want 1", len(entries))
	}
}

func TestNewFileStoreValidates(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	mtWriteFile(t, file, "x")
	for name, path := range map[string]string{
		"empty":             "",
		"missing directory": filepath.Join(dir, "missing", "t.json"),
		"parent is a file":  filepath.Join(file, "t.json"),
	} {
		if fs, err := NewFileStore(path); err == nil || fs != nil {
			t.Errorf("%s: NewFileStore(%q) = %v, %v; want an error", name, path, fs, err)
		}
	}
	// A path that is a directory, and a directory this process cannot
	// create files in.
	if fs, err := NewFileStore(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("NewFileStore(a directory) = %v, %v; want an error saying it is a directory", fs, err)
	}
	unwritable := mtUnwritableDir(t)
	if fs, err := NewFileStore(filepath.Join(unwritable, "t.json")); err == nil || !strings.Contains(err.Error(), "cannot write in") {
		t.Errorf("NewFileStore(in an unwritable directory) = %v, %v; want an error", fs, err)
	}
	if fs, err := NewFileStore("token.json", FileStoreOptions{}, FileStoreOptions{}); err == nil {
		t.Errorf("two FileStoreOptions: %v, nil; want an error", fs)
	}
	wd, _ := os.Getwd()
	if fs, err := NewFileStore("token.json"); err != nil || fs.path != filepath.Join(wd, "token.json") {
		t.Errorf("a relative path in the working directory: %v, %v; want it made absolute", fs, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files left in the directory; want 1 (the probe is removed)", len(entries))
	}
}

// mtUnwritableDir returns a directory in which this process cannot create
// a file: a 0500 directory, or for root (whom permissions do not stop) a
// directory of a read-only file system.
func mtUnwritableDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		dir := t.TempDir()
		os.Chmod(dir, 0o500)
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		return dir
	}
	if fi, err := os.Stat("/proc/self"); err == nil && fi.IsDir() {
		return "/proc/self"
	}
	t.Skip("no directory is unwritable for root here")
	return ""
}

// mtKeys returns a seal.KeyProvider sealing with current, holding keys
// derived from the given IDs.
func mtKeys(t *testing.T, current string, ids ...string) seal.KeyProvider {
	t.Helper()
	keys := map[string][]byte{}
	for _, id := range append(ids, current) {
		keys[id] = bytes.Repeat([]byte(id[:1]), seal.KeySize)
	}
	kp, err := seal.StaticKeys(current, keys)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// mtSealedStore returns a FileStore at path with keys.
func mtSealedStore(t *testing.T, path string, keys seal.KeyProvider) *FileStore {
	t.Helper()
	fs, err := NewFileStore(path, FileStoreOptions{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// failingKeys is a key provider that does not answer (a KMS down).
type failingKeys struct{}

func (failingKeys) CurrentKey(context.Context) (string, []byte, error) {
	return "", nil, errors.New("kms unreachable")
}

func (failingKeys) Key(context.Context, string) ([]byte, error) {
	return nil, errors.New("kms unreachable")
}

// Encryption at rest: sealed records, key rotation, identity binding, a
// wrong key or a tampered record as a typed error, the clear format read
// and upgraded.
func TestFileStoreSealed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	want := mtFullToken(t)

	// The previous, clear format is read, and sealed by the next Save.
	clear, _ := NewFileStore(path)
	if err := clear.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	v1 := mtSealedStore(t, path, mtKeys(t, "a"))
	if got, err := v1.Load(ctx); err != nil || mtSameToken(want, got) != "" {
		t.Fatalf("Load of a clear record with Keys = %v, %v; want the token", got, err)
	}
	if err := v1.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !bytes.HasPrefix(data, []byte(seal.Prefix+"a:")) || bytes.Contains(data, []byte("rt-secret")) {
		t.Fatalf("file after Save with Keys = %.40q…; want a record sealed with key a, no secret in clear", data)
	}
	if got, err := v1.Load(ctx); err != nil || mtSameToken(want, got) != "" {
		t.Fatalf("sealed round trip = %v, %v", got, err)
	}

	// Rotation: a provider sealing with b still opens a's record, and
	// writes with b.
	v2 := mtSealedStore(t, path, mtKeys(t, "b", "a"))
	if got, err := v2.Load(ctx); err != nil || mtSameToken(want, got) != "" {
		t.Fatalf("Load of a record sealed with the old key = %v, %v", got, err)
	}
	v2.Save(ctx, want)
	if data, _ := os.ReadFile(path); !bytes.HasPrefix(data, []byte(seal.Prefix+"b:")) {
		t.Fatalf("record after rotation names %.30q; want key b", data)
	}
}

// A wrong key, a tampered or moved record is a typed error wrapping
// ErrCorruptStore; a key provider that fails is not.
func TestFileStoreSealedRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	want := mtFullToken(t)
	v1 := mtSealedStore(t, path, mtKeys(t, "a"))
	v2 := mtSealedStore(t, path, mtKeys(t, "b", "a"))
	if err := v2.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	sealed, _ := os.ReadFile(path)
	for name, tc := range map[string]struct {
		store  *FileStore
		record []byte
		why    error
	}{
		"key no longer held": {v1, sealed, seal.ErrUnknownKey},
		"another key set":    {mtSealedStore(t, path, mtKeys(t, "c")), sealed, seal.ErrUnknownKey},
		"tampered":           {v2, mtFlipByte(sealed, len(sealed)-5), seal.ErrAuthentication},
		"key ID changed":     {v2, bytes.Replace(sealed, []byte(":b:"), []byte(":a:"), 1), seal.ErrAuthentication},
		"truncated":          {v2, sealed[:len(seal.Prefix)+4], seal.ErrAuthentication},
		"not base64":         {v2, append(bytes.Clone(sealed), '!'), seal.ErrMalformed},
	} {
		mtWriteFile(t, path, string(tc.record))
		got, err := tc.store.Load(ctx)
		var oe *seal.OpenError
		if got != nil || !errors.As(err, &oe) || !errors.Is(err, tc.why) || !errors.Is(err, ErrCorruptStore) {
			t.Errorf("%s: Load = %v, %v; want a *seal.OpenError wrapping %v and ErrCorruptStore", name, got, err, tc.why)
		}
		if err != nil && strings.Contains(err.Error(), "rt-secret") {
			t.Errorf("%s: the error shows the token", name)
		}
	}
}

// Another key under the same ID, a moved record, a sealed record without
// Keys, and a key provider that fails.
func TestFileStoreSealedKeyFailures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	want := mtFullToken(t)
	clear, _ := NewFileStore(path)
	if err := mtSealedStore(t, path, mtKeys(t, "b")).Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	sealed, _ := os.ReadFile(path)
	// Same key ID, other key material.
	other, _ := seal.StaticKeys("b", map[string][]byte{"b": bytes.Repeat([]byte{7}, seal.KeySize)})
	mtWriteFile(t, path, string(sealed))
	if _, err := mtSealedStore(t, path, other).Load(ctx); !errors.Is(err, seal.ErrAuthentication) {
		t.Errorf("Load with another key under the same ID = %v; want ErrAuthentication", err)
	}

	// A record moved to another path does not open there.
	moved := filepath.Join(dir, "other.json")
	mtWriteFile(t, moved, string(sealed))
	if got, err := mtSealedStore(t, moved, mtKeys(t, "b")).Load(ctx); got != nil || !errors.Is(err, seal.ErrAuthentication) {
		t.Errorf("Load of a record moved from another path = %v, %v; want ErrAuthentication", got, err)
	}
	// A sealed record and no Keys.
	if got, err := clear.Load(ctx); got != nil || !errors.Is(err, ErrCorruptStore) {
		t.Errorf("Load of a sealed record without Keys = %v, %v; want ErrCorruptStore", got, err)
	}
	// A key provider that fails is no corrupt record: nothing is lost.
	down := mtSealedStore(t, path, failingKeys{})
	if _, err := down.Load(ctx); err == nil || errors.Is(err, ErrCorruptStore) {
		t.Errorf("Load with a failing key provider = %v; want an error that is not ErrCorruptStore", err)
	}
	if err := down.Save(ctx, want); err == nil {
		t.Error("Save with a failing key provider succeeded")
	}
}

// mtFlipByte returns b with its i-th byte, a base64 character, changed to
// another one.
func mtFlipByte(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] = 'A'
	if b[i] == 'A' {
		c[i] = 'B'
	}
	return c
}

// Safe files: a symbolic link and a file of another user are refused; a
// file others may read is warned about (log and event) and made 0600 by
// the next save.
func TestFileStoreRefusesUnsafeFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	target := filepath.Join(dir, "target.json")
	mtWriteFile(t, target, `{"version":1,"access_token":"at"}`)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if fs, err := NewFileStore(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("NewFileStore(a symbolic link) = %v, %v; want an error", fs, err)
	}
	// A link put in place after NewFileStore.
	path := filepath.Join(dir, "token.json")
	fs, _ := NewFileStore(path)
	os.Symlink(target, path)
	if tok, err := fs.Load(ctx); tok != nil || err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Load through a symbolic link = %v, %v; want an error", tok, err)
	}
	if err := fs.Save(ctx, mtFullToken(t)); err == nil {
		t.Error("Save over a symbolic link succeeded")
	}
	os.Remove(path)

	// Another user's file (only root can make one).
	if os.Geteuid() == 0 {
		theirs := filepath.Join(dir, "theirs.json")
		mtWriteFile(t, theirs, `{"version":1,"access_token":"at"}`)
		if err := os.Chown(theirs, 65534, 65534); err == nil {
			if fs, err := NewFileStore(theirs); err == nil || !strings.Contains(err.Error(), "another user") {
				t.Errorf("NewFileStore(another user's file) = %v, %v; want an error", fs, err)
			}
		}
	}

}

// Wider permissions: a warning in the log and as an event, once; the next
// save makes the file 0600.
func TestFileStoreWarnsWidePermissions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	var logs syncBuffer
	warned, err := NewFileStore(path, FileStoreOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mtWriteFile(t, path, `{"version":1,"access_token":"at","expiry":"2999-01-01T00:00:00Z"}`)
	os.Chmod(path, 0o644)
	var evs mtEvents
	c := mtClient(t, "http://127.0.0.1:1/token", oauthtest.NewClock(mtT0), nil)
	src := mtSource(t, c, SourceConfig{Store: warned, OnEvent: evs.on})
	if tok, err := src.TokenContext(mtCtx(t)); err != nil || tok.AccessToken != "at" {
		t.Fatalf("Token from a 0644 file = %v, %v; want it served", tok, err)
	}
	warned.Load(ctx) // the same finding is not reported twice
	if n := strings.Count(logs.String(), "too wide"); n != 1 {
		t.Errorf("log = %q; want one warning about the permissions", logs.String())
	}
	var found int
	for _, ev := range evs.all() {
		if ev.Kind == EventStoreFailed && strings.Contains(ev.Err.Error(), "-rw-r--r--") {
			found++
		}
	}
	if found != 1 {
		t.Errorf("events %v; want one EventStoreFailed about the permissions", evs.all())
	}
	warned.Save(ctx, mtFullToken(t))
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after Save = %v; want 0600", fi.Mode().Perm())
	}
}

// The file lock is exclusive between FileStores on one path (as between
// processes), and free again once unlocked.
func TestFileStoreLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	a, _ := NewFileStore(path)
	b, _ := NewFileStore(path)
	if l := leaseOf(a); l != 0 {
		t.Errorf("lease = %v; want 0 (until unlocked)", l)
	}
	unlock, ok, err := a.TryLock(ctx)
	if !ok || err != nil {
		t.Fatalf("TryLock = %v, %v; want the lock", ok, err)
	}
	if _, ok, err := b.TryLock(ctx); ok || err != nil {
		t.Fatalf("second TryLock = %v, %v; want false, nil", ok, err)
	}
	if err := unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := unlock(ctx); err != nil {
		t.Errorf("second unlock = %v; want nil", err)
	}
	unlock, ok, err = b.TryLock(ctx)
	if !ok || err != nil {
		t.Fatalf("TryLock after unlock = %v, %v; want the lock", ok, err)
	}
	unlock(ctx)
	if fi, err := os.Stat(path + ".lock"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v, %v; want 0600", fi, err)
	}
}

// The environment of a child process of TestFileStoreSharedByProcesses.
const (
	mtChildEnv = "TOKENKEEPER_TEST_FILE_CHILD" // the token file's path
	mtURLEnv   = "TOKENKEEPER_TEST_PROVIDER"   // the provider's base URL
	mtKeysEnv  = "TOKENKEEPER_TEST_KEYS"       // the sealing keys
)

// Processes sharing one sealed token file, coordinated by its file lock:
// 4 processes (this test binary, run again) renew the same rotating
// token together 20 times against a provider that detects reuse. Each
// round exactly one of them calls the provider; the others adopt its
// token from the file.
func TestFileStoreSharedByProcesses(t *testing.T) {
	if path := os.Getenv(mtChildEnv); path != "" {
		mtFileChild(t, path)
		return
	}
	const procs, rounds = 4, 20
	srv := mtProvider(t, oauthtest.Options{Preset: oauthtest.Daxium})
	path := filepath.Join(t.TempDir(), "token.json")
	keys := mtChildKeys(t)
	ctx := mtCtx(t)
	c := mtRealDaxium(t, srv.URL())
	first, err := c.Token(ctx, mtDaxiumLogin)
	if err != nil {
		t.Fatal(err)
	}
	if err := mtSealedStore(t, path, keys).Save(ctx, first); err != nil {
		t.Fatal(err)
	}
	srv.ResetStats()

	children := make([]*mtChild, procs)
	for i := range children {
		children[i] = mtStartChild(t, path, srv.URL())
	}
	prev := mtHash(first.AccessToken)
	for i, ch := range children {
		if got := ch.reply(t); got != "ok "+prev {
			t.Fatalf("child %d starts with %q; want the stored token %s", i, got, prev)
		}
	}
	failed := 0
	for round := range rounds {
		next, f := mtRound(t, children, round)
		if next == prev {
			t.Errorf("round %d: the token did not change", round)
		}
		prev, failed = next, failed+f
	}
	for _, ch := range children {
		ch.stop(t)
	}
	st := srv.Stats()
	t.Logf("%d processes × %d rounds: %d token calls, %d reuse, %d logins, %d failed", procs, rounds, st.TokenCallsTotal, st.RefreshReuse, st.Logins, failed)
	if st.TokenCallsTotal != rounds || st.RefreshReuse != 0 || st.Logins != 0 || failed != 0 {
		t.Errorf("token calls %d, reuse %d, logins %d, failed %d; want %d, 0, 0, 0", st.TokenCallsTotal, st.RefreshReuse, st.Logins, failed, rounds)
	}
}

// mtRound asks every child to renew and returns the hash of the token they
// then hold, and how many failed.
func mtRound(t *testing.T, children []*mtChild, round int) (next string, failed int) {
	t.Helper()
	for _, ch := range children {
		ch.send(t, "renew")
	}
	for i, ch := range children {
		got, ok := strings.CutPrefix(ch.reply(t), "ok ")
		switch {
		case !ok:
			failed++
			t.Errorf("round %d, child %d: %s", round, i, got)
		case next == "":
			next = got
		case got != next:
			t.Errorf("round %d: child %d has %s, another %s; want one token", round, i, got, next)
		}
	}
	return next, failed
}

// mtRealDaxium returns a Daxium Air client on real time for the provider
// at base.
func mtRealDaxium(t *testing.T, base string) *Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := DaxiumAir(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	cfg.BaseURL = base
	cfg.HTTPClient = &http.Client{Transport: tr}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mtChildKeys sets the sealing keys for the children and returns them.
func mtChildKeys(t *testing.T) seal.KeyProvider {
	t.Helper()
	t.Setenv(mtKeysEnv, "k1="+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, seal.KeySize)))
	kp, err := seal.EnvKeys(mtKeysEnv)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func mtHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// mtChild is a child process answering one line for each line it reads.
type mtChild struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

func mtStartChild(t *testing.T, path, url string) *mtChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreSharedByProcesses$", "-test.count=1")
	cmd.Env = append(os.Environ(), mtChildEnv+"="+path, mtURLEnv+"="+url)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := &mtChild{cmd: cmd, in: in, lines: make(chan string, 100)}
	go func() {
		defer close(ch.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "child: "); ok {
				ch.lines <- line
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return ch
}

func (c *mtChild) send(t *testing.T, cmd string) {
	t.Helper()
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (c *mtChild) reply(t *testing.T) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			return "the child ended"
		}
		return line
	case <-time.After(mtWait):
		t.Fatalf("no answer from a child in %v", mtWait)
		return ""
	}
}

func (c *mtChild) stop(t *testing.T) {
	t.Helper()
	c.in.Close()
	for range c.lines {
	}
	if err := c.cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
}

// mtFileChild is the child's side: a Source on the shared file, which
// renews its token for each "renew" line it reads and prints a hash of
// the token it then holds.
func mtFileChild(t *testing.T, path string) {
	kp, err := seal.EnvKeys(mtKeysEnv)
	if err != nil {
		t.Fatal(err)
	}
	fs := mtSealedStore(t, path, kp)
	c := mtRealDaxium(t, os.Getenv(mtURLEnv))
	src := mtSource(t, c, SourceConfig{Store: fs})
	ctx := mtCtx(t)
	tok, err := src.TokenContext(ctx)
	mtChildSay(tok, err)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() && tok != nil {
		tok, err = src.Renew(ctx, tok)
		mtChildSay(tok, err)
	}
}

func mtChildSay(tok *Token, err error) {
	if err != nil {
		fmt.Printf("child: error %v\n", err)
		return
	}
	fmt.Printf("child: ok %s\n", mtHash(tok.AccessToken))
}

// TestEmptyTokenIsNoToken: the record of an empty token, which
// Source.Logout saves to clear a Store, reads back as no token, in a file
// and in memory alike.
func TestEmptyTokenIsNoToken(t *testing.T) {
	ctx := context.Background()
	data, err := EncodeToken(&Token{TokenType: "Bearer"})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := DecodeToken(data); tok != nil || err != nil {
		t.Errorf("DecodeToken of an empty token = %v, %v; want nil, nil", tok, err)
	}
	fs, err := NewFileStore(filepath.Join(t.TempDir(), "token.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m memoryStore
	for _, s := range []Store{fs, &m} {
		if err := s.Save(ctx, &Token{}); err != nil {
			t.Fatalf("%T.Save(empty) = %v", s, err)
		}
		if tok, err := s.Load(ctx); tok != nil || err != nil {
			t.Errorf("%T.Load after saving an empty token = %v, %v; want nil, nil", s, tok, err)
		}
	}
}
