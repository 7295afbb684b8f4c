package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/nightjar-etl/nightjar/etl"
)

var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
	out  []byte
}

// waitingParallel is this package's default -test.parallel: its parallel
// tests mostly wait (for River's leader election and rescuer, for a
// killed process's next run, for a server), so more of them run at once
// than GOMAXPROCS, go test's default, which on a 2-core CI machine left
// the package the suite's longest by minutes.
const waitingParallel = 6

// TestMain runs up to waitingParallel parallel tests at once unless
// -test.parallel says otherwise, and removes the binary the process tests
// built.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && runtime.GOMAXPROCS(0) < waitingParallel {
		flag.Set("test.parallel", strconv.Itoa(waitingParallel))
	}
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

// envCount is the count the environment variable name sets for a longer
// run by hand (no less than least), or def when it is unset.
func envCount(t *testing.T, name string, def, least int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		t.Fatalf("%s=%q: want a number from %d", name, v, least)
	}
	return n
}

// succeededRuns returns how many of job's runs in st succeeded, and the
// runs.
func succeededRuns(t *testing.T, st etl.Store, job string) (int, []etl.Run) {
	t.Helper()
	runs, err := st.Runs(t.Context(), job, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range runs {
		if r.Status == etl.RunSucceeded {
			n++
		}
	}
	return n, runs
}
