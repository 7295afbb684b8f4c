package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunWatchHonoursFullRefreshAndStrict: run --watch is the scheduler
// restricted to the named job; --full-refresh makes the job's first run
// load everything again (later runs load only new files) and --strict
// makes quarantined rows exit 3. Before, run --watch dropped both flags.
func TestRunWatchHonoursFullRefreshAndStrict(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nightjar.yaml")
	writeFile(t, cfg, `connections:
  wh: { type: sqlite, path: out/wh.db }
jobs:
  inbox:
    source: { type: files, path: in/*.csv, settle: 50ms, poll: 50ms }
    steps:
      - cast: { n: int }
    on_reject: { max_ratio: 0 }
    targets: [ { type: table, connection: wh, table: t, mode: append } ]
`)
	writeFile(t, filepath.Join(dir, "in", "a.csv"), "id,n\n1,1\n2,x\n")
	if code, out, errOut := nightjar(t, "run", "-c", cfg, "inbox"); code != exitOK || !strings.Contains(out, "read 2, written 1, rejected 1") {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}

	summary := regexp.MustCompile(`(?m)^inbox: run \d+ succeeded: read (\d+),`)
	// watch runs run --watch with flags until the runs' summaries read
	// wantReads, dropping drop after the first, and returns the exit code.
	watch := func(wantReads []string, drop string, flags ...string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout, stderr syncBuffer
		done := make(chan int, 1)
		args := append([]string{"run", "-c", cfg, "--watch", "inbox"}, flags...)
		go func() { done <- run(ctx, args, strings.NewReader(""), &stdout, &stderr) }()
		reads := func() []string {
			var got []string
			for _, m := range summary.FindAllStringSubmatch(stdout.String(), -1) {
				got = append(got, m[1])
			}
			return got
		}
		deadline := time.Now().Add(20 * time.Second)
		dropped := false
		for len(reads()) < len(wantReads) {
			if !dropped && len(reads()) == 1 && drop != "" {
				writeFile(t, filepath.Join(dir, "in", drop), "id,n\n3,3\n")
				dropped = true
			}
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("run --watch %v: runs read %v, want %v\n%s%s", flags, reads(), wantReads, stdout.String(), stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		code := <-done
		if got := reads(); strings.Join(got, " ") != strings.Join(wantReads, " ") {
			t.Errorf("run --watch %v: runs read %v, want %v\n%s%s", flags, got, wantReads, stdout.String(), stderr.String())
		}
		return code, stderr.String()
	}

	// Without the flags: the file is loaded, nothing to read, exit 0.
	if code, errOut := watch([]string{"0"}, ""); code != exitOK {
		t.Errorf("run --watch: exit %d, want %d\n%s", code, exitOK, errOut)
	}
	// --full-refresh: the first run reads a.csv again, the next only b.csv;
	// --strict: its quarantined row makes the exit 3.
	code, errOut := watch([]string{"2", "1"}, "b.csv", "--full-refresh", "--strict")
	if code != exitRejected || !strings.Contains(errOut, "quarantined (--strict)") {
		t.Errorf("run --watch --full-refresh --strict: exit %d, want %d\n%s", code, exitRejected, errOut)
	}
}
