// Package examples_test checks that every program under examples/ can be
// copied out of this repository: into a fresh module that requires
// tokenkeeper, it builds without anything else from here.
package examples_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// copyModule is the module path of the fresh module an example is copied
// into.
const copyModule = "example.com/copied"

// examplePrograms are the programs a user may copy, with their own
// packages (the sdk example has one).
var examplePrograms = []string{"quickstart", "daxium", "transiteo", "auth0", "sdk"}

// TestExamplesBuildAlone copies each program's non-test files into a temp
// module whose go.mod requires tokenkeeper (replaced by this checkout) and
// builds it there.
func TestExamplesBuildAlone(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the copies: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range examplePrograms {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyProgram(t, filepath.Join(root, "examples", name), dir, "github.com/tokenkeeper/tokenkeeper/examples/"+name)
			goMod := "module " + copyModule + "\n\ngo 1.26.0\n\n" +
				"require github.com/tokenkeeper/tokenkeeper v0.0.0\n\n" +
				"replace github.com/tokenkeeper/tokenkeeper => " + root + "\n"
			writeFile(t, filepath.Join(dir, "go.mod"), goMod)
			// The core's checksums cover every module the copy needs.
			writeFile(t, filepath.Join(dir, "go.sum"), string(sum))

			cmd := exec.Command(goTool, "build", "-o", os.DevNull, "./...")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("go build of the copied %s example: %v\n%s", name, err, out.String())
			}
		})
	}
}

// importOfRepo matches an import of a package of this repository's
// examples.
var importOfRepo = regexp.MustCompile(`"github.com/tokenkeeper/tokenkeeper/examples/[^"]*"`)

// copyProgram copies the non-test Go files of the tree at src to dst,
// rewriting imports of the program's own packages (under ownPath) to the
// copy's module. It fails t if a file imports anything else from the
// examples of this repository.
func copyProgram(t *testing.T, src, dst, ownPath string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), `"`+ownPath+`/`, `"`+copyModule+`/`)
		if m := importOfRepo.FindString(text); m != "" {
			t.Errorf("%s imports %s, which a copy does not have", rel, m)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), []byte(text), 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
