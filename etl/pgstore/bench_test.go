package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nightjar-etl/nightjar/etl"
)

// benchStore opens a store in a schema of its own, dropped when b ends.
func benchStore(b *testing.B) *Store {
	dsn := os.Getenv("NIGHTJAR_TEST_POSTGRES")
	if dsn == "" {
		b.Skip("NIGHTJAR_TEST_POSTGRES is not set")
	}
	var r [6]byte
	rand.Read(r[:])
	schema := "nightjar_bench_" + hex.EncodeToString(r[:])
	s, err := Open(context.Background(), dsn, schema)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		s.DB().Exec(`DROP SCHEMA ` + pgx.Identifier{schema}.Sanitize() + ` CASCADE`)
		s.Close()
	})
	return s
}

// BenchmarkFingerprints looks up and saves the digests of a batch of 2,000
// records, as a CRM target does per batch.
func BenchmarkFingerprints(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	digests := make(map[string]string, 2000)
	ids := make([]string, 0, 2000)
	for i := range 2000 {
		id := "rec-" + strconv.Itoa(i)
		digests[id], ids = "fp"+strconv.Itoa(i), append(ids, id)
	}
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SaveFingerprints(ctx, "job/t", digests, at); err != nil {
			b.Fatal(err)
		}
		got, err := s.Fingerprints(ctx, "job/t", ids)
		if err != nil || len(got) != len(ids) {
			b.Fatalf("Fingerprints: %d of %d, %v", len(got), len(ids), err)
		}
	}
}

// BenchmarkCommit commits a batch's checkpoint with 100 rejects and a file.
func BenchmarkCommit(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	run, err := s.BeginRun(ctx, "job", "bench", at)
	if err != nil {
		b.Fatal(err)
	}
	rejects := make([]etl.Reject, 100)
	for i := range rejects {
		rejects[i] = etl.Reject{Step: "cast", Origin: etl.Origin{File: "in.csv", Line: int64(i)}, Field: "n", Value: "x", Reason: "not a number"}
	}
	b.ReportAllocs()
	seq := int64(0)
	for b.Loop() {
		seq++
		c := etl.Commit{RunID: run, Job: "job", Position: etl.Position(`{"n":` + strconv.FormatInt(seq, 10) + `}`), Seq: seq,
			Rejects: rejects, Files: []etl.FileDone{{Path: "in.csv", SHA256: "s" + strconv.FormatInt(seq, 10), Rows: 1000}}, At: at}
		if err := s.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}
