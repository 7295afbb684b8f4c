#!/usr/bin/env bash
# CSV → MariaDB of N generated leads (default 1M), nightjar against the
# mariadb client on the same file in the same run, as a ratio of wall times
# (lower is better; the issue's target: append ≤ 1.5):
#   mariadb --local-infile -e "LOAD DATA LOCAL INFILE …" into an empty
#   table, against `nightjar run` in append mode into an empty table.
# Also reports nightjar's and the server's peak RSS.
#   bench/csv-mysql.sh [ROWS]   (NIGHTJAR_BENCH_MYSQL: the server as a Go DSN,
#                               user[:password]@tcp(host:port)/db;
#                               NIGHTJAR_BENCH_BATCH: the job's batch_size,
#                               default the engine's 10,000 rows)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
batch=${NIGHTJAR_BENCH_BATCH:-10000}
dsn=${NIGHTJAR_BENCH_MYSQL:-${NIGHTJAR_TEST_MYSQL:-root@tcp(127.0.0.1:3306)/test}}
out=bench/out
mkdir -p "$out"
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null

# The client's arguments from the Go DSN (no password on the command line:
# MYSQL_PWD).
re='^([^:@]*)(:([^@]*))?@tcp\(([^:)]*)(:([0-9]+))?\)/([^?]*)'
[[ $dsn =~ $re ]] || { echo "cannot read $dsn: want user[:password]@tcp(host:port)/db" >&2; exit 2; }
user=${BASH_REMATCH[1]} host=${BASH_REMATCH[4]} port=${BASH_REMATCH[6]:-3306} db=${BASH_REMATCH[7]}
export MYSQL_PWD=${BASH_REMATCH[3]}
my() { mariadb -h "$host" -P "$port" -u "$user" --local-infile=1 -N -B "$@"; }

csv="$out/leads-$rows.csv"
[ -s "$csv" ] || python3 ../shared/bench/gen-leads "$rows" > "$csv"
size=$(stat -c %s "$csv")
go build -o "$out/nightjar" ./cmd/nightjar

work="$out/csv-mysql"
rm -rf "$work"; mkdir -p "$work"
# A hard link (or a copy): the files source refuses symlinks leaving its folder.
ln -f "$csv" "$work/leads.csv" 2>/dev/null || cp "$csv" "$work/leads.csv"
header=$(head -1 "$csv")
# The columns nightjar creates for text fields (LONGTEXT), so that both
# loads write the same rows.
cols=$(echo "$header" | tr ',' '\n' | sed 's/.*/`&` LONGTEXT/' | paste -sd, -)
my -e 'DROP DATABASE IF EXISTS bench_peer; DROP DATABASE IF EXISTS bench_nj; CREATE DATABASE bench_peer; CREATE DATABASE bench_nj'

cat > "$work/nightjar.yaml" <<YAML
connections:
  my: { type: mysql, dsn: "$dsn" }
jobs:
  append:
    batch_size: $batch
    source: { type: files, path: leads.csv }
    targets:
      - { type: table, connection: my, database: bench_nj, table: leads, mode: append }
YAML

now() { date +%s.%N; }
watch_rss() { # samples the server's RSS (kB) until killed
  local peak=0 v
  while :; do v=$(ps -o rss= -C mariadbd,mysqld | sort -n | tail -1); [ "${v:-0}" -gt "$peak" ] && peak=$v && echo "$peak" > "$1"; sleep 0.2; done
}

# The loads run in the order peer, nightjar, nightjar, peer, each into a
# fresh table: a load right after another pays for the server's flushing of
# it (InnoDB writes its pages back in the background), so each side runs
# once after the other and once after itself, and the ratio is of the
# summed times.
fresh() {
  my -e "DROP DATABASE IF EXISTS bench_peer; DROP DATABASE IF EXISTS bench_nj; CREATE DATABASE bench_peer; CREATE DATABASE bench_nj; CREATE TABLE bench_peer.leads ($cols)"
}
peer_time=0 our_time=0
peer() {
  local t0 t1
  t0=$(now)
  my bench_peer -e "LOAD DATA LOCAL INFILE '$(realpath "$csv")' INTO TABLE leads CHARACTER SET utf8mb4
    FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\n' IGNORE 1 LINES"
  t1=$(now)
  peer_time=$(awk -v s="$peer_time" -v a="$t0" -v b="$t1" 'BEGIN { print s + b - a }')
}
ours() {
  local t0 t1
  t0=$(now)
  /usr/bin/time -f "%M" -o "$out/nightjar-mysql.rss.$1" "$out/nightjar" run --full-refresh -c "$work/nightjar.yaml" append > "$out/nightjar-mysql.log" 2>&1
  t1=$(now)
  our_time=$(awk -v s="$our_time" -v a="$t0" -v b="$t1" 'BEGIN { print s + b - a }')
}
rm -f "$out"/nightjar-mysql.rss.*
echo 0 > "$out/my-append.rss"; watch_rss "$out/my-append.rss" & w=$!
trap 'kill $w 2>/dev/null || true' EXIT
fresh; peer; ours 1
check() {
  peer_rows=$(my -e 'select count(*) from bench_peer.leads')
  our_rows=$(my -e 'select count(*) from bench_nj.leads')
  [ "$peer_rows" = "$rows" ] && [ "$our_rows" = "$rows" ] || { echo "row counts differ: mariadb $peer_rows, nightjar $our_rows, want $rows" >&2; exit 1; }
  # Same values: a checksum of every row in both tables.
  sum() { my -e "select sum(crc32(concat_ws(char(31), $(echo "$header" | tr ',' '\n' | sed 's/.*/`&`/' | paste -sd, -)))) from $1.leads"; }
  [ "$(sum bench_peer)" = "$(sum bench_nj)" ] || { echo "values differ between mariadb's load and nightjar's" >&2; exit 1; }
}
check
fresh; ours 2; peer
check
kill $w; wait $w 2>/dev/null || true
nrss=$(cat "$out"/nightjar-mysql.rss.* | sort -n | tail -1)

awk -v p="$peer_time" -v o="$our_time" -v size="$size" -v rows="$rows" -v batch="$batch" \
    -v nrss="$nrss" -v srss="$(cat "$out/my-append.rss")" 'BEGIN {
  printf "csv→mariadb, %d rows, %.0f MB, batches of %d rows, each side twice (peer, nightjar, nightjar, peer)\n", rows, size / 1e6, batch
  printf "  append: LOAD DATA %6.2fs   nightjar %6.2fs   ratio %.2f (target ≤ 1.5)\n", p / 2, o / 2, o / p
  printf "  peak RSS: nightjar %.0f MB, server %.0f MB\n", nrss / 1024, srss / 1024
}'
my -e 'DROP DATABASE bench_peer; DROP DATABASE bench_nj'
