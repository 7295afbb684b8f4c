package fsync

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPublish: the file appears whole under its name; a file already
// there stays.
func TestPublish(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if err := Publish(write("tmp1", "first"), path); err != nil {
		t.Fatal(err)
	}
	if err := Publish(write("tmp2", "second"), path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "first" {
		t.Fatalf("%s holds %q, %v; want the first file published", path, b, err)
	}
	if err := Publish(filepath.Join(dir, "missing"), filepath.Join(dir, "other")); err == nil {
		t.Error("publishing a missing file succeeded")
	}
}
