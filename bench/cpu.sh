#!/usr/bin/env bash
# The CPU table of issue 17, every row with nightjar's figure and its
# peer's from the same run: CPU-seconds (user+sys, GNU time), wall time
# and peak RSS, over ROUNDS rounds in which peer and nightjar alternate
# (peer first in odd rounds, nightjar first in even ones), printed as
# min..max ranges. On a shared machine CPU-seconds move less than wall
# time; compare the columns of one run, not figures of different runs.
#   bench/cpu.sh [ROWS] [ROUNDS]   (defaults 1,000,000 leads and 3 rounds)
# NIGHTJAR_BENCH_POSTGRES: the server's URL (default NIGHTJAR_TEST_POSTGRES
# or a local one); NIGHTJAR_BENCH_2GB=0 skips the 2 GB peak-RSS row (the
# file is the ROWS file repeated to about 2 GB); NIGHTJAR_BIN: a binary to
# measure instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
rounds=${2:-3}
dsn=${NIGHTJAR_BENCH_POSTGRES:-${NIGHTJAR_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}}
out=bench/out
mkdir -p "$out"
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
command -v sqlite3 >/dev/null || apt-get install -y sqlite3 >/dev/null
command -v mlr >/dev/null || apt-get install -y miller >/dev/null

csv="$out/leads-$rows.csv"
[ -s "$csv" ] || python3 ../shared/bench/gen-leads "$rows" > "$csv"
jsonl="$out/leads-$rows.jsonl"
[ -s "$jsonl" ] || python3 -c '
import csv, json, sys
for r in csv.DictReader(open(sys.argv[1], newline="")):
    print(json.dumps(r, ensure_ascii=False))' "$csv" > "$jsonl"
bin=${NIGHTJAR_BIN:-$out/nightjar-cpu}
# Copied with cat after the build: the page cache maps a binary just
# written by go build in larger folios, which count ~15 MB more resident
# (see the README's Benchmarks); an installed binary is a copy.
[ -n "${NIGHTJAR_BIN:-}" ] || { go build -o "$bin.new" ./cmd/nightjar && cat "$bin.new" > "$bin" && chmod +x "$bin" && rm "$bin.new"; }

work="$out/cpu"
rm -rf "$work"; mkdir -p "$work/in"
# Hard links: the files source refuses symbolic links leaving its folder.
ln -f "$csv" "$work/in/leads.csv" 2>/dev/null || cp "$csv" "$work/in/leads.csv"
ln -f "$jsonl" "$work/in/leads.jsonl" 2>/dev/null || cp "$jsonl" "$work/in/leads.jsonl"
python3 -c '
import csv, sys
r, w = csv.reader(open(sys.argv[1], newline="")), csv.writer(sys.stdout)
w.writerow(next(r)); w.writerow(next(r))' "$csv" > "$work/in/one.csv"
cat > "$work/nightjar.yaml" <<YAML
connections:
  pg: { type: postgres, dsn: "$dsn" }
  lite: { type: sqlite, path: out/warehouse.db }
jobs:
  pg:
    source: { type: files, path: in/leads.csv, settle: 0s }
    targets: [ { type: table, connection: pg, schema_name: bench_cpu_nj, table: leads, mode: append } ]
  sqlite:
    source: { type: files, path: in/leads.csv, settle: 0s }
    targets: [ { type: table, connection: lite, table: leads, mode: append } ]
  csv:
    source: { type: files, path: in/leads.csv, settle: 0s }
    targets: [ { type: file, path: out/csv.csv } ]
  jsonl:
    source: { type: files, path: in/leads.jsonl, settle: 0s }
    targets: [ { type: file, path: out/jsonl.csv } ]
  first:
    source: { type: files, path: in/leads.csv, settle: 0s }
    targets: [ { type: table, connection: lite, table: first, mode: append } ]
  first1:
    source: { type: files, path: in/one.csv, settle: 0s }
    targets: [ { type: table, connection: lite, table: first1, mode: append } ]
YAML

header=$(head -1 "$csv")
cols=$(echo "$header" | tr ',' '\n' | sed 's/.*/"&" text/' | paste -sd, -)
export PGOPTIONS='-c client_min_messages=warning'
pg() { psql "$dsn" -qAt -v ON_ERROR_STOP=1 "$@"; }
fresh_pg() { # fresh_pg SCHEMA [CREATE…]: an empty schema (and table)
  pg -c "DROP SCHEMA IF EXISTS $1 CASCADE; CREATE SCHEMA $1" ${2:+-c "$2"} >/dev/null
}

results="$work/results"
: > "$results"
# measure NAME CMD...: one line "NAME user+sys wall rss_kB" in results.
measure() {
  local name=$1; shift
  /usr/bin/time -f "%U %S %e %M" -o "$work/time" "$@" > "$work/$name.log" 2>&1 || { cat "$work/$name.log" >&2; exit 1; }
  awk -v n="$name" '{ printf "%s %.3f %.3f %d\n", n, $1 + $2, $3, $4 }' "$work/time" >> "$results"
}
# server_ticks: CPU ticks (user+sys) of the local PostgreSQL cluster so far,
# its live processes and the backends its postmaster reaped; 0 when none
# runs here (a remote server).
server_ticks() {
  local tot=0 pm p f
  pm=$(pgrep -o -x postgres || true)
  for p in $(pgrep -x postgres || true); do
    read -r -a f < "/proc/$p/stat" 2>/dev/null || continue
    tot=$((tot + f[13] + f[14]))
    [ "$p" = "$pm" ] && tot=$((tot + f[15] + f[16]))
  done
  echo "$tot"
}
# with_server NAME CMD...: CMD, then a line "srv-NAME CPU-s 0 0" with the
# server's CPU meanwhile (the server's share of a load's cost).
with_server() {
  local name=$1 t0 hz; shift
  hz=$(getconf CLK_TCK); t0=$(server_ticks)
  "$@"
  awk -v n="srv-$name" -v d="$(( $(server_ticks) - t0 ))" -v hz="$hz" 'BEGIN { printf "%s %.3f 0 0\n", n, d / hz }' >> "$results"
}
nj() { # measure NAME of nightjar run ARGS..., from a fresh state and outputs
  local name=$1; shift
  rm -rf "$work/.nightjar" "$work/out"
  measure "$name" "$bin" run -c "$work/nightjar.yaml" "$@"
}
peer_pg()  { fresh_pg bench_cpu_peer "CREATE TABLE bench_cpu_peer.leads ($cols)"; with_server psql measure psql psql "$dsn" -qAt -v ON_ERROR_STOP=1 -c "SET search_path = bench_cpu_peer" -c "\\copy leads from '$csv' csv header"; }
ours_pg()  { fresh_pg bench_cpu_nj; with_server nj-pg nj nj-pg pg; }
peer_lite() { rm -f "$work/peer.db"; measure sqlite3 sqlite3 "$work/peer.db" ".import --csv $csv leads"; }
ours_lite() {
  nj nj-sqlite sqlite
  local n
  n=$(sqlite3 "$work/out/warehouse.db" 'select count(*) from leads')
  [ "$n" = "$rows" ] || { echo "sqlite: nightjar loaded $n rows, want $rows" >&2; exit 1; }
}
peer_csv() { measure mlr mlr --icsv --ocsv cat "$csv"; }
ours_csv() { nj nj-csv csv; }
ours_jsonl() { nj nj-jsonl jsonl; }
first() { nj nj-first first --limit 1; nj nj-first-tiny first1 --limit 1; }

for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    peer_pg; ours_pg; peer_lite; ours_lite; peer_csv; ours_csv; ours_jsonl; first
  else
    ours_pg; peer_pg; ours_lite; peer_lite; ours_jsonl; ours_csv; peer_csv; first
  fi
done
peer_rows=$(pg -c 'select count(*) from bench_cpu_peer.leads')
our_rows=$(pg -c 'select count(*) from bench_cpu_nj.leads')
[ "$peer_rows" = "$rows" ] && [ "$our_rows" = "$rows" ] || { echo "postgres row counts: psql $peer_rows, nightjar $our_rows, want $rows" >&2; exit 1; }
pg -c 'DROP SCHEMA bench_cpu_peer CASCADE; DROP SCHEMA bench_cpu_nj CASCADE' >/dev/null

if [ "${NIGHTJAR_BENCH_2GB:-1}" != 0 ]; then
  big="$work/in/big.csv"
  reps=$(( (2000000000 + $(stat -c %s "$csv") - 1) / $(stat -c %s "$csv") ))
  { cat "$csv"; for _ in $(seq 2 "$reps"); do tail -n +2 "$csv"; done; } > "$big"
  cat >> "$work/nightjar.yaml" <<YAML
  big-sqlite:
    source: { type: files, path: in/big.csv, settle: 0s }
    targets: [ { type: table, connection: lite, table: big, mode: append } ]
  big-parquet:
    source: { type: files, path: in/big.csv, settle: 0s }
    targets: [ { type: file, path: out/big.parquet, compression: zstd } ]
YAML
  nj nj-2gb-sqlite big-sqlite
  nj nj-2gb-parquet big-parquet
  rm -f "$big"
fi

awk -v rows="$rows" -v rounds="$rounds" '
  { n = $1; cpu[n] = cpu[n] " " $2
    if (!(n in clo) || $2 < clo[n]) clo[n] = $2; if ($2 > chi[n]) chi[n] = $2
    if (!(n in wlo) || $3 < wlo[n]) wlo[n] = $3; if ($3 > whi[n]) whi[n] = $3
    if ($4 > rss[n]) rss[n] = $4; cs[n] += $2; ws[n] += $3 }
  function r(n) { return sprintf("cpu %5.2f..%5.2f s  wall %5.2f..%5.2f s  RSS %4.0f MB", clo[n], chi[n], wlo[n], whi[n], rss[n] / 1024) }
  END {
    printf "issue 17 table: %d leads, %d rounds, peer and nightjar alternating (ranges min..max)\n", rows, rounds
    printf "  nightjar csv→pg   %s\n  psql \\copy        %s\n", r("nj-pg"), r("psql")
    printf "  PostgreSQL server cpu during the nightjar load %5.2f..%5.2f s, during the psql load %5.2f..%5.2f s\n", clo["srv-nj-pg"], chi["srv-nj-pg"], clo["srv-psql"], chi["srv-psql"]
    printf "  nightjar csv→lite %s\n  sqlite3 .import   %s\n", r("nj-sqlite"), r("sqlite3")
    printf "  nightjar csv→csv  %s\n  nightjar jsonl→csv %s\n  mlr cat           %s\n", r("nj-csv"), r("nj-jsonl"), r("mlr")
    printf "  nightjar --limit 1, %d rows %s\n  nightjar --limit 1, 1 row   %s\n", rows, r("nj-first"), r("nj-first-tiny")
    print ""
    printf "| load | nightjar | peer | ratio | target |\n|---|---|---|---|---|\n"
    printf "| CSV → PostgreSQL append, nightjar CPU | %.2f–%.2f CPU-s | psql client %.2f–%.2f CPU-s | | ≤ 0.8 CPU-s |\n", clo["nj-pg"], chi["nj-pg"], clo["psql"], chi["psql"]
    printf "| CSV → PostgreSQL append, wall vs psql \\copy | %.2f–%.2f s | %.2f–%.2f s | %.2f (summed) | ≤ 1.0 |\n", wlo["nj-pg"], whi["nj-pg"], wlo["psql"], whi["psql"], ws["nj-pg"] / ws["psql"]
    if (chi["srv-psql"] > 0)
      printf "| (the PostgreSQL server, CPU during those loads) | %.2f–%.2f CPU-s | %.2f–%.2f CPU-s | %.2f (summed) | |\n", clo["srv-nj-pg"], chi["srv-nj-pg"], clo["srv-psql"], chi["srv-psql"], cs["srv-nj-pg"] / cs["srv-psql"]
    printf "| CSV → SQLite, total CPU vs sqlite3 .import | %.2f–%.2f CPU-s | %.2f–%.2f CPU-s | CPU %.2f, wall %.2f (summed) | ≤ 1.0, wall ≤ 0.9 |\n", clo["nj-sqlite"], chi["nj-sqlite"], clo["sqlite3"], chi["sqlite3"], cs["nj-sqlite"] / cs["sqlite3"], ws["nj-sqlite"] / ws["sqlite3"]
    printf "| CSV → CSV, CPU | %.2f–%.2f CPU-s | mlr cat %.2f–%.2f CPU-s | %.2f of mlr | ≤ 0.7 CPU-s |\n", clo["nj-csv"], chi["nj-csv"], clo["mlr"], chi["mlr"], cs["nj-csv"] / cs["mlr"]
    printf "| JSONL → CSV vs CSV → CSV | %.2f–%.2f CPU-s | CSV → CSV %.2f–%.2f CPU-s | CPU %.2f, wall %.2f (summed) | ≤ 1.5 |\n", clo["nj-jsonl"], chi["nj-jsonl"], clo["nj-csv"], chi["nj-csv"], cs["nj-jsonl"] / cs["nj-csv"], ws["nj-jsonl"] / ws["nj-csv"]
    printf "| time to first row (run --limit 1) | %.2f–%.2f s | same command on a 1-row file %.2f–%.2f s | +%.2f s for the file | ≤ 0.05 s |\n", wlo["nj-first"], whi["nj-first"], wlo["nj-first-tiny"], whi["nj-first-tiny"], (ws["nj-first"] - ws["nj-first-tiny"]) / rounds
    if ("nj-2gb-sqlite" in rss)
      printf "| peak RSS, 2 GB CSV → SQLite / → Parquet | %.0f / %.0f MB | | | < 80 MB both |\n", rss["nj-2gb-sqlite"] / 1024, rss["nj-2gb-parquet"] / 1024
  }' "$results"
echo "(raw figures, one line per run: name CPU-s wall-s RSS-kB, in $results)"
