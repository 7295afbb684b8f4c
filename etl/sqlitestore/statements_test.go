package sqlitestore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
	nsql "github.com/nightjar-etl/nightjar/sql"
)

// TestStatementsFile: every statement of sql/statestore/sqlite.sql is one
// the store runs, and the other way round; a broken file is refused with
// the line at fault.
func TestStatementsFile(t *testing.T) {
	t.Parallel()
	if _, err := loadStatements("statestore/sqlite.sql"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ text, want string }{
		{"-- name: A\nSELECT 1\n-- name: A\nSELECT 2\n", "line 3: statement A named twice"},
		{"-- name: A\n-- only a comment\n-- name: B\nSELECT 1\n", "line 1: statement A has no SQL"},
		{"-- name: \nSELECT 1\n", "line 1: a statement without a name"},
	} {
		if _, err := nsql.Named(tc.text); err == nil || err.Error() != tc.want {
			t.Errorf("Named(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
	got, err := nsql.Named("preamble\n-- name: A\n-- why\nSELECT ?;\n\n-- name: B\nDELETE FROM x\n")
	if err != nil || !cmp.Equal(got, map[string]string{"A": "SELECT ?", "B": "DELETE FROM x"}) {
		t.Errorf("Named = %q, %v", got, err)
	}
	if got := repeatValues(`INSERT INTO "t" ("a", "b") VALUES (?, ?) ON CONFLICT DO NOTHING`, 3); got != `INSERT INTO "t" ("a", "b") VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT DO NOTHING` {
		t.Errorf("repeatValues = %s", got)
	}
}

// TestRejectsRoundTripThroughTheStatements searches over counts of rejects
// around the chunk size and over their text (any bytes), committed at once
// or staged first: the quarantine then holds exactly them, newest first, as
// the one-row statement repeated per chunk must store them.
func TestRejectsRoundTripThroughTheStatements(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tries := 0
	rapid.Check(t, func(rt *rapid.T) {
		tries++ // a job of its own each time: rapid runs its cases in turn
		job := fmt.Sprintf("job%d", tries)
		run, err := b.store.BeginRun(b.ctx, job, "manual", t0)
		if err != nil {
			rt.Fatal(err)
		}
		n := rapid.OneOf(rapid.IntRange(0, 3), rapid.IntRange(rejectChunk-2, rejectChunk+2), rapid.IntRange(0, 2*rejectChunk+7)).Draw(rt, "n")
		staged := rapid.Bool().Draw(rt, "staged")
		value := rapid.String()
		rejects := make([]etl.Reject, n)
		want := make([]etl.QuarantineRecord, n)
		for i := range rejects {
			rejects[i] = etl.Reject{Step: "steps[1] cast", Origin: etl.Origin{File: "in.csv", Line: int64(i + 2)},
				Field: "f", Value: value.Draw(rt, "value"), Reason: value.Draw(rt, "reason")}
			want[n-1-i] = etl.QuarantineRecord{Job: job, RunID: run, At: t0, Step: rejects[i].Step,
				Origin: rejects[i].Origin.String(), Field: "f", Value: rejects[i].Value, Reason: rejects[i].Reason}
		}
		c := etl.Commit{RunID: run, Job: job, Seq: 1, Rejects: rejects, At: t0}
		if staged {
			if err := b.store.Stage(b.ctx, c); err != nil {
				rt.Fatal(err)
			}
			c.Rejects, c.Staged = nil, true
		}
		if err := b.store.Commit(b.ctx, c); err != nil {
			rt.Fatal(err)
		}
		got, err := b.store.Quarantined(b.ctx, job, 0)
		if err != nil {
			rt.Fatal(err)
		}
		for i := range got {
			got[i].ID = 0
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			lines := strings.Split(diff, "\n")
			rt.Fatalf("quarantine (-want +got):\n%s", strings.Join(lines[:min(20, len(lines))], "\n"))
		}
	})
}
