#!/usr/bin/env bash
# XML files: N generated leads (default 3.6M, about 1.1 GB of XML) with
# namespaces, read by the files source (record_path c:leads/l:lead) and
# written to CSV, against the same records as CSV read the same way, in the
# same run. Prints rows per second of each, their ratio (XML / CSV, higher
# is better), and peak RSS (bench/memtime: also the private part); the target is a peak RSS under
# 100 MB whatever the input size. The generated files stay in bench/out.
#   bench/xml.sh [ROWS] [REPEAT]   (NIGHTJAR_SHARED: the shared folder, default ../shared)
set -euo pipefail
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
cd "$(dirname "$0")/.."
rows=${1:-3600000}
repeat=${2:-1}
out=bench/out
mkdir -p "$out"

csv="$out/leads-$rows.csv"
[ -s "$csv" ] || python3 "${NIGHTJAR_SHARED:-../shared}/bench/gen-leads" "$rows" > "$csv"
xml="$out/leads-$rows.xml"
# The same records as XML: id an attribute, the other fields elements in a
# namespace whose prefix (l:) is not the one the config uses (n:).
[ -s "$xml" ] || go run ./bench/xmlleads "$csv" > "$xml"

bin=${NIGHTJAR_BIN:-$out/nightjar-xml}
[ -n "${NIGHTJAR_BIN:-}" ] || go build -o "$bin" ./cmd/nightjar

work="$out/xml"
rm -rf "$work"; mkdir -p "$work/in"
ln "$csv" "$work/in/leads.csv"
ln "$xml" "$work/in/leads.xml"
cat > "$work/nightjar.yaml" <<YAML
jobs:
  xml2csv:
    source:
      type: files
      path: in/leads.xml
      settle: 0s
      xml:
        record_path: c:leads/n:lead
        namespaces: { c: "urn:example:crm", n: "urn:example:lead" }
    targets: [ { type: file, path: out/xml.csv } ]
  csv2csv:
    source: { type: files, path: in/leads.csv, settle: 0s }
    targets: [ { type: file, path: out/csv.csv } ]
YAML
printf "%s: %d rows, %d MB; %s: %d MB\n" "$xml" "$rows" "$(($(stat -c %s "$xml") / 1000000))" "$csv" "$(($(stat -c %s "$csv") / 1000000))"

results="$work/results"
: > "$results"
for i in $(seq "$repeat"); do
  for job in csv2csv xml2csv; do
    rm -rf "$work/.nightjar" "$work/out/${job%2csv}.csv"
    bench/memtime -o "$work/$job.time" -- "$bin" run -c "$work/nightjar.yaml" "$job" > "$work/$job.out" 2>&1
    n=$(($(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))))' "$work/out/${job%2csv}.csv") - 1))
    [ "$n" = "$rows" ] || { echo "$job wrote $n rows, want $rows" >&2; exit 1; }
    awk -v job="$job" '{ printf "%s %.2f %.2f %d %d\n", job, $1, $2 + $3, $4, $5 }' "$work/$job.time" >> "$results"
  done
done
cmp -s <(tail -n +2 "$work/out/xml.csv") <(tail -n +2 "$work/out/csv.csv") &&
  echo "the XML and the CSV gave the same rows (the CSV outputs differ only in the header: @id, id)"
awk -v rows="$rows" '
  { wall[$1] += $2; cpu[$1] += $3; if ($4 > rss[$1]) rss[$1] = $4; if ($5 > anon[$1]) anon[$1] = $5; c[$1]++ }
  END {
    for (k in c) printf "  %-8s wall %7.1f s  cpu %7.1f s  %9.0f rows/s (wall)  peak RSS %4.0f MB (private %3.0f MB)\n", k, wall[k] / c[k], cpu[k] / c[k], rows * c[k] / wall[k], rss[k] / 1024, anon[k] / 1024
    printf "  xml / csv rows per second = %.3f by wall time, %.3f by CPU time\n", wall["csv2csv"] / wall["xml2csv"], cpu["csv2csv"] / cpu["xml2csv"]
    printf "  xml peak RSS = %.0f MB (target < 100)\n", rss["xml2csv"] / 1024
  }' "$results"
