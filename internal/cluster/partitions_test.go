package cluster

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"pgregory.net/rapid"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
)

// TestGroupKeepsEachFileOnce: against a plain reference (the files in
// order, cut before a file that would take a group past the limit), Group
// puts every file in exactly one partition, in order, and no partition of
// several files goes past the limit.
func TestGroupKeepsEachFileOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxBytes := rapid.Int64Range(1, 1000).Draw(t, "max")
		sizes := rapid.SliceOf(rapid.Int64Range(0, 1500)).Draw(t, "sizes")
		files := make([]etl.FileDone, len(sizes))
		for i, s := range sizes {
			files[i] = etl.FileDone{Path: fmt.Sprintf("f%03d", i), Size: s}
		}
		groups := Group(files, maxBytes)
		var flat []etl.FileDone
		for _, g := range groups {
			if len(g) == 0 {
				t.Fatalf("an empty partition")
			}
			var size int64
			for _, f := range g {
				size += f.Size
			}
			if len(g) > 1 && size > maxBytes {
				t.Fatalf("partition of %d files holds %d bytes, over %d", len(g), size, maxBytes)
			}
			flat = append(flat, g...)
		}
		if len(flat) != len(files) {
			t.Fatalf("%d files in the partitions, %d given", len(flat), len(files))
		}
		for i := range files {
			if flat[i].Path != files[i].Path {
				t.Fatalf("file %d is %s, want %s", i, flat[i].Path, files[i].Path)
			}
		}
		// The reference: how many partitions cutting greedily gives.
		want, size := 0, int64(0)
		for i, f := range files {
			if i == 0 || size+f.Size > maxBytes {
				want++
				size = 0
			}
			size += f.Size
		}
		if len(groups) != want {
			t.Fatalf("%d partitions, want %d", len(groups), want)
		}
	})
}

// TestGroupClaimsKeepsEachLoadWhole: files, some given back by random
// failed partitions, are grouped so that each file is in exactly one
// partition; the files of one failed partition are one partition that
// continues its load, with no other file; the others are grouped as Group
// groups them (against Group itself, the reference above).
func TestGroupClaimsKeepsEachLoadWhole(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxBytes := rapid.Int64Range(1, 1000).Draw(t, "max")
		n := rapid.IntRange(0, 30).Draw(t, "files")
		files := make([]etl.FileDone, n)
		released := map[string]int64{}
		var fresh []etl.FileDone
		for i := range files {
			files[i] = etl.FileDone{Path: fmt.Sprintf("f%03d", i), SHA256: fmt.Sprintf("sum%03d", i), Size: rapid.Int64Range(0, 1500).Draw(t, "size")}
			if p := rapid.IntRange(0, 3).Draw(t, "failed partition"); p > 0 {
				released[files[i].SHA256] = int64(p)
			} else {
				fresh = append(fresh, files[i])
			}
		}
		groups := GroupClaims(files, released, maxBytes)
		seen := map[string]int{}
		resumed := map[int64]int{}
		var plain [][]etl.FileDone
		for _, g := range groups {
			if len(g.Files) == 0 {
				t.Fatalf("an empty partition")
			}
			for _, f := range g.Files {
				seen[f.Path]++
				if released[f.SHA256] != g.Resumes {
					t.Fatalf("%s (given back by %d) in a partition continuing %d", f.Path, released[f.SHA256], g.Resumes)
				}
			}
			if g.Resumes != 0 {
				resumed[g.Resumes]++
			} else {
				plain = append(plain, g.Files)
			}
		}
		for _, f := range files {
			if seen[f.Path] != 1 {
				t.Fatalf("%s in %d partitions, want 1", f.Path, seen[f.Path])
			}
		}
		for p, k := range resumed {
			if k != 1 {
				t.Fatalf("the load of partition %d continued by %d partitions, want 1", p, k)
			}
		}
		if want := Group(fresh, maxBytes); fmt.Sprint(plain) != fmt.Sprint(want) {
			t.Fatalf("new partitions %v, want %v", plain, want)
		}
	})
}

// TestSweepLost: runs split into partitions whose River jobs meet random
// fates: left queued, completed with their partition, cancelled through
// River's client, deleted, or cancelled while another worker still holds
// the partition's lease. Against a plain reference of those fates, one
// sweep records failed exactly the cancelled and deleted ones without a
// lease, gives their files' claims back (a later claim takes them again,
// continuing the failed partition's load) and keeps the others' claims, ends each run whose partitions all ended
// (failed when one failed), and a second sweep finds nothing.
func TestSweepLost(t *testing.T) {
	t.Parallel()
	st := testStore(t, "nightjar_sweep_")
	schema := st.Schema()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := mrand.New(mrand.NewPCG(uint64(seed), 14))
	ctx := t.Context()
	driver := riverpgxv5.New(st.Pool())
	if err := migrate(ctx, st.Pool(), driver, schema, nil); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(driver, &river.Config{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	o := &PartitionOptions{Store: st}
	fates := []string{"queued", "done", "cancelled", "deleted", "leased"}
	type part struct {
		id, job int64
		fate    string
		file    etl.FileDone
		run     int64
		name    string
	}
	var parts []part
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	for r := range 6 {
		name := fmt.Sprintf("job%d", r)
		n := 1 + rng.IntN(5)
		var mine []part
		_, _, err := st.BeginSplitRun(ctx, name, "schedule", now, func(ctx context.Context, tx pgx.Tx, runID int64) (int, error) {
			for i := range n {
				f := etl.FileDone{Path: fmt.Sprintf("in/%s-%d.csv", name, i), SHA256: fmt.Sprintf("%s-%d", name, i), Size: 10, MTime: now}
				if _, err := st.ClaimFiles(ctx, tx, name, runID, []etl.FileDone{f}, now); err != nil {
					return 0, err
				}
				id, err := st.AddPartition(ctx, tx, name, runID, i+1, []pgstore.PartitionFile{{Path: f.Path, SHA256: f.SHA256, Size: f.Size}}, 0, now)
				if err != nil {
					return 0, err
				}
				res, err := client.InsertTx(ctx, tx, PartitionArgs{Job: name, Run: runID, Partition: id, Number: i + 1, Files: []string{f.Path}}, nil)
				if err != nil {
					return 0, err
				}
				mine = append(mine, part{id: id, job: res.Job.ID, fate: fates[rng.IntN(len(fates))], file: f, run: runID, name: name})
			}
			return n, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range mine {
			switch p.fate {
			case "done":
				tx, err := st.Pool().Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.FinishPartition(ctx, tx, p.id, pgstore.PartitionDone, "", now); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := client.JobDelete(ctx, p.job); err != nil { // completed, then cleaned
					t.Fatal(err)
				}
			case "cancelled", "leased":
				if _, err := client.JobCancel(ctx, p.job); err != nil {
					t.Fatal(err)
				}
				if p.fate == "leased" {
					if err := st.AcquireLease(ctx, p.name+"#"+strconv.FormatInt(p.id, 10), "another-worker", time.Hour, time.Now()); err != nil {
						t.Fatal(err)
					}
				}
			case "deleted":
				if _, err := client.JobDelete(ctx, p.job); err != nil {
					t.Fatal(err)
				}
			}
		}
		parts = append(parts, mine...)
	}
	swept, err := o.sweepLost(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	// The reference.
	wantSwept := 0
	runFailed, runOpen := map[int64]bool{}, map[int64]bool{}
	for _, p := range parts {
		switch p.fate {
		case "cancelled", "deleted":
			wantSwept++
			runFailed[p.run] = true
		case "queued", "leased":
			runOpen[p.run] = true
		}
	}
	if swept != wantSwept {
		t.Errorf("swept %d partitions, want %d", swept, wantSwept)
	}
	for _, p := range parts {
		var status, errText string
		if err := st.Pool().QueryRow(ctx, `SELECT "status", "error" FROM "partitions" WHERE "id" = $1`, p.id).Scan(&status, &errText); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"queued": pgstore.PartitionQueued, "leased": pgstore.PartitionQueued, "done": pgstore.PartitionDone,
			"cancelled": pgstore.PartitionFailed, "deleted": pgstore.PartitionFailed}[p.fate]
		if status != want || (p.fate == "cancelled" || p.fate == "deleted") && !strings.Contains(errText, "River "+p.fate+" its job") {
			t.Errorf("%s partition %d (%s): %s %q, want %s", p.name, p.id, p.fate, status, errText, want)
		}
		// A failed partition's file is given back: a claim takes it again.
		var claimed int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM "files" WHERE "job" = $1 AND "sha256" = $2`, p.name, p.file.SHA256).Scan(&claimed); err != nil {
			t.Fatal(err)
		}
		if wantClaimed := want != pgstore.PartitionFailed; (claimed == 1) != wantClaimed {
			t.Errorf("%s partition %d (%s): its file in the ledger %d times, want claimed %v", p.name, p.id, p.fate, claimed, wantClaimed)
		}
	}
	for _, p := range parts {
		runs, err := st.Runs(ctx, p.name, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got etl.RunStatus
		for _, r := range runs {
			if r.ID == p.run {
				got = r.Status
			}
		}
		want := etl.RunSucceeded
		switch {
		case runOpen[p.run]:
			want = etl.RunRunning
		case runFailed[p.run]:
			want = etl.RunFailed
		}
		if got != want {
			t.Errorf("run %d of %s: %s, want %s", p.run, p.name, got, want)
		}
	}
	// The files given back are remembered as the failed partitions' own,
	// for the partitions that claim them next to continue their loads.
	for _, p := range parts {
		tx, err := st.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		released, err := st.TakeReleased(ctx, tx, p.name, []etl.FileDone{p.file})
		tx.Rollback(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{}
		if p.fate == "cancelled" || p.fate == "deleted" {
			want[p.file.SHA256] = p.id
		}
		if fmt.Sprint(released) != fmt.Sprint(want) {
			t.Errorf("%s partition %d (%s): given back %v, want %v", p.name, p.id, p.fate, released, want)
		}
	}
	if again, err := o.sweepLost(ctx, ""); err != nil || again != 0 {
		t.Errorf("a second sweep: %d partitions, %v; want none", again, err)
	}
}
