#!/usr/bin/env bash
# File formats, N generated leads (default 1M), same file, same run:
#   CSV → CSV pass-through: nightjar against `mlr --icsv --ocsv cat`
#   JSONL → CSV of the same rows, against nightjar's own CSV → CSV
# Prints wall times, peak RSS (GNU time) and the ratios (lower is better).
#   bench/files.sh [ROWS] [REPEAT]
set -euo pipefail
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
cd "$(dirname "$0")/.."
rows=${1:-1000000}
repeat=${2:-3}
out=bench/out
mkdir -p "$out"
command -v mlr >/dev/null || apt-get install -y miller >/dev/null

csv="$out/leads-$rows.csv"
[ -s "$csv" ] || python3 ../shared/bench/gen-leads "$rows" > "$csv"
jsonl="$out/leads-$rows.jsonl"
[ -s "$jsonl" ] || python3 -c '
import csv, json, sys
for r in csv.DictReader(open(sys.argv[1], newline="")):
    print(json.dumps(r, ensure_ascii=False))' "$csv" > "$jsonl"
# A binary of its own (other bench scripts rebuild bench/out/nightjar), or
# the one NIGHTJAR_BIN names.
bin=${NIGHTJAR_BIN:-$out/nightjar-files}
[ -n "${NIGHTJAR_BIN:-}" ] || go build -o "$bin" ./cmd/nightjar

work="$out/files"
# Hard links: the files source refuses symbolic links leading outside its root.
rm -rf "$work"; mkdir -p "$work/in"
ln "$csv" "$work/in/leads.csv"
ln "$jsonl" "$work/in/leads.jsonl"
cat > "$work/nightjar.yaml" <<YAML
jobs:
  csv2csv:
    source: { type: files, path: in/leads.csv, settle: 0s }
    targets: [ { type: file, path: out/csv.csv } ]
  jsonl2csv:
    source: { type: files, path: in/leads.jsonl, settle: 0s }
    targets: [ { type: file, path: out/jsonl.csv } ]
YAML

# measure NAME CMD...: appends "NAME seconds peak_kB private_kB" to the
# results (bench/memtime).
results="$work/results"
: > "$results"
measure() {
  local name=$1; shift
  bench/memtime -o "$work/time" -- "$@" > /dev/null
  read -r wall _ _ rss anon < "$work/time"
  echo "$name $wall $rss $anon" >> "$results"
}
for i in $(seq "$repeat"); do
  measure mlr mlr --icsv --ocsv cat "$csv"
  rm -rf "$work/.nightjar" "$work/out"
  measure csv2csv "$bin" run -c "$work/nightjar.yaml" csv2csv
  measure jsonl2csv "$bin" run -c "$work/nightjar.yaml" jsonl2csv
done
n=$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline="")))-1)' "$work/out/csv.csv")
[ "$n" = "$rows" ] || { echo "csv2csv wrote $n rows, want $rows" >&2; exit 1; }
cmp -s "$csv" "$work/out/csv.csv" && echo "csv2csv output is byte-identical to its input"

awk -v rows="$rows" '
  { t[$1] = t[$1] " " $2; m[$1] = ($3 > m[$1] ? $3 : m[$1]); a[$1] = ($4 > a[$1] ? $4 : a[$1]); s[$1] += $2; c[$1]++
    if (!($1 in lo) || $2 < lo[$1]) lo[$1] = $2; if ($2 > hi[$1]) hi[$1] = $2 }
  END {
    printf "%d rows, %d runs each (seconds: min..max; peak RSS max)\n", rows, c["mlr"]
    for (k in c) printf "  %-10s %5.2f..%5.2f s  peak RSS %5.0f MB (private %4.0f MB)\n", k, lo[k], hi[k], m[k] / 1024, a[k] / 1024
    printf "  csv2csv / mlr time     = %.2f..%.2f (target ≤ 0.33)\n", lo["csv2csv"] / hi["mlr"], hi["csv2csv"] / lo["mlr"]
    printf "  csv2csv / mlr memory   = %.3f (target < 0.1); private %.3f\n", m["csv2csv"] / m["mlr"], a["csv2csv"] / a["mlr"]
    printf "  jsonl2csv / csv2csv    = %.2f..%.2f (target ≤ 2)\n", lo["jsonl2csv"] / hi["csv2csv"], hi["jsonl2csv"] / lo["csv2csv"]
  }' "$results"
