#!/usr/bin/env bash
# Throughput of one files job split into partitions (issue 14), with 1, 2
# and 4 `nightjar worker` processes on the same files: FILES CSV files of
# generated leads (default 200 of 1000 rows, 26 MB) loaded into a PostgreSQL table
# (append), one file per partition. The peer is the same job on one worker
# as one partition (every file in it): its wall per row is the per-row cost,
# and a run's per-partition overhead is its worker time per partition
# (wall × workers / partitions) less that partition's rows at that cost.
# Wall is the split run's own (ended_at − started_at in the state store):
# worker start-up and the wait for the first tick are not in it.
#   NIGHTJAR_TEST_POSTGRES=postgres://… bench/workers.sh [FILES] [ROWS_PER_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
dsn=${NIGHTJAR_TEST_POSTGRES:?set NIGHTJAR_TEST_POSTGRES to a PostgreSQL server to use}
files=${1:-200}
per=${2:-1000}
out=bench/out
work="$out/workers"
mkdir -p "$out"
go build -o "$out/nightjar" ./cmd/nightjar

# The files, once: header repeated, records whole (notes hold newlines).
src="$work/src-$files-$per"
if [ ! -d "$src" ]; then
  mkdir -p "$src"
  python3 ../shared/bench/gen-leads $((files * per)) | python3 -c '
import csv, sys
files, per, dst = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = csv.reader(sys.stdin)
header = next(r)
for f in range(files):
    with open(f"{dst}/leads-{f:04d}.csv", "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(header)
        for _ in range(per):
            w.writerow(next(r))
' "$files" "$per" "$src"
fi
rows=$((files * per))

. bench/split-run.sh

psql_() { psql "$dsn" -v ON_ERROR_STOP=1 -qAtc "$1"; }

# run NAME WORKERS PARTITION_SIZE: prints "wall_seconds partitions"
run() {
  local name=$1 n=$2 size=$3
  local schema="nightjar_bench_${name}_$$"
  local dir="$work/$name"
  rm -rf "$dir"; mkdir -p "$dir/in"
  cp "$src"/*.csv "$dir/in/"
  cat > "$dir/nightjar.yaml" <<YAML
state: { type: postgres, dsn: "\${BENCH_DSN}", schema: $schema }
connections:
  pg: { type: postgres, dsn: "\${BENCH_DSN}" }
jobs:
  leads:
    schedule: "@every 1s"
    source: { type: files, path: in/*.csv, settle: 0s, archive: done }
    targets:
      - { type: table, connection: pg, table: $schema, mode: append }
YAML
  split_run "$name" "$schema" "$dir" "$n" "$rows" --partition-size "$size"
}

read -r base _ < <(run one_partition 1 1GiB)
split_header
printf '%-28s %8d %10d %10.2f %10.0f %22s\n' "1 worker, 1 partition" 1 1 "$base" "$(echo "$rows / $base" | bc -l)" "(peer: per-row cost)"
for n in 1 2 4; do
  read -r wall parts < <(run "workers_$n" "$n" 1B)
  split_line "$n worker(s), 1 file each" "$n" "$parts" "$wall" "$rows" "$base"
done
echo "rows: $rows in $files files; per-row cost $(echo "$base / $rows * 1000000" | bc -l | xargs printf '%.2f') µs (1 worker, 1 partition); $(nproc) cores"
