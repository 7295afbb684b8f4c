#!/usr/bin/env bash
# RabbitMQ → SQLite and CSV → RabbitMQ, nightjar against a plain Go loop on
# the same client library (bench/amqppeer) doing the same work in the same
# run, as ratios of wall times (issue 15's target: ≤ 1.3 each):
#   consume: drain a queue of N JSON leads with manual acks, prefetch
#            40,000 (the source's default), decode, insert into SQLite in
#            transactions of 10,000 rows, one multiple-ack after each
#            commit;
#   publish: N records, each a persistent, mandatory message with a
#            message-id, publisher confirms awaited, at most 256 in flight.
# Each side consumes a queue of its own filled just before it runs, and
# publishes into an empty queue of its own (see bench/brokerbench.sh).
#   bench/amqp.sh [N]   (default 100000; NIGHTJAR_BENCH_AMQP: the server,
#                       default amqp://guest:guest@127.0.0.1:5672/;
#                       NIGHTJAR_BENCH_ROUNDS: rounds, default 3;
#                       NIGHTJAR_BENCH_BROKER_PID: the broker's process for
#                       its CPU, default the local beam.smp)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
url=${NIGHTJAR_BENCH_AMQP:-${NIGHTJAR_TEST_AMQP:-amqp://guest:guest@127.0.0.1:5672/}}
out=bench/out/amqp
rm -rf "$out"; mkdir -p "$out/in"
source bench/brokerbench.sh
go build -o "$out/nightjar" ./cmd/nightjar
go build -o "$out/amqppeer" ./bench/amqppeer
peer=$out/amqppeer empty=declare
broker=${NIGHTJAR_BENCH_BROKER_PID:-$(pgrep -o -x beam.smp || true)}
export NJ_AMQP_URL="$url"
leads "$n" "$out/in/leads.csv"
queue="njbench-$$"
cat > "$out/nightjar.yaml" <<YAML
connections:
  rabbit: { type: amqp, url: "\${NJ_AMQP_URL}" }
  wh: { type: sqlite, path: nightjar.db }
jobs:
  consume:
    source: { type: amqp, connection: rabbit, queue: $queue.nightjar, fetch_wait: 300ms, fields: { headers: "" } }
    targets:
      - { type: table, connection: wh, table: leads, mode: append, commit_rows: 10000 }
  publish:
    source: { type: files, path: in/leads.csv, settle: 0s }
    steps:
      - cast: { id: int, score: int }
    targets:
      - { type: amqp, connection: rabbit, routing_key: $queue.nightjar.out }
YAML

names() { # side case
  if [ "$2" = consume ]; then echo "$queue.$1"; else echo "$queue.$1.out"; fi
}
rounds
