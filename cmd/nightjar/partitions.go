package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nightjar-etl/nightjar/etl"
	"github.com/nightjar-etl/nightjar/etl/pgstore"
	"github.com/nightjar-etl/nightjar/internal/cluster"
)

// historyRun is a run as `history --json` prints it: a run a worker split
// into partitions (PostgreSQL state) comes with them.
type historyRun struct {
	etl.Run
	Partitions []pgstore.Partition `json:"partitions,omitempty"`
}

// withPartitions adds their partitions to runs, when st records any.
func withPartitions(ctx context.Context, st etl.Store, runs []etl.Run) ([]historyRun, error) {
	out := make([]historyRun, len(runs))
	pg, ok := st.(*pgstore.Store)
	for i, r := range runs {
		out[i].Run = r
		if !ok {
			continue
		}
		parts, err := pg.Partitions(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		out[i].Partitions = parts
	}
	return out, nil
}

// printPartitions writes a run's partitions under it in history's table:
// each with its files or key range, status, and its runs (one per attempt) summed.
func (a *app) printPartitions(w io.Writer, parts []pgstore.Partition) {
	for _, p := range parts {
		var c etl.Counters
		var attempts []string
		for _, r := range p.Runs {
			c.Read += r.Read
			c.Written += r.Written
			c.Skipped += r.Skipped
			c.Rejected += r.Rejected
			attempts = append(attempts, fmt.Sprintf("run %d %s", r.ID, r.Status))
		}
		took := "-"
		if !p.EndedAt.IsZero() {
			took = p.EndedAt.Sub(p.CreatedAt).Round(time.Millisecond).String()
		}
		note := strings.Join(attempts, ", ")
		if p.Error != "" {
			note = p.Error
		}
		share := fmt.Sprintf("%d file(s)", len(p.Files))
		if p.Range != nil {
			share = "keys " + rangeText(*p.Range)
		}
		fmt.Fprintf(w, "  └ partition %d\t%s\t%d run(s)\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", p.Number, share, len(p.Runs),
			p.Status, formatTime(p.CreatedAt), took, c.Read, c.Written, c.Skipped, c.Rejected, oneLine(a.redact(note), 80))
	}
}

// rangeText is a key range as history shows it: (lo, hi], lo "position" for
// the first range (after the job's position when it was split).
func rangeText(r etl.KeyRange) string {
	lo := r.Lo
	if lo == "" {
		lo = "position"
	}
	return "(" + lo + ", " + r.Hi + "]"
}

// partitionStatus counts job's partitions per worker (PostgreSQL state
// only; none otherwise).
func partitionStatus(ctx context.Context, st etl.Store, job string) ([]cluster.WorkerPartitions, error) {
	pg, ok := st.(*pgstore.Store)
	if !ok {
		return nil, nil
	}
	return cluster.PartitionStatus(ctx, pg.Pool(), job)
}

// printPartitionStatus writes status's table of partitions per worker.
func printPartitionStatus(w io.Writer, job string, ws []cluster.WorkerPartitions) {
	for _, p := range ws {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\n", job, dash(p.Worker), p.Queued, p.Running, p.Retried, p.Done, p.Failed)
	}
}
