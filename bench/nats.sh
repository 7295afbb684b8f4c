#!/usr/bin/env bash
# NATS JetStream → SQLite and CSV → JetStream, nightjar against a plain Go
# loop on the same client library (bench/natspeer) doing the same work in
# the same run, as ratios of wall times (issue 15's target: ≤ 1.3 each):
#   consume: drain a stream of N JSON leads with a durable pull consumer,
#            decode, insert into SQLite in transactions of 10,000 rows,
#            ack after each commit;
#   publish: N records, each a message with a Nats-Msg-Id, publish acks
#            awaited, at most 256 in flight.
# Each side consumes a stream of its own filled just before it runs, and
# publishes into an empty stream of its own (see bench/brokerbench.sh).
#   bench/nats.sh [N]   (default 100000; NIGHTJAR_BENCH_NATS: the server,
#                       default nats://127.0.0.1:4222; NIGHTJAR_BENCH_ROUNDS:
#                       rounds, default 3; NIGHTJAR_BENCH_BROKER_PID: the
#                       server's process for its CPU, default the local
#                       nats-server)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
url=${NIGHTJAR_BENCH_NATS:-${NIGHTJAR_TEST_NATS:-nats://127.0.0.1:4222}}
out=bench/out/nats
rm -rf "$out"; mkdir -p "$out/in"
source bench/brokerbench.sh
go build -o "$out/nightjar" ./cmd/nightjar
go build -o "$out/natspeer" ./bench/natspeer
peer=$out/natspeer empty=create
broker=${NIGHTJAR_BENCH_BROKER_PID:-$(pgrep -o -x nats-server || true)}
leads "$n" "$out/in/leads.csv"
stream="NJBENCH$$"
cat > "$out/nightjar.yaml" <<YAML
connections:
  bus: { type: nats, url: "$url" }
  wh: { type: sqlite, path: nightjar.db }
jobs:
  consume:
    source: { type: nats, connection: bus, stream: ${stream}NIGHTJAR, consumer: nightjar, fetch_wait: 300ms,
              fields: { headers: "" } }
    targets:
      - { type: table, connection: wh, table: leads, mode: append, commit_rows: 10000 }
  publish:
    source: { type: files, path: in/leads.csv, settle: 0s }
    steps:
      - cast: { id: int, score: int }
    targets:
      - { type: nats, connection: bus, subject: ${stream}NIGHTJAROUT.out }
YAML

names() { # side case: NJBENCH<pid>PEER, NJBENCH<pid>NIGHTJAROUT, …
  if [ "$2" = consume ]; then echo "$stream${1^^}"; else echo "$stream${1^^}OUT"; fi
}
rounds
