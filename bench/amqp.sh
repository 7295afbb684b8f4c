#!/usr/bin/env bash
# RabbitMQ → SQLite and CSV → RabbitMQ, nightjar against a plain Go loop on
# the same client library (bench/amqppeer) doing the same work in the same
# run, as ratios of wall times (issue 15's target: ≤ 1.3 each):
#   consume: drain a queue of N JSON leads with manual acks, decode, insert
#            into SQLite in transactions of 10,000 rows, ack after each
#            commit;
#   publish: N records, each a persistent, mandatory message with a
#            message-id, publisher confirms awaited, at most 256 in flight.
#   bench/amqp.sh [N]   (default 100000; NIGHTJAR_BENCH_AMQP: the server,
#                       default amqp://guest:guest@127.0.0.1:5672/;
#                       NIGHTJAR_BENCH_ROUNDS: rounds, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
url=${NIGHTJAR_BENCH_AMQP:-${NIGHTJAR_TEST_AMQP:-amqp://guest:guest@127.0.0.1:5672/}}
out=bench/out/amqp
rm -rf "$out"; mkdir -p "$out/in"
go build -o "$out/nightjar" ./cmd/nightjar
go build -o "$out/amqppeer" ./bench/amqppeer
now() { date +%s.%N; }
export NJ_AMQP_URL="$url"

config() { # queue
  cat > "$out/nightjar.yaml" <<YAML
connections:
  rabbit: { type: amqp, url: "\${NJ_AMQP_URL}" }
  wh: { type: sqlite, path: nightjar.db }
jobs:
  consume:
    source: { type: amqp, connection: rabbit, queue: $1, fetch_wait: 300ms, fields: { headers: "" } }
    targets:
      - { type: table, connection: wh, table: leads, mode: append, commit_rows: 10000 }
  publish:
    source: { type: files, path: in/leads.csv, settle: 0s }
    steps:
      - cast: { id: int, score: int }
    targets:
      - { type: amqp, connection: rabbit, routing_key: $1.out }
YAML
}
python3 - "$n" > "$out/in/leads.csv" <<'PY'
import sys
n = int(sys.argv[1])
print("id,email,name,score")
for i in range(1, n + 1):
    print(f"{i},lead{i}@example.com,Lead {i},{i % 100}")
PY

for round in $(seq 1 "${NIGHTJAR_BENCH_ROUNDS:-2}"); do
  queue="njbench-$$-r$round"; config "$queue"
  # The consumers each drain a queue of their own, filled alike.
  "$out/amqppeer" publish "$url" "$queue.peer" "$n"
  "$out/amqppeer" publish "$url" "$queue" "$n"
  rm -f "$out/peer.db" "$out/nightjar.db"; rm -rf "$out/.nightjar"
  # Who consumes first alternates by round: both are bound by the broker
  # (nightjar's CPU is ~8% of its wall time), so a change of the machine's
  # load between the two would otherwise favour one side every round.
  t0=$(now)
  if (( round % 2 )); then
    "$out/amqppeer" consume "$url" "$queue.peer" "$out/peer.db"; t1=$(now)
    (cd "$out" && ./nightjar run consume >/dev/null 2>&1); t2=$(now)
  else
    (cd "$out" && ./nightjar run consume >/dev/null 2>&1); tn=$(now)
    "$out/amqppeer" consume "$url" "$queue.peer" "$out/peer.db"; t2=$(now)
    t1=$(python3 -c "print($t0 + $t2 - $tn)") # t1-t0: the peer's time, t2-t1: nightjar's
  fi
  peer_rows=$(sqlite3 "$out/peer.db" 'SELECT COUNT(*) FROM leads')
  nj_rows=$(sqlite3 "$out/nightjar.db" 'SELECT COUNT(*) FROM leads')
  [ "$peer_rows" = "$n" ] && [ "$nj_rows" = "$n" ] || { echo "rows: peer $peer_rows, nightjar $nj_rows, want $n" >&2; exit 1; }
  # Both publish into the same queue, QUEUE.out, emptied by the peer first.
  t3=$(now); "$out/amqppeer" republish "$url" "$queue" "$n"; t4=$(now)
  (cd "$out" && ./nightjar run publish >/dev/null 2>&1); t5=$(now)
  python3 - "$n" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" <<'PY'
import sys
n = int(sys.argv[1]); t = [float(x) for x in sys.argv[2:]]
peer_c, nj_c, peer_p, nj_p = t[1]-t[0], t[2]-t[1], t[4]-t[3], t[5]-t[4]
print(f"consume {n}: peer {peer_c:.2f}s ({n/peer_c:,.0f}/s), nightjar {nj_c:.2f}s ({n/nj_c:,.0f}/s), ratio {nj_c/peer_c:.2f}")
print(f"publish {n}: peer {peer_p:.2f}s ({n/peer_p:,.0f}/s), nightjar {nj_p:.2f}s ({n/nj_p:,.0f}/s), ratio {nj_p/peer_p:.2f}")
PY
  rm -rf "$out/.nightjar"
  "$out/amqppeer" delete "$url" "$queue" -
  "$out/amqppeer" delete "$url" "$queue.peer" -
done
