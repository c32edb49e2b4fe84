#!/usr/bin/env bash
# Live capture speed: replays bench-100m.pcap through lo with `tcpreplay --topspeed` while
# `tlsight live -i lo` captures it, then prints the replay rate, kernel and internal drops, and
# how many of the corpus's connections tlsight saw (next to what `tlsight analyze` finds in
# the file). Needs root (capture and injection on lo). Only the corpus's own MAC addresses
# are captured, so other loopback traffic does not count.
#   bash benches/live.sh                 # corpus made in target/corpora if missing
#   CORPUS_DIR=/path bash benches/live.sh
#   WORKERS=2 BUFFER_MIB=256 bash benches/live.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${SHARED_DIR:-$here/../shared}/bench"
dir="${CORPUS_DIR:-$here/target/corpora}"
workers="${WORKERS:-2}"
buffer="${BUFFER_MIB:-256}"
f="$dir/bench-100m.pcap"
mkdir -p "$dir"

bash "$here/scripts/ensure-deps.sh"
command -v tcpreplay >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpreplay >/dev/null
}
# shellcheck source=benches/corpus.sh
source "$here/benches/corpus.sh"
make_corpus bench-100m
cargo build --release --quiet --manifest-path "$here/Cargo.toml"
tlsight="${CARGO_TARGET_DIR:-$here/target}/release/tlsight"

work="$(mktemp -d)"
cleanup() { [ -n "${tl:-}" ] && kill "$tl" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$tlsight" analyze --quiet "$f" --json "$work/offline.json"
"$tlsight" live -i lo -f 'ether host 02:00:00:00:00:01' --workers "$workers" \
    --buffer-size "$buffer" --interval 1s --quiet --json "$work/live.json" \
    --ndjson "$work/live.ndjson" 2>"$work/live.err" &
tl=$!
until grep -q "capturing on lo" "$work/live.err"; do sleep 0.1; done
tcpreplay --topspeed -i lo "$f" >"$work/replay.txt" 2>&1
sleep 2
kill -INT "$tl"
wait "$tl"
tl=""

python3 - "$work" <<'PY'
import json, re, sys
work = sys.argv[1]
replay = open(f"{work}/replay.txt").read()
off = json.load(open(f"{work}/offline.json"))
live = json.load(open(f"{work}/live.json"))
rated = re.search(r"Rated: ([\d.]+) Bps, ([\d.]+) Mbps, ([\d.]+) pps", replay)
sent = re.search(r"Actual: (\d+) packets .* in ([\d.]+) seconds", replay)
drops = re.search(r"dropped: (\d+) by the kernel \(ps_drop\), (\d+) by the interface "
                  r"\(ps_ifdrop\), (\d+) TCP segments", open(f"{work}/live.err").read())
windows = [json.loads(l) for l in open(f"{work}/live.ndjson") if '"type":"window"' in l]
queue = windows[-1]["drops_total"]["queue_dropped_segments"] if windows else None
print(f"replay: {sent.group(1)} packets in {sent.group(2)} s = {float(rated.group(3)):,.0f} pps, "
      f"{rated.group(2)} Mbit/s")
print(f"drops: kernel ps_drop {drops.group(1)}, ps_ifdrop {drops.group(2)}, "
      f"tlsight queues {drops.group(3)} segments (last window total: {queue})")
for name, r in [("analyze (file)", off), ("live (lo)", live)]:
    s = r["summary"]
    print(f"{name:15} packets {s['input']['packets']:>8}  tcp connections "
          f"{s['input']['tcp_connections']:>6}  tls connections {s['tls_connections']:>6}  "
          f"outcomes {json.dumps(s['outcomes'], sort_keys=True)}")
PY
