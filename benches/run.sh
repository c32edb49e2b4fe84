#!/usr/bin/env bash
# End-to-end benchmark: tlsight next to the flow-table floor (../shared/bench/floor), alternated
# in one run, on the standard corpora made by ../shared/bench/make_corpus.py.
#   bash benches/run.sh [RUNS]            # default 5 runs of each, medians printed
#   CORPUS_DIR=/path bash benches/run.sh  # where the corpora are (made there if missing)
#   CORPORA="bench-100m" bash benches/run.sh 1   # a quick smoke run on a small corpus
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="$here/../shared/bench"
runs="${1:-5}"
dir="${CORPUS_DIR:-$here/target/corpora}"
corpora="${CORPORA:-bench-1g handshakes-only}"
mkdir -p "$dir"

make_corpus() {
    local name="$1" out="$dir/$1.pcap"
    [ -s "$out" ] && return
    echo "making $out" >&2
    case "$name" in
        bench-1g) args=(--input "$shared/seed/seed-app.pcap:15" --input "$shared/seed/seed-hs.pcap:85" --flows 90000 --seed 1) ;;
        handshakes-only) args=(--input "$shared/seed/seed-hs.pcap" --flows 100000 --seed 2) ;;
        bench-100m) args=(--input "$shared/seed/seed-app.pcap:15" --input "$shared/seed/seed-hs.pcap:85" --flows 9000 --seed 1) ;;
        handshakes-10k) args=(--input "$shared/seed/seed-hs.pcap" --flows 10000 --seed 2) ;;
        *) echo "unknown corpus $name" >&2; exit 2 ;;
    esac
    python3 "$shared/make_corpus.py" "${args[@]}" --out "$out"
}

bash "$here/scripts/ensure-deps.sh"
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
cargo build --release --quiet --manifest-path "$shared/floor/Cargo.toml" --target-dir "$here/target/floor"
tlsight="$here/target/release/tlsight"
floor="$here/target/floor/release/flowfloor"

# Prints "wall_s user_s sys_s maxrss_kib" of one command.
measure() {
    /usr/bin/time -o "$dir/t.one" -f "%e %U %S %M" "$@" >/dev/null 2>&1
    cat "$dir/t.one"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '%-16s %-8s %8s %8s %9s %9s %10s %12s %12s %8s\n' corpus tool wall_s cpu_s rss_mib MB/s kpkt/s handshakes/s connections ratio
for name in $corpora; do
    make_corpus "$name"
    f="$dir/$name.pcap"
    bytes=$(stat -c %s "$f")
    cat "$f" >/dev/null # page cache
    : >"$dir/t.tlsight"; : >"$dir/t.floor"
    for _ in $(seq "$runs"); do
        measure "$tlsight" analyze --quiet "$f" --ndjson /dev/null >>"$dir/t.tlsight"
        measure "$floor" "$f" >>"$dir/t.floor"
    done
    "$tlsight" analyze --quiet "$f" --json "$dir/$name.report.json"
    read -r packets conns hellos < <(python3 -c "
import json,sys
d=json.load(open(sys.argv[1]))
print(d['summary']['input']['packets'], d['summary']['tls_connections'], sum(v['count'] for v in d['versions_negotiated']))" "$dir/$name.report.json")
    fw=$(awk '{print $1}' "$dir/t.floor" | median)
    for tool in tlsight floor; do
        w=$(awk '{print $1}' "$dir/t.$tool" | median)
        c=$(awk '{print $2+$3}' "$dir/t.$tool" | median)
        r=$(awk '{print $4}' "$dir/t.$tool" | median)
        awk -v n="$name" -v t="$tool" -v w="$w" -v c="$c" -v r="$r" -v b="$bytes" -v p="$packets" -v h="$hellos" -v k="$conns" -v fw="$fw" 'BEGIN {
            printf "%-16s %-8s %8.2f %8.2f %9.1f %9.0f %10.0f %12.0f %12s %7.2fx\n", n, t, w, c, r/1024, b/1e6/w, p/1e3/w, (t=="tlsight"?h/w:0), (t=="tlsight"?k:"-"), w/fw }'
    done
done
