package files_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nightjar-etl/nightjar/connectors/files"
	"github.com/nightjar-etl/nightjar/etl"
)

// TestTargetStaysInItsRoot: sources were confined to root while a file
// target wrote wherever its path led (../../etc/x.csv, a folder linked to
// elsewhere). One rule for both: the config's folder by default, root to
// choose another, an absolute path taken as the choice of its folder.
func TestTargetStaysInItsRoot(t *testing.T) {
	proj := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(proj, "linked")); err != nil {
		t.Fatal(err)
	}
	open := func(cfg files.TargetConfig) error {
		tgt, err := files.NewTarget(cfg, etl.BuildEnv{BaseDir: proj})
		if err != nil {
			return err
		}
		defer tgt.Close()
		return tgt.Open(context.Background(), etl.TargetEnv{Job: "../../x", RunID: 1, RunDate: runDate})
	}
	for _, tc := range []struct {
		path, root string
		refused    bool
	}{
		{path: "out/leads.csv"},
		{path: "../leads.csv", refused: true},
		{path: "out/../../leads.csv", refused: true},
		{path: "out/{{ .Job }}.csv", refused: true}, // the job name expands to ../../x
		{path: "linked/leads.csv", refused: true},
		{path: "../leads.csv", root: ".."},
		{path: filepath.Join(outside, "leads.csv")},
		{path: filepath.Join(outside, "leads.csv"), root: ".", refused: true},
	} {
		err := open(files.TargetConfig{Path: tc.path, Root: tc.root})
		if tc.refused != errors.Is(err, files.ErrOutsideRoot) {
			t.Errorf("path %q, root %q: err = %v, want refused %t", tc.path, tc.root, err, tc.refused)
		}
		if tc.refused && err != nil && !strings.Contains(err.Error(), "outside the root") {
			t.Errorf("path %q: the error does not say why: %v", tc.path, err)
		}
	}
	// Nothing was committed; a refused path never got a temporary file.
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("left outside the project: %v", entries)
	}
}
