package transforms

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nightjar-etl/nightjar/etl"
)

// TestHoldingStepsFlushInBoundedBatches runs each holding step over more
// rows than memory_rows, with a small batch_size: the output comes in
// several batches of at most batch_size rows, holds the same rows as a run
// that neither spills nor splits, and leaves no spill file behind.
func TestHoldingStepsFlushInBoundedBatches(t *testing.T) {
	s := etl.MustSchema(etl.Field{Name: "k", Type: etl.TypeString}, etl.Field{Name: "n", Type: etl.TypeInt})
	// 100 rows, 23 keys, arriving in 10 batches of 10.
	var input [][][]any
	for b := 0; b < 10; b++ {
		var rows [][]any
		for r := 0; r < 10; r++ {
			i := b*10 + r
			rows = append(rows, []any{fmt.Sprintf("k%02d", (i*7)%23), int64(i)})
		}
		input = append(input, rows)
	}
	tests := []struct {
		step     string
		wantRows int
	}{
		{`dedupe: { key: [k], keep: last }`, 23},
		{`sort: { by: [k, -n] }`, 100},
		{`aggregate: { group_by: [k], fields: { total: { sum: n }, ns: { collect: n } } }`, 23},
	}
	for _, tc := range tests {
		t.Run(tc.step[:strings.Index(tc.step, ":")], func(t *testing.T) {
			run := func(extra string) []*etl.Batch {
				dir := t.TempDir()
				src := tc.step[:len(tc.step)-2] + extra + " }"
				step := mustStepIn(t, dir, src)
				for k, rows := range input {
					b := typedBatch(t, s, rows...)
					for i := range b.Origins {
						b.Origins[i].Line = int64(2 + 10*k + i)
					}
					if _, err := apply(t, step, b); err != nil {
						t.Fatal(err)
					}
				}
				batches := flushBatches(t, step)
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Errorf("%s: spill files left: %v", src, left)
				}
				return batches
			}
			whole := run("")
			if len(whole) != 1 || whole[0].Len() != tc.wantRows {
				t.Fatalf("default batch size: %d batches, want 1 of %d rows", len(whole), tc.wantRows)
			}
			chunked := run(", memory_rows: 7, spill_dir: ., batch_size: 5")
			var got [][]any
			var lines []int64
			for k, b := range chunked {
				if b.Len() == 0 || b.Len() > 5 {
					t.Errorf("batch %d has %d rows, want 1 to 5", k, b.Len())
				}
				got = append(got, rowsOf(b)...)
				lines = append(lines, linesOf(b)...)
			}
			if want := (tc.wantRows + 4) / 5; len(chunked) != want {
				t.Errorf("%d batches, want %d", len(chunked), want)
			}
			if diff := cmp.Diff(rowsOf(whole[0]), got); diff != "" {
				t.Errorf("chunked rows (-whole +chunked):\n%s", diff)
			}
			if diff := cmp.Diff(linesOf(whole[0]), lines); diff != "" {
				t.Errorf("origins (-whole +chunked):\n%s", diff)
			}
		})
	}
}

// TestHoldingStepFlushWithoutInput: a holding step that saw no rows
// flushes nothing.
func TestHoldingStepFlushWithoutInput(t *testing.T) {
	for _, src := range []string{`dedupe: { key: [k] }`, `sort: { by: [k] }`, `aggregate: { group_by: [k], fields: { c: { count: "*" } } }`} {
		if got := flushBatches(t, mustStep(t, src)); len(got) != 0 {
			t.Errorf("%s: flushed %d batches, want none", src, len(got))
		}
	}
}

// TestSpillBatchSizeFollowsTheJob: a holding step flushes in the job's
// batch size unless its own batch_size says otherwise.
func TestSpillBatchSizeFollowsTheJob(t *testing.T) {
	for _, tc := range []struct {
		key, job, want int
	}{
		{0, 0, etl.DefaultBatchSize},
		{0, 250, 250},
		{40, 250, 40},
	} {
		got := SpillConfig{BatchSize: tc.key}.resolve(etl.BuildEnv{BatchSize: tc.job}).BatchSize
		if got != tc.want {
			t.Errorf("batch_size %d in a job of %d: flushes %d rows per batch, want %d", tc.key, tc.job, got, tc.want)
		}
	}
}
