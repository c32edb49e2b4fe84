#!/usr/bin/env bash
# Record the QUIC scenario captures of captures/quic/ from two real QUIC stacks: aioquic (PyPI)
# and quinn (crates.io, captures/tools/quinn-probe). All traffic stays on loopback (127.0.0.1
# and ::1); each scenario has its own port and its own tcpdump.
#
# Usage: sudo bash captures/quic/record.sh [SCENARIO...]   (default: all)
#
# Installs what it needs: tcpdump and tshark's editcap (apt), aioquic (pip), a Rust toolchain
# is assumed (cargo builds quinn-probe). A fresh self-signed PKI is made in a temp dir on every
# run, so keys, certificates, connection IDs and randoms change; scenario shapes do not.
# Beside each capture X.pcap, X.keys is its TLS key log (SSLKEYLOGFILE format) for the
# key-log issue; the keys protect only these throw-away loopback sessions.
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS="$OUT/../tools/quinn-probe"
T=$(mktemp -d /tmp/tlsight-quic.XXXXXX)
CAP_PID=""

cleanup() {
    set +e
    [[ -n $CAP_PID ]] && kill -INT "$CAP_PID" 2>/dev/null && wait "$CAP_PID" 2>/dev/null
    [[ -n ${KEEP_TMP:-} ]] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT
log() { printf '== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- dependencies
need_apt=()
command -v tcpdump >/dev/null || need_apt+=(tcpdump)
command -v editcap >/dev/null || need_apt+=(tshark)
if ((${#need_apt[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
python3 -c 'import aioquic' 2>/dev/null || python3 -m pip install -q 'aioquic==1.7.2'
cargo build -q --release --manifest-path "$TOOLS/Cargo.toml"
QUINN="$TOOLS/target/release/quinn-probe"

# ---------------------------------------------------------------- PKI
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=tlsight QUIC test CA" -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=server.test" \
    -keyout "$T/server.key" -out "$T/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:server.test,DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:false\n' >"$T/ext.cnf"
openssl x509 -req -in "$T/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -days 30 -extfile "$T/ext.cnf" -out "$T/server.pem" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$T/server.key" -out "$T/server.pk8.pem"
# A ~6 KB certificate (150 subjectAltNames): the server's first flight then exceeds three times
# the client's Initial (the anti-amplification limit), so the server waits for the client's
# Handshake ACK, the client drops its Initial keys (RFC 9001 §4.9.1) and, rejecting the
# certificate later, can close in Handshake packets only.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=server.test" \
    -keyout "$T/server-big.key" -out "$T/server-big.csr" 2>/dev/null
{
    printf 'subjectAltName=DNS:server.test'
    for i in $(seq 150); do printf ',DNS:host-%03d.a-rather-long-test-domain-name.example' "$i"; done
    printf '\nbasicConstraints=CA:false\n'
} >"$T/ext-big.cnf"
openssl x509 -req -in "$T/server-big.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -days 30 -extfile "$T/ext-big.cnf" -out "$T/server-big.pem" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$T/server-big.key" -out "$T/server-big.pk8.pem"

# ---------------------------------------------------------------- capture helpers
# capture_start NAME PORT: tcpdump on lo for UDP PORT into $T/NAME.pcap; capture_stop ends it.
# Immediate mode: otherwise libpcap hands packets over in blocks (up to a second late), and a
# scenario as short as quinn's (milliseconds) would still sit in the kernel at the stop.
capture_start() {
    tcpdump -i lo --immediate-mode -s 0 -U -n -w "$T/$1.pcap" "udp port $2" 2>"$T/$1.tcpdump.log" &
    CAP_PID=$!
    for _ in $(seq 50); do grep -q "listening on" "$T/$1.tcpdump.log" 2>/dev/null && break; sleep 0.1; done
}
capture_stop() {
    sleep 0.5
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    CAP_PID=""
}
keep() { # keep NAME: copy the capture and its key log into captures/quic/
    cp "$T/$1.pcap" "$OUT/$1.pcap"
    if [[ -s $T/$1.keys ]]; then cp "$T/$1.keys" "$OUT/$1.keys"; else rm -f "$OUT/$1.keys"; fi
    log "$1: $(tcpdump -r "$OUT/$1.pcap" 2>/dev/null | wc -l) packets"
}

# aioquic NAME SCENARIO HOST PORT [CERT]   (CERT: server (default) or server-big)
aioquic() {
    local name=$1 scenario=$2 host=$3 port=$4 cert=${5:-server}
    log "aioquic $scenario -> $name.pcap"
    capture_start "$name" "$port"
    python3 "$OUT/aioquic_scenarios.py" "$scenario" "$host" "$port" "$T/$cert.pem" \
        "$T/$cert.key" "$T/ca.pem" "$T/$name.keys" 2>"$T/$name.log" || { cat "$T/$name.log" >&2; }
    capture_stop
    keep "$name"
}

# quinn NAME SCENARIO HOST PORT [CERT]
quinn() {
    local name=$1 scenario=$2 host=$3 port=$4 cert=${5:-server}
    log "quinn $scenario -> $name.pcap"
    capture_start "$name" "$port"
    SSLKEYLOGFILE="$T/$name.keys" timeout 30 "$QUINN" "$scenario" "$host" "$port" \
        "$T/$cert.pem" "$T/$cert.pk8.pem" "$T/ca.pem" 2>"$T/$name.log" || { cat "$T/$name.log" >&2; }
    capture_stop
    keep "$name"
}

ALL=(aioquic-v1-h3 aioquic-v2-h3 aioquic-retry aioquic-version-negotiation
     aioquic-version-negotiation-failed aioquic-resumption-0rtt aioquic-client-hello-3-initials
     aioquic-alpn-mismatch aioquic-no-shared-cipher aioquic-server-refuses
     aioquic-client-rejects-certificate aioquic-silent-server aioquic-ipv6-port-8443
     aioquic-lost-client-initial aioquic-two-connections-one-socket quinn-v1-h3 quinn-retry
     quinn-client-rejects-certificate)
want=("$@")
((${#want[@]})) || want=("${ALL[@]}")

for s in "${want[@]}"; do
    case $s in
        aioquic-v1-h3) aioquic "$s" v1-h3 127.0.0.1 443 ;;
        aioquic-v2-h3) aioquic "$s" v2 127.0.0.1 443 ;;
        aioquic-retry) aioquic "$s" retry 127.0.0.1 443 ;;
        aioquic-version-negotiation) aioquic "$s" version-negotiation 127.0.0.1 443 ;;
        aioquic-version-negotiation-failed) aioquic "$s" version-negotiation-failed 127.0.0.1 443 ;;
        aioquic-resumption-0rtt) aioquic "$s" resumption-0rtt 127.0.0.1 443 ;;
        aioquic-client-hello-3-initials) aioquic "$s" client-hello-3-initials 127.0.0.1 443 ;;
        aioquic-alpn-mismatch) aioquic "$s" alpn-mismatch 127.0.0.1 443 ;;
        aioquic-no-shared-cipher) aioquic "$s" no-shared-cipher 127.0.0.1 443 ;;
        aioquic-server-refuses) aioquic "$s" server-refuses 127.0.0.1 443 ;;
        aioquic-client-rejects-certificate) aioquic "$s" client-rejects-certificate 127.0.0.1 443 server-big ;;
        aioquic-silent-server) aioquic "$s" silent-server 127.0.0.1 443 ;;
        aioquic-ipv6-port-8443) aioquic "$s" ipv6-port-8443 ::1 8443 ;;
        aioquic-lost-client-initial)
            # Capture loss, made after the fact: the first client Initial of the split-ClientHello
            # recording is deleted (frame 1), so the ClientHello's first bytes are missing.
            [[ -f $OUT/aioquic-client-hello-3-initials.pcap ]] ||
                aioquic aioquic-client-hello-3-initials client-hello-3-initials 127.0.0.1 443
            editcap -F pcap -d "$OUT/aioquic-client-hello-3-initials.pcap" "$OUT/$s.pcap" 1
            cp "$OUT/aioquic-client-hello-3-initials.keys" "$OUT/$s.keys" 2>/dev/null || true
            log "$s: frame 1 of aioquic-client-hello-3-initials.pcap deleted" ;;
        aioquic-two-connections-one-socket)
            # Made after the fact: aioquic-v1-h3 replayed twice, 5 s apart, from one client
            # address and port to one server (as one quinn endpoint's socket carries several
            # connections), each replay with fresh connection IDs and its Initials re-sealed.
            [[ -f $OUT/aioquic-v1-h3.pcap ]] || aioquic aioquic-v1-h3 v1-h3 127.0.0.1 443
            python3 "$OUT/../../benches/quic_corpus.py" --seed-dir "$OUT" \
                --seeds aioquic-v1-h3 --flows 2 --span 10 --one-socket --seed 7 --out "$OUT/$s.pcap"
            log "$s: aioquic-v1-h3.pcap replayed twice on one socket" ;;
        quinn-v1-h3) quinn "$s" v1-h3 127.0.0.1 443 ;;
        quinn-retry) quinn "$s" retry 127.0.0.1 443 ;;
        quinn-client-rejects-certificate) quinn "$s" client-rejects-certificate 127.0.0.1 443 server-big ;;
        *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
