// Command surface prints the size of a Go package's exported API: its
// exported top-level types, functions, variables and constants, and the
// exported methods of its exported types. Test files are not counted; files
// for every platform are.
//
// Usage:
//
//	go run ./internal/surface [-max N] [DIR]
//
// With -max, it exits with status 1 when the total is above N.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
)

// counts holds the exported declarations of one package, by kind.
type counts struct {
	types, funcs, methods, vars, consts int
}

func (c counts) total() int { return c.types + c.funcs + c.methods + c.vars + c.consts }

func main() {
	limit := flag.Int("max", 0, "fail when the total is above this (0: no limit)")
	flag.Parse()
	dir := "."
	if flag.NArg() > 0 {
		dir = flag.Arg(0)
	}
	c, err := count(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "surface:", err)
		os.Exit(2)
	}
	fmt.Printf("types %d funcs %d methods %d vars %d consts %d total %d\n",
		c.types, c.funcs, c.methods, c.vars, c.consts, c.total())
	if *limit > 0 && c.total() > *limit {
		fmt.Fprintf(os.Stderr, "surface: %d exported identifiers and methods; the budget is %d\n", c.total(), *limit)
		os.Exit(1)
	}
}

// count parses the non-test Go files of dir and counts their exported
// declarations.
func count(dir string) (counts, error) {
	var c counts
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return c, err
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return c, err
		}
		for _, d := range f.Decls {
			c.add(d)
		}
	}
	return c, nil
}

// add counts the exported names that one top-level declaration adds.
func (c *counts) add(d ast.Decl) {
	switch d := d.(type) {
	case *ast.FuncDecl:
		switch {
		case !d.Name.IsExported():
		case d.Recv == nil:
			c.funcs++
		case receiverExported(d.Recv.List[0].Type):
			c.methods++
		}
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			switch spec := spec.(type) {
			case *ast.TypeSpec:
				if spec.Name.IsExported() {
					c.types++
				}
			case *ast.ValueSpec:
				for _, n := range spec.Names {
					switch {
					case !n.IsExported():
					case d.Tok == token.CONST:
						c.consts++
					default:
						c.vars++
					}
				}
			}
		}
	}
}

// receiverExported reports whether a receiver type expression (T, *T,
// T[P], *T[P, Q]) names an exported type.
func receiverExported(e ast.Expr) bool {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.Ident:
			return x.IsExported()
		default:
			return false
		}
	}
}
