// Package cluster runs nightjar's schedules on River
// (github.com/riverqueue/river) over the PostgreSQL state store: each
// `nightjar worker` process is a River client; River's elected leader
// inserts each job's scheduled ticks as River jobs, unique by job and
// scheduled time, and any worker runs them through the same runner as
// `nightjar run`. A tick therefore runs once however many workers there
// are, and the schedule goes on when the leader dies. A tick of a files
// job, or of a SQL table source with partition_rows, splits its input into
// partitions (files, or key ranges) that any worker runs, each from its
// own checkpoint.
//
// It imports etl and jobs; cmd/nightjar wires it.
package cluster
