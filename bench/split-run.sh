# Sourced by bench/workers.sh and bench/ranges.sh: runs of one job split
# into partitions by `nightjar worker` processes. Needs $dsn, $out (holding
# the nightjar binary) and psql_.

# split_run NAME SCHEMA DIR WORKERS ROWS [WORKER FLAGS...]: starts WORKERS
# `nightjar worker` on DIR/nightjar.yaml (BENCH_DSN=$dsn, --runs 1) until
# the job's split run that read rows ends, stops them, checks that the
# target table SCHEMA holds ROWS rows, drops it and the state schema
# SCHEMA, and prints "wall_seconds partitions" (the split run's own wall:
# ended_at − started_at in the state store).
split_run() {
  local name=$1 schema=$2 dir=$3 n=$4 rows=$5
  shift 5
  local pids=()
  for _ in $(seq "$n"); do
    BENCH_DSN=$dsn "$out/nightjar" worker -c "$dir/nightjar.yaml" --runs 1 "$@" >> "$dir/workers.log" 2>&1 &
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

# split_header prints the table's header.
split_header() {
  printf '%-28s %8s %10s %10s %10s %22s\n' run workers partitions wall_s rows/s overhead/partition_ms
}

# split_line LABEL WORKERS PARTITIONS WALL ROWS BASE: one line of the
# table. BASE is the peer's wall (one partition, one worker): its wall per
# row is the per-row cost, and the overhead per partition is the run's
# worker time per partition less the partition's rows at that cost.
split_line() {
  awk -v label="$1" -v n="$2" -v parts="$3" -v wall="$4" -v rows="$5" -v base="$6" 'BEGIN {
    perrow = base / rows
    over = (wall * n / parts - (rows / parts) * perrow) * 1000
    printf "%-28s %8d %10d %10.2f %10.0f %22.1f\n", label, n, parts, wall, rows / wall, over
  }'
}
