//go:build linux && !duckdb_extensions

package duckdb

import (
	"debug/elf"
	"os"
	"strings"
	"testing"
)

// TestDuckDBSymbolsNotExported: the executable (this test binary, linked
// as nightjar is) exports none of DuckDB's symbols, whose table the
// dynamic loader would read at every start (see link.go).
func TestDuckDBSymbolsNotExported(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	var duck []string
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && strings.Contains(s.Name, "duckdb") {
			duck = append(duck, s.Name)
		}
	}
	if len(duck) > 0 {
		t.Errorf("%d of %d dynamic symbols are DuckDB's (first: %s): the link exports them", len(duck), len(syms), duck[0])
	}
}
