#!/usr/bin/env bash
# Cost per partition of a SQL table split into key ranges (issue 14): a
# PostgreSQL table of ROWS rows (default 100,000; a bigint key with gaps)
# loaded into a PostgreSQL table (append) by `nightjar worker`, the source
# with partition_rows: ROWS (one range: the peer, whose wall per row is the
# per-row cost) and with ROWS/RANGES (default 100 ranges), on 1 and 2
# workers. A run's per-partition overhead is its worker time per partition
# (wall × workers / partitions) less that partition's rows at the peer's
# cost. Wall is the split run's own (ended_at − started_at in the state
# store), the split's own time included.
#   NIGHTJAR_TEST_POSTGRES=postgres://… bench/ranges.sh [ROWS] [RANGES]
set -euo pipefail
cd "$(dirname "$0")/.."
dsn=${NIGHTJAR_TEST_POSTGRES:?set NIGHTJAR_TEST_POSTGRES to a PostgreSQL server to use}
rows=${1:-100000}
ranges=${2:-100}
out=bench/out
work="$out/ranges"
mkdir -p "$work"
go build -o "$out/nightjar" ./cmd/nightjar

. bench/split-run.sh

psql_() { PGOPTIONS="-c client_min_messages=warning" psql "$dsn" -v ON_ERROR_STOP=1 -qAtc "$1"; }
src="nightjar_bench_ranges_src_$$"
psql_ "CREATE TABLE \"$src\" (id bigint PRIMARY KEY, email text NOT NULL, amount bigint NOT NULL, at timestamptz NOT NULL);
INSERT INTO \"$src\" SELECT i * 3 + (i % 2), 'user' || i || '@example.com', i % 1000, timestamptz '2026-01-01' + i * interval '1 s' FROM generate_series(1, $rows) AS i"
psql_ "VACUUM ANALYZE \"$src\""
trap 'psql_ "DROP TABLE IF EXISTS \"$src\""' EXIT

# run NAME WORKERS PARTITION_ROWS: prints "wall_seconds partitions"
run() {
  local name=$1 n=$2 prows=$3
  local schema="nightjar_bench_${name}_$$"
  local dir="$work/$name"
  rm -rf "$dir"; mkdir -p "$dir"
  cat > "$dir/nightjar.yaml" <<YAML
state: { type: postgres, dsn: "\${BENCH_DSN}", schema: $schema }
connections:
  pg: { type: postgres, dsn: "\${BENCH_DSN}" }
jobs:
  copy:
    schedule: "@every 1s"
    source: { type: sql, connection: pg, table: $src, key: id, partition_rows: $prows }
    targets:
      - { type: table, connection: pg, table: $schema, mode: append }
YAML
  split_run "$name" "$schema" "$dir" "$n" "$rows"
}

read -r base _ < <(run one_range 1 "$rows")
split_header
printf '%-28s %8d %10d %10.2f %10.0f %22s\n' "1 worker, 1 range" 1 1 "$base" "$(echo "$rows / $base" | bc -l)" "(peer: per-row cost)"
for n in 1 2; do
  read -r wall parts < <(run "ranges_$n" "$n" $((rows / ranges)))
  split_line "$n worker(s), $((rows / parts)) rows each" "$n" "$parts" "$wall" "$rows" "$base"
done
echo "rows: $rows; per-row cost $(echo "$base / $rows * 1000000" | bc -l | xargs printf '%.2f') µs (1 worker, 1 range); $(nproc) cores"
