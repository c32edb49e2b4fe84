#!/usr/bin/env bash
# Bounded memory under attack: makes each attack capture (benches/flood.py) if missing, runs
#   tlsight analyze FILE --ndjson OUT --json REPORT --quiet [FLAGS...]
# under /usr/bin/time, and prints peak RSS, the caps hit (from the report), the connections
# without TLS, and how many of the legitimate handshakes mixed into the flood were reported as
# established (10,000 in the floods of a million, 20 in the others).
# Usage: bash benches/flood.sh [KIND...] [-- FLAGS...]
#   KIND: syn-flood syn-answered scan-refused udp-flood quic-initials ooo-flood ooo-tiny
#         big-message many-extensions (default: all; quic-initials takes minutes to make: every
#         Initial is sealed anew, and needs `cryptography`)
#   FLOOD_DIR: where the captures go (default /tmp/tlsight-flood; about 2.2 GB, and the
#         quic-initials records 2.6 GB)
#   TLSIGHT: the binary to measure (default: this checkout's release build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kinds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do kinds+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#kinds[@]} -eq 0 ] && kinds=(syn-flood syn-answered scan-refused udp-flood quic-initials
    ooo-flood ooo-tiny big-message many-extensions)
dir="${FLOOD_DIR:-/tmp/tlsight-flood}"
mkdir -p "$dir"
bin="${TLSIGHT:-${CARGO_TARGET_DIR:-target}/release/tlsight}"
[ -x "$bin" ] || cargo build --release --quiet
printf '%-16s %8s %8s %7s %8s %9s %8s %8s %s\n' capture packets "RSS MiB" wall_s evicted \
    half-open flowcap totalcap "legit established / notes"
for kind in "${kinds[@]}"; do
    pcap="$dir/$kind.pcap"
    [ -f "$pcap" ] && [ -f "$pcap.legit" ] || python3 benches/flood.py "$kind" "$pcap" 2>/dev/null
    out="$dir/$kind.ndjson"
    report="$dir/$kind.json"
    timing="$dir/$kind.time"
    code=0
    /usr/bin/time -o "$timing" -f '%M %e' "$bin" analyze "$pcap" --ndjson "$out" --json "$report" \
        --quiet "$@" || code=$?
    read -r rss_kib wall <"$timing"
    python3 - "$kind" "$out" "$report" "$rss_kib" "$wall" "$code" "$pcap.legit" <<'PY'
import json, sys
kind, out, report, rss_kib, wall, code, legit_file = sys.argv[1:]
r = json.load(open(report))
i = r["summary"]["input"]
# Read record by record: a flood's NDJSON can hold a million records (gigabytes).
ok, attack = 0, []
for line in open(out):
    c = json.loads(line)
    ip = c["client"]["ip"]
    ok += ip.startswith("192.0.") and c["outcome"] == "established"
    if ip == "10.200.0.1":
        attack.append(c)
notes = f"{ok}/{open(legit_file).read().strip()}"
without = r["summary"].get("tcp_without_tls")
if without and without["connections"]:
    notes += "; without TLS: " + ", ".join(f"{k} {v}" for k, v in without.items() if v)
if i.get("udp_datagrams"):
    notes += (f"; UDP datagrams {i['udp_datagrams']}, not QUIC/DTLS {i.get('udp_not_tls', 0)}, "
              f"UDP flows {i.get('udp_flows', 0)}, UDP flows evicted {i.get('udp_flows_evicted', 0)}")
if code != "0":
    notes += f" exit {code}"
for c in attack:
    notes += f"; attack record: anomalies {c['anomalies']}"
    extensions = (c.get("client_hello") or {}).get("extensions") or []
    if extensions:
        notes += f", {len(extensions)} ClientHello extensions listed"
print(f"{kind:<16} {i['packets']:>8} {int(rss_kib) / 1024:>8.0f} {float(wall):>7.2f} "
      f"{i['flows_evicted']:>8} {i.get('half_open_evicted', '-'):>9} "
      f"{i['flow_buffer_cap_hits']:>8} {i['total_buffer_cap_hits']:>8} {notes}")
PY
done
