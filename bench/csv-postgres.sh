#!/usr/bin/env bash
# CSV → PostgreSQL of N generated leads (default 1M), nightjar against
# psql on the same file in the same run, as ratios of wall times (lower is
# better; the issue's targets: append ≤ 0.8, merge ≤ 1.0):
#   append: psql -c "\copy leads from 'leads.csv' csv header" into an empty
#           table, against `nightjar run` in append mode into an empty table;
#   merge:  into a table already holding the N rows with 10 % of them
#           changed, psql's \copy into a staging table then INSERT … ON
#           CONFLICT DO UPDATE, against `nightjar run` in merge mode.
# Also reports nightjar's and the server's peak RSS.
#   bench/csv-postgres.sh [ROWS]     (NIGHTJAR_BENCH_POSTGRES: the server's URL;
#                                    NIGHTJAR_BENCH_BATCH: the jobs' batch_size,
#                                    default the engine's 10,000 rows)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
batch=${NIGHTJAR_BENCH_BATCH:-10000}
dsn=${NIGHTJAR_BENCH_POSTGRES:-${NIGHTJAR_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}}
out=bench/out
mkdir -p "$out"
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null

csv="$out/leads-$rows.csv"
[ -s "$csv" ] || python3 ../shared/bench/gen-leads "$rows" > "$csv"
size=$(stat -c %s "$csv")
go build -o "$out/nightjar" ./cmd/nightjar

work="$out/csv-postgres"
rm -rf "$work"; mkdir -p "$work"
# A hard link (or a copy): the files source refuses symlinks leaving its folder.
ln -f "$csv" "$work/leads.csv" 2>/dev/null || cp "$csv" "$work/leads.csv"
# The changed file for merge: every tenth row with another last field.
python3 - "$csv" "$work/changed.csv" <<'PY'
import csv, sys
with open(sys.argv[1], newline='') as f, open(sys.argv[2], 'w', newline='') as g:
    r, w = csv.reader(f), csv.writer(g)
    w.writerow(next(r))
    for i, row in enumerate(r):
        if i % 10 == 0:
            row[-1] = row[-1] + ' (changed)'
        w.writerow(row)
PY
header=$(head -1 "$csv")
key=$(echo "$header" | cut -d, -f1)
cols=$(echo "$header" | tr ',' '\n' | sed 's/.*/"&" text/' | paste -sd, -)
qcols=$(echo "$header" | tr ',' '\n' | sed 's/.*/"&"/' | paste -sd, -)
updates=$(echo "$header" | tr ',' '\n' | tail -n +2 | sed 's/.*/"&" = excluded."&"/' | paste -sd, -)
pg() { psql "$dsn" -qAt -v ON_ERROR_STOP=1 "$@"; }
pg -c 'DROP SCHEMA IF EXISTS bench_peer CASCADE; DROP SCHEMA IF EXISTS bench_nj CASCADE; CREATE SCHEMA bench_peer; CREATE SCHEMA bench_nj'

cat > "$work/nightjar.yaml" <<YAML
connections:
  pg: { type: postgres, dsn: "$dsn" }
jobs:
  append:
    batch_size: $batch
    source: { type: files, path: leads.csv }
    targets:
      - { type: table, connection: pg, schema_name: bench_nj, table: leads, mode: append }
  merge:
    batch_size: $batch
    source: { type: files, path: changed.csv }
    targets:
      - { type: table, connection: pg, schema_name: bench_nj, table: leads, mode: merge, key: ["$key"] }
YAML

server_rss() { # peak RSS (VmHWM, kB) over the server's backends, reset per phase by new backends
  ps -o rss= -C postgres | sort -n | tail -1
}
now() { date +%s.%N; }
watch_rss() { # samples the largest postgres process's RSS until killed
  local peak=0 v
  while :; do v=$(server_rss || echo 0); [ "${v:-0}" -gt "$peak" ] && peak=$v && echo "$peak" > "$1"; sleep 0.2; done
}

# append, in the order psql, nightjar, nightjar, psql, each into a fresh
# table: a load right after another pays for the server's writing of it
# (checkpoints, the background writer), so each side runs once after the
# other and once after itself, and the ratio is of the summed times.
fresh() {
  pg -c 'DROP SCHEMA IF EXISTS bench_peer CASCADE; DROP SCHEMA IF EXISTS bench_nj CASCADE; CREATE SCHEMA bench_peer; CREATE SCHEMA bench_nj' -c "CREATE TABLE bench_peer.leads ($cols)"
}
peer_time=0 our_time=0
peer() {
  local t0 t1
  t0=$(now)
  pg -c "SET search_path = bench_peer" -c "\\copy leads from '$csv' csv header"
  t1=$(now)
  peer_time=$(awk -v s="$peer_time" -v a="$t0" -v b="$t1" 'BEGIN { print s + b - a }')
}
ours() {
  local t0 t1
  t0=$(now)
  /usr/bin/time -f "%M" -o "$out/nightjar-append.rss.$1" "$out/nightjar" run --full-refresh -c "$work/nightjar.yaml" append > "$out/nightjar-append.log" 2>&1
  t1=$(now)
  our_time=$(awk -v s="$our_time" -v a="$t0" -v b="$t1" 'BEGIN { print s + b - a }')
}
check() {
  peer_rows=$(pg -c 'select count(*) from bench_peer.leads')
  our_rows=$(pg -c 'select count(*) from bench_nj.leads')
  [ "$peer_rows" = "$rows" ] && [ "$our_rows" = "$rows" ] || { echo "append row counts differ: psql $peer_rows, nightjar $our_rows, want $rows" >&2; exit 1; }
}
rm -f "$out"/nightjar-append.rss.*
echo 0 > "$out/pg-append.rss"; watch_rss "$out/pg-append.rss" & w=$!
trap 'kill $w 2>/dev/null || true' EXIT
fresh; peer; ours 1; check
fresh; ours 2; peer; check
kill $w; wait $w 2>/dev/null || true

# merge: the peer's table gets the key index nightjar's merge creates.
pg -c "CREATE UNIQUE INDEX ON bench_peer.leads (\"$key\")"
pg -c "CREATE UNIQUE INDEX IF NOT EXISTS leads__nightjar_key ON bench_nj.leads (\"$key\")" -c "VACUUM ANALYZE bench_peer.leads" -c "VACUUM ANALYZE bench_nj.leads"
echo 0 > "$out/pg-merge.rss"; watch_rss "$out/pg-merge.rss" & w=$!
trap 'kill $w 2>/dev/null || true' EXIT
t3=$(now)
pg -c "SET search_path = bench_peer" -c "BEGIN" -c "CREATE TEMP TABLE stage (LIKE leads) ON COMMIT DROP" \
   -c "\\copy stage from '$work/changed.csv' csv header" \
   -c "INSERT INTO leads ($qcols) SELECT $qcols FROM stage ON CONFLICT (\"$key\") DO UPDATE SET $updates" -c "COMMIT"
t4=$(now)
/usr/bin/time -f "%M" -o "$out/nightjar-merge.rss" "$out/nightjar" run -c "$work/nightjar.yaml" merge > "$out/nightjar-merge.log" 2>&1
t5=$(now)
kill $w; wait $w 2>/dev/null || true
last=$(echo "$header" | tr ',' '\n' | tail -1)
peer_changed=$(pg -c "select count(*) from bench_peer.leads where \"$last\" like '% (changed)'")
our_changed=$(pg -c "select count(*) from bench_nj.leads where \"$last\" like '% (changed)'")
our_rows=$(pg -c 'select count(*) from bench_nj.leads')
[ "$peer_changed" = "$our_changed" ] && [ "$our_rows" = "$rows" ] || { echo "merge differs: psql changed $peer_changed, nightjar changed $our_changed, nightjar rows $our_rows" >&2; exit 1; }

awk -v p="$peer_time" -v o="$our_time" -v d="$t3" -v e="$t4" -v f="$t5" -v size="$size" -v rows="$rows" -v batch="$batch" \
    -v narss="$(cat "$out"/nightjar-append.rss.* | sort -n | tail -1)" -v nmrss="$(tail -1 "$out/nightjar-merge.rss")" \
    -v sarss="$(cat "$out/pg-append.rss")" -v smrss="$(cat "$out/pg-merge.rss")" 'BEGIN {
  printf "csv→postgres, %d rows, %.0f MB, batches of %d rows\n", rows, size / 1e6, batch
  printf "  append: psql \\copy %6.2fs   nightjar %6.2fs   ratio %.2f (target ≤ 0.8; each side twice: psql, nightjar, nightjar, psql)\n", p / 2, o / 2, o / p
  printf "  merge:  psql       %6.2fs   nightjar %6.2fs   ratio %.2f (target ≤ 1.0)\n", e - d, f - e, (f - e) / (e - d)
  printf "  peak RSS: nightjar append %.0f MB, merge %.0f MB; largest server process append %.0f MB, merge %.0f MB\n", narss / 1024, nmrss / 1024, sarss / 1024, smrss / 1024
}'
pg -c 'DROP SCHEMA bench_peer CASCADE; DROP SCHEMA bench_nj CASCADE'
