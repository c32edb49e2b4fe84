#!/usr/bin/env bash
# End-to-end benchmark: `tlsight analyze FILE --ndjson /dev/null` next to the flow-table floor
# (../shared/bench/floor), alternated run by run, on corpora made by
# ../shared/bench/make_corpus.py (made here if missing). Prints medians of wall time, CPU time,
# peak RSS, MB/s, packets/s, handshakes/s and the ratio to the floor.
#
#   bash benches/run.sh [RUNS]                # 5 runs of each by default
#   CORPUS_DIR=/path bash benches/run.sh      # where the corpora are (made there if missing)
#   CORPORA=handshakes-1k EXTRAS= bash benches/run.sh 1   # smoke run (CI): seconds
#
# CORPORA: the main table (default: bench-1g handshakes-only). EXTRAS (default: all of
# "workers variants scaling flows html") adds, for the corpora named below:
#   workers   tlsight --workers 1 and --workers 2 next to the floor, on every CORPORA entry
#   variants  the same corpus with --reorder 0.01 --drop 0.001 (NAME-rd): wall vs the clean one
#   scaling   10 % slices (bench-100m, handshakes-10k) next to the full ones: cost per GB, RSS
#   flows     handshakes-only made with 500 and 50,000 concurrent flows instead of 5,000
#   html      --html (the HTML report written too) next to the plain run, on every CORPORA
#             entry, and the page's size
# SHARED_DIR: the shared folder (default: ../shared beside the repository).
# CARGO_TARGET_DIR is honoured for both builds.
# PGO (default 1): tlsight is the profile-guided release build (scripts/pgo-build.sh, trained
# on the bundled captures, never on these corpora); the main table also has a `no-pgo` row, the
# plain `cargo build --release` binary, alternated with the rest. PGO=0: the plain build only.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED_DIR:-$here/../shared}/bench"
runs="${1:-5}"
dir="${CORPUS_DIR:-$here/target/corpora}"
corpora="${CORPORA:-bench-1g handshakes-only}"
extras="${EXTRAS-workers variants scaling flows html}"
target="${CARGO_TARGET_DIR:-$here/target}"
mkdir -p "$dir"

# shellcheck source=benches/corpus.sh
source "$here/benches/corpus.sh"

bash "$here/scripts/ensure-deps.sh"
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target-dir "$target"
cargo build --release --quiet --manifest-path "$shared/floor/Cargo.toml" --target-dir "$target/floor" \
    2>"$dir/floor-build.log" || { cat "$dir/floor-build.log" >&2; exit 1; }
plain="$target/release/tlsight"
tlsight="$plain"
[ "${PGO:-1}" = 0 ] || tlsight="$(bash "$here/scripts/pgo-build.sh")"
floor="$target/floor/release/flowfloor"

# shellcheck source=benches/measure.sh
source "$here/benches/measure.sh"

header() {
    printf '%-18s %-11s %7s %7s %8s %7s %8s %11s %11s %12s %7s\n' \
        corpus tool wall_s cpu_s rss_MiB MB/s kpkt/s handshakes/s connections with_SH x_floor
}

# Measures one corpus: the floor and each tlsight configuration ("label:extra args"; the label
# `no-pgo` runs the plain build), alternated, RUNS times; prints one row per tool. Leaves the
# median wall of the last configuration in $last_wall.
# The binary a configuration runs.
binary() {
    case "$1" in no-pgo:*) echo "$plain" ;; *) echo "$tlsight" ;; esac
}

bench() {
    local name="$1"; shift
    local f="$dir/$name.pcap" i label
    make_corpus "$name"
    cat "$f" >/dev/null # page cache
    local bytes; bytes=$(stat -c %s "$f")
    : >"$dir/t.floor"
    for i in "${!configs[@]}"; do : >"$dir/t.cfg$i"; done
    for _ in $(seq "$runs"); do
        for i in "${!configs[@]}"; do
            # shellcheck disable=SC2086
            measure "$dir/t.cfg$i" "$(binary "${configs[$i]}")" analyze --quiet $(echo "${configs[$i]}" | cut -d: -f2-) "$f" --ndjson /dev/null
        done
        measure "$dir/t.floor" "$floor" "$f"
    done
    "$tlsight" analyze --quiet "$f" --json "$dir/$name.report.json" || true
    local packets conns hellos
    read -r packets conns hellos < <(python3 -c "
import json,sys
d=json.load(open(sys.argv[1]))
print(d['summary']['input']['packets'], d['summary']['tls_connections'], sum(v['count'] for v in d['versions_negotiated']))" "$dir/$name.report.json")
    local fw; fw=$(col '$1' "$dir/t.floor")
    row() { # label file
        local w c r
        w=$(col '$1' "$2"); c=$(col '$2+$3' "$2"); r=$(col '$4' "$2")
        awk -v n="$name" -v t="$1" -v w="$w" -v c="$c" -v r="$r" -v b="$bytes" -v p="$packets" \
            -v h="$hellos" -v k="$conns" -v fw="$fw" -v tl="$3" 'BEGIN {
            if (w < 0.01) w = 0.01; if (fw < 0.01) fw = 0.01 # /usr/bin/time resolution
            printf "%-18s %-11s %7.2f %7.2f %8.1f %7.0f %8.0f %11s %11s %12s %6.2fx\n", n, t, w, c, r/1024,
                b/1e6/w, p/1e3/w, (tl ? sprintf("%.0f", h/w) : "-"), (tl ? k : "-"), (tl ? h : "-"), w/fw }'
        last_wall="$w"
    }
    row floor "$dir/t.floor" 0
    for i in "${!configs[@]}"; do
        label=$(echo "${configs[$i]}" | cut -d: -f1)
        row "$label" "$dir/t.cfg$i" 1
    done
}

has() { case " $extras " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

echo "== main: tlsight analyze FILE --ndjson /dev/null (default workers = $(nproc) cores), $runs runs, medians"
header
configs=("tlsight:")
[ "$tlsight" = "$plain" ] || configs=("no-pgo:" "tlsight:")
for name in $corpora; do bench "$name"; done

if has workers; then
    echo
    echo "== workers: --workers 1 vs --workers 2"
    header
    configs=("workers=1:--workers 1" "workers=2:--workers 2")
    for name in $corpora; do bench "$name"; done
fi

if has variants; then
    echo
    echo "== variants: --reorder 0.01 --drop 0.001 (NAME-rd) vs the clean corpus (target: <= 1.3x)"
    header
    configs=("tlsight:")
    for name in $corpora; do
        bench "$name"; clean="$last_wall"
        bench "$name-rd"
        awk -v a="$last_wall" -v b="$clean" -v n="$name" 'BEGIN { printf "%s: variant / clean wall = %.2f\n", n, a/b }'
    done
fi

if has scaling; then
    echo
    echo "== scaling: 10 % slices vs full corpora (memory must not grow with file size)"
    header
    configs=("tlsight:")
    for pair in "bench-100m bench-1g" "handshakes-10k handshakes-only"; do
        for name in $pair; do
            bench "$name"
            awk -v w="$last_wall" -v b="$(stat -c %s "$dir/$name.pcap")" -v n="$name" \
                'BEGIN { printf "%s: %.2f s per GB\n", n, w/(b/1e9) }'
        done
    done
fi

if has flows; then
    echo
    echo "== concurrent flows: handshakes-only with about 500, 5,000 (default) and 50,000 open flows"
    header
    configs=("tlsight:")
    for name in handshakes-c500 handshakes-only handshakes-c50k; do bench "$name"; done
fi

if has html; then
    echo
    echo "== html: the HTML report written too (--html) vs not, and the page's size"
    header
    configs=("tlsight:" "+html:--html $dir/report.html")
    for name in $corpora; do
        bench "$name"
        awk -v b="$(stat -c %s "$dir/report.html")" -v n="$name" \
            'BEGIN { printf "%s: HTML report %.0f KB\n", n, b/1e3 }'
    done
fi
