#!/usr/bin/env bash
# What `tlsight check` costs on top of `tlsight analyze`: the records it reads back (parsed
# into compact views as the pipeline writes them) and its evaluation. Alternates, RUNS times,
#   analyze FILE --ndjson /dev/null --quiet          (writing the records, the baseline)
#   check FILE --policy benches/check-policy.toml -q  (the same, read back and judged)
#   check RECORDS.ndjson --policy ... -q              (records written earlier: parsing alone)
# and prints medians of wall time, CPU time and peak RSS.
#
#   CORPUS_DIR=/path bash benches/check.sh [RUNS] [CORPUS]   # default: 5 runs, handshakes-only
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED_DIR:-$here/../shared}/bench"
runs="${1:-5}"
name="${2:-handshakes-only}"
dir="${CORPUS_DIR:-$here/target/corpora}"
target="${CARGO_TARGET_DIR:-$here/target}"
mkdir -p "$dir"
# shellcheck source=benches/corpus.sh
source "$here/benches/corpus.sh"
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target-dir "$target"
tlsight="$target/release/tlsight"
make_corpus "$name"
f="$dir/$name.pcap"
records="$dir/$name.check.ndjson"
"$tlsight" analyze "$f" --ndjson "$records" --quiet
policy="$here/benches/check-policy.toml"
cat "$f" "$records" >/dev/null # page cache

measure() {
    local out="$1"; shift
    /usr/bin/time -o "$dir/t.one" -f "%e %U %S %M" "$@" >/dev/null 2>&1 || true
    grep -E "^[0-9]" "$dir/t.one" >>"$out" # not the "exited with status 4" line
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
rm -f "$dir"/check.*.times
for _ in $(seq "$runs"); do
    measure "$dir/check.analyze.times" "$tlsight" analyze "$f" --ndjson /dev/null --quiet
    measure "$dir/check.capture.times" "$tlsight" check "$f" --policy "$policy" --quiet
    measure "$dir/check.records.times" "$tlsight" check "$records" --policy "$policy" --quiet
done
printf '%-32s %7s %7s %8s\n' "$name ($runs runs, medians)" wall_s cpu_s rss_MiB
for what in analyze capture records; do
    t="$dir/check.$what.times"
    wall=$(awk '{print $1}' "$t" | median)
    cpu=$(awk '{print $2 + $3}' "$t" | median)
    rss=$(awk '{print $4 / 1024}' "$t" | median)
    case $what in
        analyze) label="analyze --ndjson /dev/null" ;;
        capture) label="check CAPTURE" ;;
        records) label="check RECORDS.ndjson" ;;
    esac
    printf '%-32s %7.2f %7.2f %8.1f\n' "$label" "$wall" "$cpu" "$rss"
done
