package kestrel

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// readmeBlock is a Go code block of README.md marked for checking by an
// HTML comment on the line before its fence:
//
//	<!-- check: build -->    a complete program (package main): built and vetted
//	<!-- check: snippet -->  statements: type-checked and vetted inside a function
//
// Unmarked blocks are not checked, so sections may hold fragments.
type readmeBlock struct {
	line int // of the fence
	kind string
	code string
}

var readmeMark = regexp.MustCompile(`^<!-- check: (build|snippet) -->$`)

func readmeBlocks(t *testing.T, path string) []readmeBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks []readmeBlock
		kind   string // the mark of the line before, if any
		cur    *readmeBlock
		n      int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.code += line + "\n"
		case kind != "" && line == "```go":
			cur = &readmeBlock{line: n, kind: kind}
			kind = ""
		case kind != "":
			t.Fatalf("README.md:%d: a check mark must be followed by a ```go fence, not %q", n-1, line)
		default:
			if m := readmeMark.FindStringSubmatch(line); m != nil {
				kind = m[1]
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil || kind != "" {
		t.Fatal("README.md ends inside a marked block")
	}
	return blocks
}

// readmeImports are the packages a snippet may name without importing.
var readmeImports = map[string]string{
	"accesslog":   "github.com/kestrel-go/kestrel/accesslog",
	"context":     "context",
	"errors":      "errors",
	"fmt":         "fmt",
	"http":        "net/http",
	"kestrel":     "github.com/kestrel-go/kestrel",
	"log":         "log",
	"logging":     "github.com/kestrel-go/kestrel/logging",
	"net":         "net",
	"netip":       "net/netip",
	"os":          "os",
	"slog":        "log/slog",
	"staticfiles": "github.com/kestrel-go/kestrel/staticfiles",
	"time":        "time",
	"tls":         "crypto/tls",
	"websocket":   "github.com/kestrel-go/kestrel/websocket",
}

// readmePrelude declares what snippets use without declaring: the
// variables the README's prose names.
const readmePrelude = `package main

import (
	"net/http"

	"github.com/kestrel-go/kestrel"
)

var (
	mux = http.NewServeMux()
	api http.Handler
	srv = &kestrel.Server{Handler: mux}
	pw  string
)

func main() {}
`

// snippetFile wraps a snippet in a function of package main, with the
// imports it names and a use of each variable it declares.
func snippetFile(name string, code string) (string, error) {
	body := "func " + name + "() {\n" + code + "}\n"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", "package main\n"+body, 0)
	if err != nil {
		return "", err
	}
	fn := f.Decls[0].(*ast.FuncDecl)
	var declared []string
	for _, st := range fn.Body.List {
		switch st := st.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, e := range st.Lhs {
					if id, ok := e.(*ast.Ident); ok && id.Name != "_" {
						declared = append(declared, id.Name)
					}
				}
			}
		case *ast.DeclStmt:
			if g, ok := st.Decl.(*ast.GenDecl); ok && g.Tok == token.VAR {
				for _, s := range g.Specs {
					for _, id := range s.(*ast.ValueSpec).Names {
						if id.Name != "_" {
							declared = append(declared, id.Name)
						}
					}
				}
			}
		}
	}
	var imports []string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && !slices.Contains(declared, id.Name) {
				if p, ok := readmeImports[id.Name]; ok && !slices.Contains(imports, p) {
					imports = append(imports, p)
				}
			}
		}
		return true
	})
	var b strings.Builder
	b.WriteString("package main\n\n")
	for _, p := range imports {
		fmt.Fprintf(&b, "import %q\n", p)
	}
	b.WriteString("\nfunc " + name + "() {\n" + code)
	for _, d := range declared {
		fmt.Fprintf(&b, "\t_ = %s\n", d)
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// TestREADMECodeBlocks builds and vets README.md's Go blocks marked with
// <!-- check: build --> (complete programs, each its own package main) or
// <!-- check: snippet --> (statements, each inside a function), in a
// temporary module that requires this one through a replace directive.
func TestREADMECodeBlocks(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t, filepath.Join(root, "README.md"))
	if len(blocks) == 0 {
		t.Fatal("README.md has no marked Go blocks")
	}
	dir := t.TempDir()
	goMod := "module readmecheck\n\ngo 1.26.0\n\nrequire github.com/kestrel-go/kestrel v0.0.0\n\nreplace github.com/kestrel-go/kestrel => " + root + "\n"
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", goMod)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sum))
	write("snippets/prelude.go", readmePrelude)
	for _, b := range blocks {
		name := fmt.Sprintf("readme_line_%d", b.line)
		switch b.kind {
		case "build":
			if !strings.HasPrefix(b.code, "package main\n") {
				t.Errorf("README.md:%d: a build block must be a complete program starting with package main", b.line)
				continue
			}
			write(name+"/main.go", b.code)
		case "snippet":
			src, err := snippetFile(strings.ReplaceAll(name, "readme_line_", "snippet"), b.code)
			if err != nil {
				t.Errorf("README.md:%d: the snippet does not parse as statements: %v", b.line, err)
				continue
			}
			write("snippets/"+name+".go", src)
		}
	}
	for _, args := range [][]string{{"build", "-o", os.DevNull, "./..."}, {"vet", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// Every module is in the cache after this module's own build.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go %s on README.md's marked blocks (a file readme_line_N is the block whose fence is on line N): %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Logf("checked %d blocks of README.md", len(blocks))
}

// TestREADMELinks checks that every link to "#anchor" in README.md names
// one of its headings, as GitHub makes their anchors.
func TestREADMELinks(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		a := githubAnchor(strings.TrimLeft(line, "# "))
		for n := 1; anchors[a]; n++ {
			a = fmt.Sprintf("%s-%d", githubAnchor(strings.TrimLeft(line, "# ")), n)
		}
		anchors[a] = true
	}
	links := regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(string(data), -1)
	if len(links) == 0 {
		t.Fatal("no #anchor links in README.md")
	}
	for _, m := range links {
		if !anchors[m[1]] {
			t.Errorf("README.md links to #%s, which is no heading's anchor", m[1])
		}
	}
}

// githubAnchor is GitHub's anchor of a heading: lower case, punctuation
// other than '-' and '_' dropped, spaces turned into '-'.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
