#!/usr/bin/env bash
# The chain rename → trim → lower → cast → filter on N generated leads
# (default 1M), CSV → CSV: nightjar against Miller doing the same on the
# same file in the same run, as a ratio of wall times (issue 4's target:
# nightjar ≤ 0.3 × Miller). Both outputs must have the same row count.
#   bench/chain-vs-miller.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
out=bench/out
mkdir -p "$out"
command -v mlr >/dev/null || apt-get install -y miller >/dev/null

csv="$out/leads-$rows.csv"
[ -s "$csv" ] || python3 ../shared/bench/gen-leads "$rows" > "$csv"
size=$(stat -c %s "$csv")
go build -o "$out/nightjar" ./cmd/nightjar

work="$out/chain"
rm -rf "$work"; mkdir -p "$work"
ln "$csv" "$work/leads.csv" 2>/dev/null || cp "$csv" "$work/leads.csv"
cat > "$work/nightjar.yaml" <<YAML
jobs:
  leads:
    source: { type: files, path: leads.csv }
    steps:
      - rename: { id: lead_id, score: lead_score }
      - trim: [email, first_name]
      - lower: [email]
      - cast: { lead_id: int, lead_score: int }
      - filter: 'lead_score >= 50'
    targets:
      - { type: file, path: out.csv }
YAML

now() { date +%s.%N; }
t0=$(now)
mlr --icsv --ocsv rename id,lead_id,score,lead_score \
  then put '$email = tolower(strip($email)); $first_name = strip($first_name); $lead_id = int($lead_id); $lead_score = int($lead_score)' \
  then filter '$lead_score >= 50' "$csv" > "$work/miller.csv"
t1=$(now)
"$out/nightjar" run -c "$work/nightjar.yaml" leads > "$work/nightjar.log" 2>&1
t2=$(now)

# Row counts (records, not lines: notes hold newlines) must agree.
peer_rows=$(mlr --icsv --ojson count "$work/miller.csv" | grep -o '[0-9]\+')
our_rows=$(mlr --icsv --ojson count "$work/out.csv" | grep -o '[0-9]\+')
[ "$peer_rows" = "$our_rows" ] || { echo "row counts differ: miller $peer_rows, nightjar $our_rows" >&2; exit 1; }

awk -v a="$t0" -v b="$t1" -v c="$t2" -v size="$size" -v rows="$rows" -v kept="$our_rows" 'BEGIN {
  peer = b - a; ours = c - b
  printf "rename → trim → lower → cast → filter, CSV → CSV, %d rows (%d kept), %.0f MB\n", rows, kept, size / 1e6
  printf "  mlr          %6.2fs\n", peer
  printf "  nightjar run %6.2fs\n", ours
  printf "  ratio nightjar/miller = %.2f (target ≤ 0.3)\n", ours / peer
}'
