#!/usr/bin/env bash
# Print, per capture, what tshark sees in every TLS-carrying frame (frame, TCP stream, sender port, Info).
# Used to check that README.md states only what is really in each file.
#   bash captures/summarize.sh                 all captures
#   bash captures/summarize.sh 'tls13*.pcap'   a glob (quoted)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
pattern=${1:-*.pcap*}
for g in $pattern; do
    printf '### %s (%s bytes, %s packets)\n' "$g" "$(stat -c %s "$g")" "$(tshark -r "$g" 2>/dev/null | wc -l)"
    tshark -r "$g" -Y 'tls || smtp' -T fields -E separator=' ' -e frame.number -e tcp.stream -e tcp.srcport \
        -e _ws.col.Info 2>&1
done
