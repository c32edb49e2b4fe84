#!/usr/bin/env bash
# QUIC in the pipeline (issue 13): what a QUIC connection costs next to a TCP one.
#
#   CORPUS_DIR=/path bash benches/quic.sh [RUNS]    # 5 alternations by default
#   CALLGRIND=0 bash benches/quic.sh 3              # without the instruction counts
#
# 1. Makes the corpora if missing (benches/corpus.sh): handshakes-only (100,000 TCP
#    connections), quic-only (100,000 QUIC connections over the same 17 s, every one with fresh
#    connection IDs and Initials re-protected under its own keys: nothing can be cached across
#    connections), quic-mix (both merged by time), and the 10 % slices handshakes-10k, quic-10k.
# 2. Checks the analysis of quic-only before timing it: every QUIC connection has a record with
#    its ClientHello and ServerHello, no Initial was undecryptable, every client DCID distinct.
# 3. Alternates, RUNS times, `tlsight analyze FILE --ndjson /dev/null` on handshakes-only,
#    quic-only and quic-mix and the flow-table floor (../shared/bench/floor: TCP only, so on
#    quic-only it only reads and decodes), and prints medians of wall, CPU (user+sys) and peak
#    RSS, CPU per connection, and QUIC's per-connection CPU over TCP's (goal: <= 1.5x). Also
#    quic-only with --idle-timeout 1: QUIC shows no close, so by default (300 s) every QUIC
#    flow of the 17 s capture is held to the end and closed in the final drain; with 1 s they
#    close during the run, as the TCP connections do at their FIN.
# 4. Counts instructions (valgrind --tool=callgrind, --workers 1, deterministic) on
#    handshakes-10k and quic-10k, less an empty capture's (the binary's startup), per
#    connection. The machine is shared: the load average is printed with the times.
# SHARED_DIR: the shared folder (default: ../shared beside the repository).
# CARGO_TARGET_DIR is honoured for both builds.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED_DIR:-$here/../shared}/bench"
runs="${1:-5}"
dir="${CORPUS_DIR:-$here/target/corpora}"
target="${CARGO_TARGET_DIR:-$here/target}"
callgrind="${CALLGRIND:-1}"
mkdir -p "$dir"

# shellcheck source=benches/corpus.sh
source "$here/benches/corpus.sh"
# shellcheck source=benches/measure.sh
source "$here/benches/measure.sh"

bash "$here/scripts/ensure-deps.sh"
apt_get() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
[ -x /usr/bin/time ] || apt_get time
[ "$callgrind" = 0 ] || command -v valgrind >/dev/null 2>&1 || apt_get valgrind
# quic_corpus.py re-protects Initials with Python's `cryptography` (AES-GCM, AES-ECB).
python3 -c "import cryptography" 2>/dev/null || python3 -m pip install --quiet "cryptography>=3.1"
cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target-dir "$target"
cargo build --release --quiet --manifest-path "$shared/floor/Cargo.toml" --target-dir "$target/floor" \
    2>"$dir/floor-build.log" || { cat "$dir/floor-build.log" >&2; exit 1; }
tlsight="$target/release/tlsight"
floor="$target/floor/release/flowfloor"

for name in handshakes-only quic-only quic-mix handshakes-10k quic-10k; do make_corpus "$name"; done

# Connections of transport $2 in the --json report $1.
connections() {
    python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(t['connections'] for t in d['transports'] if t['transport'] == sys.argv[2]))" "$1" "$2"
}

echo "== check: the analysis of quic-only"
"$tlsight" analyze --quiet "$dir/quic-only.pcap" --ndjson "$dir/quic-only.ndjson" \
    --json "$dir/quic-only.report.json"
python3 - "$dir/quic-only.ndjson" 100000 <<'EOF'
import json, sys
records = hellos = undecryptable = 0
dcids = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("type") != "connection" or r.get("transport") != "quic":
        continue
    records += 1
    hellos += bool(r.get("client_hello") and r.get("server_hello"))
    q = r["quic"]
    undecryptable += sum(sum(side.values()) for side in q["undecryptable_initials"].values())
    dcids.add(q["client_dcid"])
want = int(sys.argv[2])
print(f"QUIC records {records} of {want}; with ClientHello and ServerHello {hellos}; "
      f"undecryptable Initials {undecryptable}; distinct client DCIDs {len(dcids)}")
if not (records == hellos == len(dcids) == want and undecryptable == 0):
    sys.exit("quic-only is not analysed right: the timings would measure wrong output")
EOF
rm -f "$dir/quic-only.ndjson"

corpora=(handshakes-only quic-only quic-mix)
declare -A tcp_conns quic_conns
for name in "${corpora[@]}"; do
    "$tlsight" analyze --quiet "$dir/$name.pcap" --json "$dir/$name.report.json"
    tcp_conns[$name]=$(connections "$dir/$name.report.json" tcp)
    quic_conns[$name]=$(connections "$dir/$name.report.json" quic)
done

echo
echo "== tlsight analyze FILE --ndjson /dev/null (workers = $(nproc) cores), $runs alternations, medians; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in "${corpora[@]}"; do
    cat "$dir/$name.pcap" >/dev/null # page cache
    : >"$dir/t.$name"
done
: >"$dir/t.floor.handshakes-only"
: >"$dir/t.floor.quic-only"
: >"$dir/t.idle1"
for _ in $(seq "$runs"); do
    for name in "${corpora[@]}"; do
        measure "$dir/t.$name" "$tlsight" analyze --quiet "$dir/$name.pcap" --ndjson /dev/null
    done
    # QUIC shows no close: its flows are held until the idle timeout (300 s), so on a 17 s
    # capture all of them end in the final drain. With 1 s, they end as the TCP ones do.
    measure "$dir/t.idle1" "$tlsight" analyze --quiet --idle-timeout 1 "$dir/quic-only.pcap" --ndjson /dev/null
    for name in handshakes-only quic-only; do measure "$dir/t.floor.$name" "$floor" "$dir/$name.pcap"; done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %-8s %8s %8s %8s %8s %8s %11s\n' corpus tool tcp quic wall_s cpu_s rss_MiB cpu_us/conn
declare -A cpu
row() { # corpus tool times-file
    local w c r n
    w=$(col '$1' "$3"); c=$(col '$2+$3' "$3"); r=$(col '$4' "$3")
    n=$((tcp_conns[$1] + quic_conns[$1]))
    cpu[$1:$2]="$c"
    awk -v n="$1" -v t="$2" -v tc="${tcp_conns[$1]}" -v qc="${quic_conns[$1]}" -v w="$w" -v c="$c" \
        -v r="$r" -v k="$n" 'BEGIN { printf "%-16s %-8s %8d %8d %8.2f %8.2f %8.1f %11.2f\n",
        n, t, tc, qc, w, c, r / 1024, c * 1e6 / k }'
}
for name in "${corpora[@]}"; do row "$name" tlsight "$dir/t.$name"; done
row quic-only idle=1s "$dir/t.idle1"
for name in handshakes-only quic-only; do row "$name" floor "$dir/t.floor.$name"; done
awk -v t="${cpu[handshakes-only:tlsight]}" -v q="${cpu[quic-only:tlsight]}" \
    -v i="${cpu[quic-only:idle=1s]}" -v m="${cpu[quic-mix:tlsight]}" \
    -v tn="${tcp_conns[handshakes-only]}" -v qn="${quic_conns[quic-only]}" \
    -v mq="${quic_conns[quic-mix]}" 'BEGIN {
    printf "QUIC / TCP CPU per connection: %.2fx (goal <= 1.5x)\n", (q / qn) / (t / tn)
    printf "same, QUIC flows closed 1 s after their last packet (--idle-timeout 1): %.2fx\n",
        (i / qn) / (t / tn)
    printf "in the mix, (mix - handshakes-only) per QUIC connection: %.2f us (%.2fx TCP)\n",
        (m - t) * 1e6 / mq, ((m - t) / mq) / (t / tn) }'

[ "$callgrind" = 0 ] && exit 0
echo
echo "== callgrind, --workers 1, instructions per connection (less an empty capture's)"
head -c 24 "$dir/handshakes-10k.pcap" >"$dir/empty.pcap" # the pcap header alone
instructions() { # corpus -> total instructions
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.$1.out" "$tlsight" analyze --quiet \
        --workers 1 "$dir/$1.pcap" --ndjson /dev/null >/dev/null 2>&1
    awk '/^summary:/ {print $2}' "$dir/cg.$1.out"
}
empty=$(instructions empty)
printf '%-16s %12s %11s %14s\n' corpus instructions connections per_connection
declare -A per
for name in handshakes-10k quic-10k; do
    total=$(instructions "$name")
    "$tlsight" analyze --quiet "$dir/$name.pcap" --json "$dir/$name.report.json"
    n=$(($(connections "$dir/$name.report.json" tcp) + $(connections "$dir/$name.report.json" quic)))
    per[$name]=$(((total - empty) / n))
    printf '%-16s %12d %11d %14d\n' "$name" "$total" "$n" "${per[$name]}"
done
printf '%-16s %12d\n' empty "$empty"
awk -v t="${per[handshakes-10k]}" -v q="${per[quic-10k]}" \
    'BEGIN { printf "QUIC / TCP instructions per connection: %.2fx\n", q / t }'
