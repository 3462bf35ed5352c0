package tokenkeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
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
		"no token":       `{"version":1,"token_type":"Bearer"}`,
		"bad type":       `{"version":1,"access_token":42}`,
		"bad expiry":     `{"version":1,"access_token":"secret-at","expiry":"tomorrow"}`,
		"html":           "<html>secret-at</html>",
		"binary garbage": "\x00\x01secret-at\xff",
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

// Acceptance 7: MemoryStore round trip.
func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	var m MemoryStore
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

	// A path that cannot be read (a directory) is an error, not "no
	// token".
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o700)
	dirStore, err := NewFileStore(sub)
	if err != nil {
		t.Fatal(err)
	}
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
	if fs, err := NewFileStore("token.json"); err != nil || fs.path != "token.json" {
		t.Errorf("a relative path in the working directory: %v, %v", fs, err)
	}
}
