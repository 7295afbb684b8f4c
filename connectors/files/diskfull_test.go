package files_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestDiskFullLeavesNothingHalfWritten: a file target whose disk fills
// fails naming the file and why, and leaves neither a partial file nor its
// temporary one; with room again, the same write completes. (A small
// tmpfs needs root; the test skips without it.)
func TestDiskFullLeavesNothingHalfWritten(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("a full disk needs a small tmpfs, which this user cannot mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	rows := make([][]any, 4000)
	for i := range rows {
		rows[i] = []any{fmt.Sprint(i), strings.Repeat("x", 100)}
	}
	write := func() error {
		tgt, err := files.NewTarget(files.TargetConfig{Path: "out/leads.csv"}, etl.BuildEnv{BaseDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer tgt.Close()
		ctx := context.Background()
		if err := tgt.Open(ctx, etl.TargetEnv{Job: "j", RunID: 1, RunDate: runDate}); err != nil {
			return err
		}
		if err := tgt.Write(ctx, stringBatch([]string{"id", "note"}, rows...)); err != nil {
			return err
		}
		return tgt.Commit(ctx)
	}
	err := write()
	if err == nil || !strings.Contains(err.Error(), "out/leads.csv") || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("write on a full disk: %v, want an error naming the file and the full disk", err)
	}
	if got := dirEntries(t, dir+"/out"); len(got) != 0 {
		t.Fatalf("left behind on the full disk: %v", got)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=4m", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	if err := write(); err != nil {
		t.Fatalf("with room again: %v", err)
	}
	data, _ := os.ReadFile(dir + "/out/leads.csv")
	if n := strings.Count(string(data), "\n"); n != len(rows)+1 {
		t.Errorf("the file has %d lines, want %d", n, len(rows)+1)
	}
}
