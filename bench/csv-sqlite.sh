#!/usr/bin/env bash
# CSV → SQLite append of N generated leads (default 1M): nightjar against
# the sqlite3 shell's .import on the same file in the same run, as a ratio
# of wall times (lower is better; ≤ 1.0 means nightjar is as fast).
# Also reports both peak RSS figures, and the private part (bench/memtime).
#   bench/csv-sqlite.sh [ROWS]
set -euo pipefail
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
cd "$(dirname "$0")/.."
rows=${1:-1000000}
out=bench/out
mkdir -p "$out"
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null

csv="$out/leads-$rows.csv"
[ -s "$csv" ] || python3 ../shared/bench/gen-leads "$rows" > "$csv"
size=$(stat -c %s "$csv")
go build -o "$out/nightjar" ./cmd/nightjar

# nightjar: a config loading the CSV into a fresh SQLite table.
work="$out/csv-sqlite"
rm -rf "$work"; mkdir -p "$work"
ln "$csv" "$work/leads.csv"  # a hard link: the source refuses paths outside its folder
cat > "$work/nightjar.yaml" <<YAML
connections:
  warehouse: { type: sqlite, path: warehouse.db }
jobs:
  leads:
    source: { type: files, path: leads.csv }
    targets:
      - { type: table, connection: warehouse, table: leads, mode: append }
YAML

now() { date +%s.%N; }
t0=$(now)
bench/memtime -o "$out/sqlite3.mem" -- sqlite3 "$work/peer.db" ".import --csv $csv leads"
t1=$(now)
bench/memtime -o "$out/nightjar.mem" -- "$out/nightjar" run -c "$work/nightjar.yaml" leads > "$out/nightjar.log"
t2=$(now)

peer_rows=$(sqlite3 "$work/peer.db" 'select count(*) from leads')
our_rows=$(sqlite3 "$work/warehouse.db" 'select count(*) from leads')
[ "$peer_rows" = "$rows" ] && [ "$our_rows" = "$rows" ] || { echo "row counts differ: sqlite3 $peer_rows, nightjar $our_rows, want $rows" >&2; exit 1; }

awk -v a="$t0" -v b="$t1" -v c="$t2" -v size="$size" -v rows="$rows" \
    -v pmem="$(cat "$out/sqlite3.mem")" -v nmem="$(cat "$out/nightjar.mem")" 'BEGIN {
  peer = b - a; ours = c - b; split(pmem, p, " "); split(nmem, n, " ")
  printf "csv→sqlite append, %d rows, %.0f MB\n", rows, size / 1e6
  printf "  sqlite3 .import  %6.2fs  %6.0f MB/s  peak RSS %4.0f MB (private %3.0f MB)\n", peer, size / 1e6 / peer, p[4] / 1024, p[5] / 1024
  printf "  nightjar run     %6.2fs  %6.0f MB/s  peak RSS %4.0f MB (private %3.0f MB)\n", ours, size / 1e6 / ours, n[4] / 1024, n[5] / 1024
  printf "  ratio nightjar/sqlite3 = %.2f (target ≤ 1.0)\n", ours / peer
}'
