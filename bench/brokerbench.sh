# Shared by bench/nats.sh and bench/amqp.sh (sourced): times one side's
# run and prints each round and the medians. Each side of a round runs
# against broker state of its own made the same way just before it (a
# queue or stream filled with N messages, or an empty one to publish
# into), and the side that goes first alternates by round, so neither
# inherits the other's leftovers (a fuller queue, a broker still busy)
# or a change of the machine's load.
#
# measure VAR PID CMD...: runs CMD and sets VAR to "wall cpu broker_cpu
# cpu_stall" in seconds: CMD's wall time, its user+sys CPU (GNU time), the
# CPU the broker process PID used meanwhile (from /proc; 0 when PID is
# empty) and how long some task on the machine waited for a CPU meanwhile
# (/proc/pressure/cpu; 0 where the kernel has none). On a machine of two
# cores the broker's CPU and the client's compete: a side that spends more
# CPU slows the broker it waits on, and other work on the machine slows
# both, by as much as the stall says.
now() { date +%s.%N; }
ticks() { if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then awk '{print $14+$15}' "/proc/$1/stat"; else echo 0; fi; }
stall() { if [ -r /proc/pressure/cpu ]; then awk -F'total=' '/^some/ {print $2}' /proc/pressure/cpu; else echo 0; fi; }
measure() {
  local var=$1 pid=$2; shift 2
  local b0 s0 t0 t1 b1 s1 cpu
  b0=$(ticks "$pid"); s0=$(stall); t0=$(now)
  /usr/bin/time -f "%U %S" -o "$out/time" "$@" >/dev/null 2>"$out/stderr" || { cat "$out/stderr" >&2; exit 1; }
  t1=$(now); b1=$(ticks "$pid"); s1=$(stall)
  cpu=$(tail -1 "$out/time" | awk '{print $1+$2}')
  printf -v "$var" '%s' "$(python3 -c "print(f'{$t1-$t0:.2f} $cpu {($b1-$b0)/$(getconf CLK_TCK):.2f} {($s1-$s0)/1e6:.2f}')")"
}
# report ROUND CASE N PEER NIGHTJAR: one line, appended to $out/rounds.
report() {
  python3 - "$@" <<'PY' | tee -a "$out/rounds"
import sys, os
r, case, n, peer, nj = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(), sys.argv[5].split()
pw, pc, pb, ps = map(float, peer); nw, nc, nb, ns = map(float, nj)
load = os.getloadavg()[0]
print(f"round {r} {case} {n}: peer {pw:.2f}s (cpu {pc:.2f}s, broker {pb:.2f}s, cpu stall {ps:.2f}s), "
      f"nightjar {nw:.2f}s (cpu {nc:.2f}s, broker {nb:.2f}s, cpu stall {ns:.2f}s), ratio {nw/pw:.2f}, load {load:.1f}")
PY
}
# summary: the median ratio of each case over the rounds.
summary() {
  python3 - "$out/rounds" <<'PY'
import sys, re, statistics
cases = {}
for line in open(sys.argv[1]):
    m = re.match(r"round \d+ (\w+) .* ratio ([\d.]+), load ([\d.]+)", line)
    if m:
        cases.setdefault(m[1], []).append((float(m[2]), float(m[3])))
for case, rs in cases.items():
    ratios = [r for r, _ in rs]; loads = [l for _, l in rs]
    print(f"{case}: ratios {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f} "
          f"over {len(rs)} rounds, load {min(loads):.1f}-{max(loads):.1f}")
PY
}
# consume SIDE NAME: fills the queue or stream NAME with $n leads (the
# peer's publish), has SIDE (peer or nightjar) drain it into SQLite, checks
# the rows and deletes NAME. The caller sets out, url, n, peer (the peer's
# binary), broker (its PID) and the nightjar.yaml whose consume job reads
# NAME for the nightjar side.
consume() {
  "$peer" publish "$url" "$2" "$n"
  rm -rf "$out/$1.db" "$out/.nightjar"
  if [ "$1" = peer ]; then
    measure peer_c "$broker" "$peer" consume "$url" "$2" "$out/peer.db"
  else
    measure nj_c "$broker" bash -c "cd $out && exec ./nightjar run consume"
  fi
  local rows; rows=$(sqlite3 "$out/$1.db" 'SELECT COUNT(*) FROM leads')
  [ "$rows" = "$n" ] || { echo "consume: $1 loaded $rows rows, want $n" >&2; exit 1; }
  "$peer" delete "$url" "$2" -
}
# publish SIDE NAME: makes NAME an empty queue or stream ($empty: the
# peer's command for it), has SIDE publish $n records into it, checks that
# it holds them and deletes it.
publish() {
  "$peer" "$empty" "$url" "$2" -
  rm -rf "$out/.nightjar"
  if [ "$1" = peer ]; then
    measure peer_p "$broker" "$peer" republish "$url" "$2" "$n"
  else
    measure nj_p "$broker" bash -c "cd $out && exec ./nightjar run publish"
  fi
  local got; got=$("$peer" count "$url" "$2" -)
  [ "$got" = "$n" ] || { echo "publish: $1 left $got messages, want $n" >&2; exit 1; }
  "$peer" delete "$url" "$2" -
}
# rounds: NIGHTJAR_BENCH_ROUNDS rounds (default 3) of both cases, the side
# that goes first alternating; names SIDE CASE gives each side's queue or
# stream. Then the medians.
rounds() {
  local round side sides
  for round in $(seq 1 "${NIGHTJAR_BENCH_ROUNDS:-3}"); do
    if (( round % 2 )); then sides="peer nightjar"; else sides="nightjar peer"; fi
    for side in $sides; do consume "$side" "$(names "$side" consume)"; done
    report "$round" consume "$n" "$peer_c" "$nj_c"
    for side in $sides; do publish "$side" "$(names "$side" publish)"; done
    report "$round" publish "$n" "$peer_p" "$nj_p"
  done
  summary
}
# leads N FILE: the CSV the publishing jobs read.
leads() {
  python3 - "$1" > "$2" <<'PY'
import sys
n = int(sys.argv[1])
print("id,email,name,score")
for i in range(1, n + 1):
    print(f"{i},lead{i}@example.com,Lead {i},{i % 100}")
PY
}
