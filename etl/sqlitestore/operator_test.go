package sqlitestore_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/sqlitestore"
)

// TestOpenRefusesAnEmptyStore: a state store truncated to 0 bytes used to
// open as a new one, silently, and the next run loaded every source again.
func TestOpenRefusesAnEmptyStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	_, err = sqlitestore.Open(context.Background(), path)
	if !errors.Is(err, sqlitestore.ErrStoreEmpty) || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of a 0-byte store: %v, want ErrStoreEmpty naming %s", err, path)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Errorf("the refused store was written to: %d bytes", fi.Size())
	}
}

// TestOpenRefusesAForeignFile: a file that is not a SQLite database says
// so, and what to do, instead of SQLite's bare "file is not a database".
func TestOpenRefusesAForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("id,name\n1,a\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlitestore.Open(context.Background(), path)
	if !errors.Is(err, sqlitestore.ErrNotAStore) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("open of a CSV as a store: %v, want ErrNotAStore naming %s", err, path)
	}
}

// TestNewStoresAreCreatedWhole: a new store is made aside and linked into
// place, so processes opening it at once share one store and nothing is
// left beside it.
func TestNewStoresAreCreatedWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "state.db")
	var wg sync.WaitGroup
	stores := make([]*sqlitestore.Store, 6)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = sqlitestore.Open(context.Background(), path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	// One store: a migration table each would not agree on the file.
	ctx := context.Background()
	if _, err := stores[0].DB().ExecContext(ctx, `CREATE TABLE "probe" ("x" INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		var n int
		if err := s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'probe'`); err != nil || n != 1 {
			t.Errorf("store %d does not see the table made through store 0 (%d, %v): not one file", i, n, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".new-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestOpenOnAReadOnlyFolder: a state store on a read-only mount was
// reported as "unable to open database file: no such file or directory".
// It says the folder cannot be written, and why. (A read-only bind mount
// needs root; the test skips without it.)
func TestOpenOnAReadOnlyFolder(t *testing.T) {
	src, ro := t.TempDir(), t.TempDir()
	path := filepath.Join(src, "state.db")
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if out, err := exec.Command("mount", "--bind", src, ro).CombinedOutput(); err != nil {
		t.Skipf("a read-only folder needs a bind mount, which this user cannot make: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", ro).Run() })
	if out, err := exec.Command("mount", "-o", "remount,ro,bind", ro).CombinedOutput(); err != nil {
		t.Skipf("remount read-only: %v: %s", err, out)
	}
	_, err = sqlitestore.Open(context.Background(), filepath.Join(ro, "state.db"))
	if err == nil || !strings.Contains(err.Error(), "cannot be written (read-only file system)") {
		t.Fatalf("open on a read-only folder: %v", err)
	}
}

// TestFullDiskSaysSo: a state store whose disk fills said only SQLite's
// "database or disk is full". It names the store and what to do, and the
// commit leaves the last checkpoint as it was. (A small tmpfs needs root;
// the test skips without it.)
func TestFullDiskSaysSo(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("a full disk needs a small tmpfs, which this user cannot mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run, err := s.BeginRun(ctx, "j", "cli", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rejects := make([]etl.Reject, 5000)
	for i := range rejects {
		rejects[i] = etl.Reject{Step: "s", Origin: etl.Origin{File: "in.csv", Line: int64(i + 2)}, Reason: strings.Repeat("r", 200)}
	}
	err = s.Commit(ctx, etl.Commit{RunID: run, Job: "j", Seq: 1, Position: etl.Position(`{"n":1}`), Rejects: rejects, At: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "has no room left (its disk is full)") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("commit on a full disk: %v", err)
	}
	if cp, err := s.Checkpoint(ctx, "j", ""); err != nil || cp.Seq != 0 {
		t.Errorf("checkpoint after the failed commit: %+v, %v; want none", cp, err)
	}
}
