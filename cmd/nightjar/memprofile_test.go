package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestMemProfile: the profile is a gzipped pprof file and the summary
// names every memory class, whether or not a collection ran meanwhile.
func TestMemProfile(t *testing.T) {
	for _, gc := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "heap.prof")
		m := startMemProfile(path)
		if gc {
			runtime.GC()
		}
		var out bytes.Buffer
		if err := m.finish(&out); err != nil {
			t.Fatal(err)
		}
		prof, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(prof, []byte{0x1f, 0x8b}) {
			t.Errorf("gc %v: the profile is not gzipped pprof: % x", gc, prof[:min(len(prof), 8)])
		}
		for _, name := range memMetrics {
			if !strings.Contains(out.String(), name) {
				t.Errorf("gc %v: the summary lacks %s:\n%s", gc, name, out.String())
			}
		}
	}
}
