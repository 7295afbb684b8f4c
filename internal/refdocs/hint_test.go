package refdocs

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/jobs/config"
)

// TestUnknownKeyHintUsesTheSpec: validate's hint for a mistyped key of a
// real component names the closest key with the description the
// reference prints, and lists the keys the reference lists.
func TestUnknownKeyHintUsesTheSpec(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nightjar.yaml")
	src := "connections:\n  warehouse: { type: sqlite, path: w.db }\njobs:\n  j:\n    source: { type: files, path: in/*.csv }\n" +
		"    targets:\n      - type: table\n        connection: warehouse\n        tabel: leads\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, _ := etl.LookupTarget("table/sqlite")
	doc, err := spec.Doc()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	desc := ""
	for _, f := range doc.Fields {
		names = append(names, f.Name)
		if f.Name == "table" {
			desc, _, _ = strings.Cut(f.Description, "; ")
		}
	}
	sort.Strings(names)
	want := path + ":9:9: unknown key tabel in jobs.j.targets[0] (did you mean table (" + desc + ")? keys of target table/sqlite: " +
		strings.Join(names, ", ") + ")"
	_, err = config.Load(path)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("validate says:\n%v\nwant a line:\n%s", err, want)
	}
}
