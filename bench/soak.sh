#!/usr/bin/env bash
# A soak of the daemon: for SOAK_SECONDS (default 1800) a CSV of 10 leads
# is dropped every second into two folders: one watched (job "watched",
# append into SQLite), one read by a cron job every 10 s (job "cron", merge
# into SQLite and PostgreSQL). Every 10 s the daemon's RSS and open file
# descriptors are sampled. At the end: files loaded = files dropped, no
# duplicate, no failed run, and RSS and descriptors after warm-up (the
# first 2 minutes) flat within 10 %.
#   NIGHTJAR_TEST_POSTGRES=postgres://... bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SOAK_SECONDS:-1800}
dsn=${NIGHTJAR_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
work=$(mktemp -d /tmp/nightjar-soak.XXXXXX)
bin="$work/nightjar"
go build -o "$bin" ./cmd/nightjar
schema="soak_$$"
mkdir -p "$work/in-watched" "$work/in-cron"
cat > "$work/nightjar.yaml" <<YAML
connections:
  lite: { type: sqlite, path: out/soak.db }
  pg: { type: postgres, dsn: "$dsn" }
jobs:
  watched:
    source: { type: files, path: in-watched/*.csv, watch: true, settle: 0s, archive: done-watched }
    targets: [ { type: table, connection: lite, table: watched, mode: append } ]
  cron:
    schedule: "@every 10s"
    source: { type: files, path: in-cron/*.csv, settle: 0s, archive: done-cron }
    targets:
      - { type: table, connection: lite, table: cron, mode: merge, key: [id] }
      - { type: table, connection: pg, schema_name: $schema, table: cron, mode: merge, key: [id] }
YAML
"$bin" validate -c "$work/nightjar.yaml" >/dev/null
"$bin" daemon -c "$work/nightjar.yaml" --http 127.0.0.1:0 > "$work/daemon.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; psql -q "$dsn" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true' EXIT

samples="$work/samples.tsv"
printf "t\trss_kb\tfds\n" > "$samples"
start=$(date +%s)
n=0
next_sample=0
while :; do
  now=$(($(date +%s) - start))
  [ "$now" -ge "$secs" ] && break
  n=$((n + 1))
  {
    echo "id,email,score"
    for k in $(seq 0 9); do echo "$((n * 10 + k)),lead$((n * 10 + k))@example.com,$((k * 10))"; done
  } > "$work/tmp.csv"
  cp "$work/tmp.csv" "$work/in-cron/.f$n.tmp" && mv "$work/in-cron/.f$n.tmp" "$work/in-cron/f$n.csv"
  mv "$work/tmp.csv" "$work/in-watched/.f$n.tmp" && mv "$work/in-watched/.f$n.tmp" "$work/in-watched/f$n.csv"
  if [ "$now" -ge "$next_sample" ]; then
    rss=$(awk '/VmRSS/ { print $2 }' /proc/$pid/status)
    fds=$(ls /proc/$pid/fd | wc -l)
    printf "%d\t%d\t%d\n" "$now" "$rss" "$fds" >> "$samples"
    next_sample=$((now + 10))
  fi
  sleep 1
done
# Let the last files land (the cron job runs every 10 s).
for _ in $(seq 1 60); do
  left=$(ls "$work/in-watched" "$work/in-cron" | grep -c '\.csv$' || true)
  [ "$left" -eq 0 ] && break
  sleep 1
done
kill -TERM $pid; wait $pid || true

q() { sqlite3 "$work/out/soak.db" "$1"; }
watched_rows=$(q "SELECT count(*) FROM watched"); watched_ids=$(q "SELECT count(DISTINCT id) FROM watched")
cron_rows=$(q "SELECT count(*) FROM cron")
pg_rows=$(psql -qtA "$dsn" -c "SELECT count(*) FROM $schema.cron")
failed=$("$bin" history -c "$work/nightjar.yaml" watched --limit 100000 --csv | grep -c ',failed,' || true)
failed=$((failed + $("$bin" history -c "$work/nightjar.yaml" cron --limit 100000 --csv | grep -c ',failed,' || true)))
archived=$(ls "$work/done-watched" | wc -l)
echo "soak: $secs s, $n files dropped (10 rows each) into each folder"
echo "  watched: $archived files archived, $watched_rows rows, $watched_ids distinct ids (want $((n * 10)) and $((n * 10)))"
echo "  cron: SQLite $cron_rows rows, PostgreSQL $pg_rows rows (want $((n * 10)))"
echo "  failed runs: $failed"
awk -F'\t' 'NR > 1 && $1 >= 120 { if (!r0) { r0 = $2; f0 = $3 } rmin = (!rmin || $2 < rmin) ? $2 : rmin; rmax = ($2 > rmax) ? $2 : rmax;
  fmin = (!fmin || $3 < fmin) ? $3 : fmin; fmax = ($3 > fmax) ? $3 : fmax; last_r = $2; last_f = $3 }
  END { printf "  after warm-up: RSS %.1f-%.1f MB (first %.1f, last %.1f), open fds %d-%d\n", rmin/1024, rmax/1024, r0/1024, last_r/1024, fmin, fmax }' "$samples"
echo "  samples: $samples, daemon log: $work/daemon.log"
[ "$watched_rows" -eq $((n * 10)) ] && [ "$watched_ids" -eq $((n * 10)) ] && [ "$cron_rows" -eq $((n * 10)) ] && [ "$pg_rows" -eq $((n * 10)) ] && [ "$failed" -eq 0 ]
