package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// TestMain removes the binary the process tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// nightjarBinary builds the nightjar binary once for every test that
// starts it as a process (to kill or signal it).
func nightjarBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "nightjar-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "nightjar")
		built.out, built.err = exec.Command("go", "build", "-o", built.bin, ".").CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.bin
}

// writeTwoTargetConfig writes a config loading in/*.csv into an append
// table (out/append.db) and a merge table by id (out/merge.db), the setup
// of the process tests, with extra job keys (a schedule, say).
func writeTwoTargetConfig(t *testing.T, path string, batchSize, commitRows int, extra string) {
	t.Helper()
	writeFile(t, path, fmt.Sprintf(`connections:
  appendwh: { type: sqlite, path: out/append.db }
  mergewh: { type: sqlite, path: out/merge.db }
jobs:
  leads:
%s    batch_size: %d
    source: { type: files, path: in/*.csv, settle: 0s }
    targets:
      - { type: table, connection: appendwh, table: leads, mode: append, commit_rows: %[3]d }
      - { type: table, connection: mergewh, table: leads, mode: merge, key: [id], commit_rows: %[3]d }
`, extra, batchSize, commitRows))
}
