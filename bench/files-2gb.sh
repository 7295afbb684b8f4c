#!/usr/bin/env bash
# A ~2 GB CSV of generated leads (default 16M rows) streamed to Parquet, to
# SQLite, and to a CSV file with 10 % of the rows rejected by a validate
# step (quarantined, with their JSON, while the file target holds the
# checkpoint back to the end of the run): wall time and peak RSS of each
# (bench/memtime: also the private part); the target is a peak RSS under 100 MB whatever the input
# size.
#   bench/files-2gb.sh [ROWS]
set -euo pipefail
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
cd "$(dirname "$0")/.."
rows=${1:-16000000}
out=bench/out
mkdir -p "$out"
csv="$out/leads-$rows.csv"
[ -s "$csv" ] || python3 ../shared/bench/gen-leads "$rows" > "$csv"
# A binary of its own (other bench scripts rebuild bench/out/nightjar), or
# the one NIGHTJAR_BIN names.
bin=${NIGHTJAR_BIN:-$out/nightjar-files-2gb}
[ -n "${NIGHTJAR_BIN:-}" ] || go build -o "$bin" ./cmd/nightjar

work="$out/files-2gb"
rm -rf "$work"; mkdir -p "$work/in"
ln "$csv" "$work/in/leads.csv"
cat > "$work/nightjar.yaml" <<YAML
connections:
  warehouse: { type: sqlite, path: out/warehouse.db }
jobs:
  parquet:
    source: { type: files, path: in/leads.csv, settle: 0s }
    targets: [ { type: file, path: out/leads.parquet, compression: zstd } ]
  sqlite:
    source: { type: files, path: in/leads.csv, settle: 0s }
    targets: [ { type: table, connection: warehouse, table: leads, mode: append } ]
  rejects:
    source: { type: files, path: in/leads.csv, settle: 0s }
    steps:
      - cast: { score: int }
      - validate: { score: { max: 89 } }
    targets: [ { type: file, path: out/leads-valid.csv } ]
YAML
printf "%s: %d rows, %.0f MB\n" "$csv" "$rows" "$(($(stat -c %s "$csv") / 1000000))"
for job in ${JOBS:-parquet sqlite rejects}; do
  bench/memtime -o "$work/$job.time" -- "$bin" run -c "$work/nightjar.yaml" "$job" > "$work/$job.out" 2>&1
  read -r wall _ _ rss anon < "$work/$job.time"
  printf "  csv → %-8s wall %6.1f s  peak RSS %.0f MB (target < 100), private %.0f MB\n" "$job" "$wall" "$((rss / 1024))" "$((anon / 1024))"
  grep -h "succeeded\|failed" "$work/$job.out" | sed 's/^/    /'
done
ls -la "$work/out" | sed 's/^/    /'
