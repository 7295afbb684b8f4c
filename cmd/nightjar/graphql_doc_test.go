package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGraphQLDocExamplesValidate runs `nightjar validate` on the config
// snippets of docs/graphql.md, with the query file it shows (and the test
// server's schema as the snippet's schema file), and checks that the
// misspelt field the doc shows is reported as it says.
func TestGraphQLDocExamplesValidate(t *testing.T) {
	doc, err := os.ReadFile("../../docs/graphql.md")
	if err != nil {
		t.Fatal(err)
	}
	yamls := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	queries := regexp.MustCompile("(?s)```graphql\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(yamls) != 2 || len(queries) != 1 {
		t.Fatalf("docs/graphql.md has %d yaml and %d graphql blocks; want 2 and 1", len(yamls), len(queries))
	}
	sdl, err := os.ReadFile("../../connectors/graphql/testdata/shop.graphql")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SHOP_TOKEN", "x")
	t.Setenv("SHOPIFY_TOKEN", "y")
	dir := t.TempDir()
	write := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("queries/orders.graphql", queries[0][1])
	write("schema/shop.graphql", sdl)
	validate := func(cfg string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(t.Context(), []string{"validate", "-c", filepath.Join(dir, cfg)}, strings.NewReader(""), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	for i, y := range yamls {
		name := []string{"nightjar.yaml", "shop.yaml"}[i]
		write(name, y[1])
		if code, out := validate(name); code != 0 {
			t.Errorf("%s does not validate (exit %d):\n%s", name, code, out)
		}
	}
	write("queries/orders.graphql", bytes.Replace(queries[0][1], []byte(" name "), []byte(" nmae "), 1))
	code, out := validate("nightjar.yaml")
	want := `jobs.orders.source.query: queries/orders.graphql:3:23: Cannot query field "nmae" on type "Order". Did you mean "name"?`
	if code != 2 || !strings.Contains(out, want) || !strings.Contains(string(doc), want) {
		t.Errorf("exit %d:\n%s\nwant (as the doc shows) %s", code, out, want)
	}
}
