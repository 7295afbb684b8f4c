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
  local pids=()
  for _ in $(seq "$n"); do
    BENCH_DSN=$dsn "$out/nightjar" worker -c "$dir/nightjar.yaml" --runs 1 >> "$dir/workers.log" 2>&1 &
    pids+=($!)
  done
  local got=""
  for _ in $(seq 1200); do
    got=$(psql_ "SELECT extract(epoch FROM ended_at - started_at), (SELECT count(*) FROM \"$schema\".partitions p WHERE p.run_id = r.id)
      FROM \"$schema\".runs r WHERE partition = '' AND rows_read > 0 AND status <> 'running'" 2>/dev/null || true)
    [ -n "$got" ] && break
    kill -0 "${pids[@]}" 2>/dev/null || { echo "$name: a worker exited; see $dir/workers.log" >&2; exit 1; }
    sleep 0.5
  done
  kill -TERM "${pids[@]}"; wait "${pids[@]}" || true
  [ -n "$got" ] || { echo "$name: the run did not end; see $dir/workers.log" >&2; exit 1; }
  local loaded
  loaded=$(psql_ "SELECT count(*) FROM \"$schema\"")
  [ "$loaded" = "$rows" ] || { echo "$name: $loaded rows in the table, want $rows" >&2; exit 1; }
  psql_ "DROP TABLE \"$schema\"; DROP SCHEMA \"$schema\" CASCADE"
  echo "$got" | tr '|' ' '
}

read -r base _ < <(run one_range 1 "$rows")
printf '%-28s %8s %10s %10s %10s %22s\n' run workers partitions wall_s rows/s overhead/partition_ms
printf '%-28s %8d %10d %10.2f %10.0f %22s\n' "1 worker, 1 range" 1 1 "$base" "$(echo "$rows / $base" | bc -l)" "(peer: per-row cost)"
for n in 1 2; do
  read -r wall parts < <(run "ranges_$n" "$n" $((rows / ranges)))
  awk -v n="$n" -v wall="$wall" -v parts="$parts" -v rows="$rows" -v base="$base" 'BEGIN {
    perrow = base / rows
    over = (wall * n / parts - (rows / parts) * perrow) * 1000
    printf "%-28s %8d %10d %10.2f %10.0f %22.1f\n", n " worker(s), " rows/parts " rows each", n, parts, wall, rows / wall, over
  }'
done
echo "rows: $rows; per-row cost $(echo "$base / $rows * 1000000" | bc -l | xargs printf '%.2f') µs (1 worker, 1 range); $(nproc) cores"
