// Command surface prints the size of a Go package's exported API: its
// exported top-level types, functions, variables and constants, and the
// exported methods of its exported types. Test files are not counted; files
// for every platform are.
//
// Usage:
//
//	go run ./internal/surface [-max N] [-list] [DIR]
//
// With -max, it exits with status 1 when the total is above N. With -list,
// it also prints every name counted, a line each, sorted ("method
// Source.Close", "func New", ...).
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// counts holds the exported declarations of one package, by kind.
type counts struct {
	types, funcs, methods, vars, consts int
	names                               []string // "kind Name", in file order
}

func (c counts) total() int { return c.types + c.funcs + c.methods + c.vars + c.consts }

func main() {
	limit := flag.Int("max", 0, "fail when the total is above this (0: no limit)")
	list := flag.Bool("list", false, "print every name counted")
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
	if *list {
		names := slices.Clone(c.names)
		slices.Sort(names)
		for _, n := range names {
			fmt.Println(n)
		}
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
			c.names = append(c.names, "func "+d.Name.Name)
		default:
			if recv, ok := receiverName(d.Recv.List[0].Type); ok {
				c.methods++
				c.names = append(c.names, "method "+recv+"."+d.Name.Name)
			}
		}
	case *ast.GenDecl:
		for _, spec := range d.Specs {
			switch spec := spec.(type) {
			case *ast.TypeSpec:
				if spec.Name.IsExported() {
					c.types++
					c.names = append(c.names, "type "+spec.Name.Name)
				}
			case *ast.ValueSpec:
				for _, n := range spec.Names {
					switch {
					case !n.IsExported():
					case d.Tok == token.CONST:
						c.consts++
						c.names = append(c.names, "const "+n.Name)
					default:
						c.vars++
						c.names = append(c.names, "var "+n.Name)
					}
				}
			}
		}
	}
}

// receiverName returns the type a receiver type expression (T, *T, T[P],
// *T[P, Q]) names, and whether it is exported.
func receiverName(e ast.Expr) (string, bool) {
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
			return x.Name, x.IsExported()
		default:
			return "", false
		}
	}
}
