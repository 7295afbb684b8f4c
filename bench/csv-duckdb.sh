#!/usr/bin/env bash
# CSV → DuckDB append of N generated leads (default 1M): nightjar (rows
# through DuckDB's Appender) against DuckDB's own parallel reader
# (read_csv into a table, through the same library: bench/duckdb-read-csv)
# on the same file in the same run, peer and nightjar alternating ROUNDS
# times (default 3). Prints each round's wall and CPU seconds (user+sys)
# and the ratio of wall times (lower is better; the goal is ≤ 1.5).
#   bench/csv-duckdb.sh [ROWS] [ROUNDS]
#   NIGHTJAR_CPUPROFILE=bench/out/duckdb.pprof bench/csv-duckdb.sh  # profile nightjar
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
rounds=${2:-3}
out=bench/out
mkdir -p "$out"
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null

csv="$out/leads-$rows.csv"
[ -s "$csv" ] || python3 ../shared/bench/gen-leads "$rows" > "$csv"
size=$(stat -c %s "$csv")
go build -o "$out/nightjar" ./cmd/nightjar
go build -o "$out/duckdb-read-csv" ./bench/duckdb-read-csv

work="$out/csv-duckdb"
printf "csv→duckdb append, %d rows, %.0f MB\n" "$rows" "$(echo "$size / 1000000" | bc -l)"
for round in $(seq "$rounds"); do
  rm -rf "$work"; mkdir -p "$work"
  ln "$csv" "$work/leads.csv"  # a hard link: the source refuses paths outside its folder
  cat > "$work/nightjar.yaml" <<YAML
connections:
  warehouse: { type: duckdb, path: warehouse.duckdb }
jobs:
  leads:
    source: { type: files, path: leads.csv }
    targets:
      - { type: table, connection: warehouse, table: leads, mode: append }
YAML
  peer_rows=$(/usr/bin/time -f "%e %U %S %M" -o "$out/peer.time" "$out/duckdb-read-csv" "$work/peer.duckdb" "$work/leads.csv")
  /usr/bin/time -f "%e %U %S %M" -o "$out/nightjar.time" "$out/nightjar" run -c "$work/nightjar.yaml" leads > "$out/nightjar.log" 2>&1
  our_rows=$(grep -o 'written [0-9]*' "$out/nightjar.log" | head -1 | cut -d' ' -f2)
  [ "$peer_rows" = "$rows" ] && [ "$our_rows" = "$rows" ] || { echo "row counts differ: read_csv $peer_rows, nightjar $our_rows, want $rows" >&2; exit 1; }
  read -r pw pu ps prss < <(tail -1 "$out/peer.time")
  read -r nw nu ns nrss < <(tail -1 "$out/nightjar.time")
  awk -v round="$round" -v pw="$pw" -v pu="$pu" -v ps="$ps" -v prss="$prss" -v nw="$nw" -v nu="$nu" -v ns="$ns" -v nrss="$nrss" 'BEGIN {
    printf "  round %d: read_csv %5.2fs wall %5.2f CPU-s %4.0f MB RSS | nightjar %5.2fs wall %5.2f CPU-s %4.0f MB RSS | ratio wall %.2f, CPU %.2f (goal ≤ 1.5)\n",
      round, pw, pu + ps, prss / 1024, nw, nu + ns, nrss / 1024, nw / pw, (nu + ns) / (pu + ps)
  }'
done
