package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// Every kind of exported declaration is counted once; unexported names,
// methods of unexported types and test files are not.
func TestCount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.go", `package p

type T struct{}
type G[K any] struct{}
type hidden struct{}

func F()                 {}
func f()                 {}
func (T) M()             {}
func (*T) N()            {}
func (T) m()             {}
func (G[K]) M()          {}
func (hidden) M()        {}

var V, w = 1, 2
const C, D = 1, 2
`)
	write("b_plan9.go", "package p\n\nfunc P() {}\n")
	write("a_test.go", "package p\n\nfunc TestX() {}\n")
	got, err := count(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := counts{types: 2, funcs: 2, methods: 3, vars: 1, consts: 2}
	names := got.names
	got.names = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("count = %+v; want %+v", got, want)
	}
	slices.Sort(names)
	wantNames := []string{"const C", "const D", "func F", "func P", "method G.M", "method T.M", "method T.N", "type G", "type T", "var V"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("names = %q; want %q", names, wantNames)
	}
	if got.total() != 10 {
		t.Errorf("total = %d; want 10", got.total())
	}
}
