#!/usr/bin/env bash
# Record small real DTLS handshake captures for tlsight's DTLS tests (see README.md beside this
# script for what each capture shows).
#
# Usage: sudo bash captures/dtls/record.sh [NAME...]   (no NAME: every capture)
#
# All traffic stays on loopback (127.0.0.1 and ::1). Real stacks: OpenSSL s_server/s_client and
# GnuTLS gnutls-serv/gnutls-cli; relay.py (beside this script) carries the lost-flight and
# WebRTC-shaped captures. A fresh PKI is made in a temporary directory on every run (private
# keys never leave it); the clients' TLS secrets are written beside each capture as NAME.keys
# (NSS key log format), so the encrypted parts can be read with them.
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T=$(mktemp -d /tmp/tlsight-dtls.XXXXXX)
PIDS=()

cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    [[ -n ${KEEP_TMP:-} ]] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT

log() { printf '== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v gnutls-serv >/dev/null || need+=(gnutls-bin)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v python3 >/dev/null || need+=(python3)
command -v ss >/dev/null || need+=(iproute2)
if ((${#need[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---------------------------------------------------------------- PKI
# Root CA -> leaf server.test (RSA-2048, SHA-256); a client certificate from the same root; an
# unrelated root for the client that rejects the server.
cd "$T"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
    -subj "/CN=tlsight DTLS Test Root CA" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 3650 \
    -subj "/CN=Unrelated Root CA" 2>/dev/null
leaf() { # leaf NAME CN
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
    printf 'subjectAltName=DNS:%s\nbasicConstraints=critical,CA:false\n' "$2" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 397 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
}
leaf server server.test
leaf client client.test

# ---------------------------------------------------------------- helpers
CAP_PID=""
# start_capture NAME FILTER: tcpdump on lo into $OUT/NAME.pcap.
start_capture() {
    rm -f "$OUT/$1.pcap" "$OUT/$1.keys"
    tcpdump -i lo --immediate-mode -U -s 0 -w "$OUT/$1.pcap" "$2" 2>"$T/$1.tcpdump.log" &
    CAP_PID=$!
    PIDS+=("$CAP_PID")
    for _ in $(seq 100); do
        grep -q "listening on" "$T/$1.tcpdump.log" && return 0
        sleep 0.1
    done
}
stop_capture() {
    sleep 0.5
    kill -INT "$CAP_PID"
    wait "$CAP_PID" 2>/dev/null || true
}
# wait_udp PORT: waits (up to 10 s) until something listens on UDP PORT, so that a client
# never starts before its server (a loaded machine can take seconds to start one).
wait_udp() {
    for _ in $(seq 100); do
        [[ -n $(ss -Hunl "sport = :$1") ]] && return 0
        sleep 0.1
    done
    echo "nothing listens on UDP port $1" >&2
    return 1
}
# bg CMD...: runs CMD in the background, remembered for cleanup.
bg() {
    "$@" &
    PIDS+=($!)
}
# The client's input: one line, then silence long enough for the reply, then EOF: the clients
# close with close_notify (s_client needs -no_ign_eof for that, -quiet implies -ign_eof).
say() { (echo "hello tlsight"; sleep "${1:-1}"); }
# ossl_server SECONDS ARGS...: s_server in the background; its standard input stays open (at EOF
# it would close the connection at once).
ossl_server() {
    local secs=$1
    shift
    bg bash -c 'sleep "$0" | exec timeout "$0" openssl s_server "$@"' "$secs" "$@"
}

SERVER=(-cert "$T/server.pem" -key "$T/server.key" -cert_chain "$T/ca.pem")
# ossl_pair NAME PORT 'SERVER ARGS' 'CLIENT ARGS' [HOST]
ossl_pair() {
    local name=$1 port=$2 sargs=$3 cargs=$4 host=${5:-127.0.0.1}
    local addr=$host
    [[ $host == *:* ]] && addr="[$host]"
    log "$name"
    start_capture "$name" "udp port $port"
    # shellcheck disable=SC2086
    ossl_server 10 -accept "$addr:$port" "${SERVER[@]}" -naccept 1 -quiet $sargs
    wait_udp "$port"
    # shellcheck disable=SC2086
    say | timeout 6 openssl s_client -connect "$addr:$port" -servername server.test \
        -keylogfile "$OUT/$name.keys" -quiet -no_ign_eof $cargs >"$T/$name.client.log" 2>&1 || true
    stop_capture
}

want() { [[ -z $SELECTED || " $SELECTED " == *" $1 "* ]]; }
SELECTED="$*"

# ---------------------------------------------------------------- OpenSSL, DTLS 1.2
# s_server always asks DTLS clients for a cookie (HelloVerifyRequest); -listen does it
# statelessly (DTLSv1_listen) before the connection exists. The handshake without a cookie
# round comes from gnutls-serv --nocookie below.
CA=(-CAfile "$T/ca.pem")
want openssl-dtls12 && ossl_pair openssl-dtls12 21001 "-dtls1_2 -listen" "-dtls1_2 ${CA[*]}"
want openssl-dtls12-mutual-auth && ossl_pair openssl-dtls12-mutual-auth 21003 \
    "-dtls1_2 -Verify 1 -verifyCAfile $T/ca.pem" \
    "-dtls1_2 ${CA[*]} -cert $T/client.pem -key $T/client.key"
want openssl-dtls12-no-shared-cipher && ossl_pair openssl-dtls12-no-shared-cipher 21004 \
    "-dtls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384" "-dtls1_2 ${CA[*]} -cipher ECDHE-RSA-AES128-SHA"
want openssl-dtls12-unknown-ca && ossl_pair openssl-dtls12-unknown-ca 21005 "-dtls1_2" \
    "-dtls1_2 -CAfile $T/other.pem -verify_return_error"
want openssl-dtls10 && ossl_pair openssl-dtls10 21006 "-dtls1 -cipher DEFAULT@SECLEVEL=0" \
    "-dtls1 ${CA[*]} -cipher DEFAULT@SECLEVEL=0"
want openssl-dtls12-ipv6 && ossl_pair openssl-dtls12-ipv6 21007 "-dtls1_2" "-dtls1_2 ${CA[*]}" ::1
want openssl-dtls12-version-mismatch && ossl_pair openssl-dtls12-version-mismatch 21002 \
    "-dtls1_2" "-dtls1 ${CA[*]} -cipher DEFAULT@SECLEVEL=0"

if want openssl-dtls12-resumption; then
    name=openssl-dtls12-resumption port=21008
    log "$name"
    start_capture "$name" "udp port $port"
    ossl_server 12 -accept "127.0.0.1:$port" "${SERVER[@]}" -naccept 2 -quiet -dtls1_2
    wait_udp "$port"
    say | timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername server.test -dtls1_2 \
        "${CA[@]}" -sess_out "$T/session.pem" -keylogfile "$OUT/$name.keys" -quiet -no_ign_eof >/dev/null 2>&1 || true
    sleep 0.5
    say | timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername server.test -dtls1_2 \
        "${CA[@]}" -sess_in "$T/session.pem" -keylogfile "$OUT/$name.keys" -quiet -no_ign_eof >/dev/null 2>&1 || true
    stop_capture
fi

if want openssl-dtls12-silent-server; then
    # A server that reads and never answers: the client resends its ClientHello on its timer.
    name=openssl-dtls12-silent-server port=21009
    log "$name"
    start_capture "$name" "udp port $port"
    bg timeout 10 python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', $port))
while True:
    s.recvfrom(65535)"
    wait_udp "$port"
    (sleep 8) | timeout 7 openssl s_client -connect "127.0.0.1:$port" -servername server.test \
        -dtls1_2 "${CA[@]}" -quiet >/dev/null 2>&1 || true
    stop_capture
fi

# relay_pair NAME FRONT A B SERVER 'RELAY ARGS' 'SERVER ARGS' [CLIENT SECONDS]: OpenSSL through
# relay.py, the capture on the relay's A <-> B leg.
relay_pair() {
    local name=$1 front=$2 a=$3 b=$4 srv=$5 rargs=$6 sargs=$7 secs=${8:-7}
    log "$name"
    start_capture "$name" "udp port $a"
    # shellcheck disable=SC2086
    ossl_server $((secs + 5)) -accept "127.0.0.1:$srv" "${SERVER[@]}" -naccept 1 -quiet $sargs
    # shellcheck disable=SC2086
    bg python3 "$OUT/relay.py" --front "$front" --a "$a" --b "$b" --server "$srv" \
        --seconds $((secs + 2)) $rargs 2>"$T/$name.relay.log"
    wait_udp "$srv"
    wait_udp "$front"
    say 2 | timeout "$secs" openssl s_client -connect "127.0.0.1:$front" -servername server.test \
        -dtls1_2 "${CA[@]}" -keylogfile "$OUT/$name.keys" -quiet -no_ign_eof >"$T/$name.client.log" 2>&1 || true
    sleep 1
    stop_capture
}
# The server's second datagram (the start of its ServerHello flight, after the
# HelloVerifyRequest) is dropped after the capture point.
want openssl-dtls12-lost-flight && relay_pair openssl-dtls12-lost-flight 21010 21011 21012 21013 \
    "--drop-server 2" "-dtls1_2"
want webrtc-stun-dtls12 && relay_pair webrtc-stun-dtls12 21020 21021 21022 21023 "--stun" "-dtls1_2"
# Every server datagram dropped after the capture point: the HelloVerifyRequests never reach
# the client, which resends its first ClientHello on its timer (the cookie exchange never
# completes); then from the third on: the server's flight never arrives, and both ends resend
# theirs until the client gives up (a retransmission storm).
want openssl-dtls12-cookie-unanswered && relay_pair openssl-dtls12-cookie-unanswered \
    21014 21015 21016 21017 "--drop-server-from 1" "-dtls1_2 -listen" 12
want openssl-dtls12-retransmission-storm && relay_pair openssl-dtls12-retransmission-storm \
    21024 21025 21026 21027 "--drop-server-from 2" "-dtls1_2 -listen" 12

# ---------------------------------------------------------------- GnuTLS
GNUTLS_SERVER=(--udp --x509certfile "$T/server.pem" --x509keyfile "$T/server.key")
# gnutls_serv PORT [PRIORITY [ARGS...]]: gnutls-serv in the background (it asks DTLS clients for
# a cookie unless --nocookie).
gnutls_serv() {
    local port=$1 prio=${2:-NORMAL}
    shift 2 || shift $#
    bg timeout 10 gnutls-serv "${GNUTLS_SERVER[@]}" -p "$port" --priority "$prio" -q "$@" >/dev/null 2>&1
    wait_udp "$port"
}
gnutls_cli() { # gnutls_cli NAME PORT [PRIORITY]
    say | SSLKEYLOGFILE="$OUT/$1.keys" timeout 6 gnutls-cli --udp -p "$2" 127.0.0.1 \
        --sni-hostname server.test --verify-hostname server.test --x509cafile "$T/ca.pem" \
        --priority "${3:-NORMAL}" \
        >"$T/$1.client.log" 2>&1 || true
}
if want gnutls-dtls12; then
    log gnutls-dtls12
    start_capture gnutls-dtls12 "udp port 21030"
    gnutls_serv 21030
    gnutls_cli gnutls-dtls12 21030 "NORMAL:-VERS-ALL:+VERS-DTLS1.2"
    stop_capture
fi
if want gnutls-dtls12-no-cookie; then
    log gnutls-dtls12-no-cookie
    start_capture gnutls-dtls12-no-cookie "udp port 21034"
    gnutls_serv 21034 NORMAL --nocookie
    gnutls_cli gnutls-dtls12-no-cookie 21034 "NORMAL:-VERS-ALL:+VERS-DTLS1.2"
    stop_capture
fi
if want gnutls-dtls10; then
    log gnutls-dtls10
    start_capture gnutls-dtls10 "udp port 21031"
    gnutls_serv 21031 "NORMAL:+VERS-DTLS1.0"
    gnutls_cli gnutls-dtls10 21031 "NORMAL:-VERS-ALL:+VERS-DTLS1.0"
    stop_capture
fi
if want gnutls-client-openssl-server-dtls12; then
    name=gnutls-client-openssl-server-dtls12
    log "$name"
    start_capture "$name" "udp port 21032"
    ossl_server 10 -accept 127.0.0.1:21032 "${SERVER[@]}" -naccept 1 -quiet -dtls1_2
    wait_udp 21032
    gnutls_cli "$name" 21032 "NORMAL:-VERS-ALL:+VERS-DTLS1.2"
    stop_capture
fi
if want openssl-client-gnutls-server-dtls12; then
    name=openssl-client-gnutls-server-dtls12
    log "$name"
    start_capture "$name" "udp port 21033"
    gnutls_serv 21033
    say | timeout 6 openssl s_client -connect 127.0.0.1:21033 -servername server.test -dtls1_2 \
        "${CA[@]}" -keylogfile "$OUT/$name.keys" -quiet -no_ign_eof >/dev/null 2>&1 || true
    stop_capture
fi

# ---------------------------------------------------------------- wolfSSL, DTLS 1.3
# Neither OpenSSL 3.0 nor GnuTLS 3.7 speaks DTLS 1.3, and Debian's wolfSSL is built without it:
# dtls13/ is a small client + server on wolfSSL built from source by the `wolfssl` crate (which
# needs autotools and libclang, and cargo).
if want wolfssl-dtls13 || want wolfssl-dtls13-unknown-ca; then
    need13=()
    command -v autoreconf >/dev/null || need13+=(autoconf automake)
    command -v libtoolize >/dev/null || need13+=(libtool)
    compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null || need13+=(libclang-dev)
    if ((${#need13[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need13[@]}" >/dev/null
    fi
    log "building dtls13-pair (wolfSSL from source; minutes the first time)"
    (cd "$OUT/dtls13" && cargo build --release --quiet)
    DTLS13="${CARGO_TARGET_DIR:-$OUT/dtls13/target}/release/dtls13-pair"
fi
# dtls13 NAME PORT [alert]
dtls13() {
    log "$1"
    start_capture "$1" "udp port $2"
    timeout 20 "$DTLS13" "$2" "$T/server.pem" "$T/server.key" "$T/ca.pem" "$OUT/$1.keys" ${3:-} \
        >"$T/$1.log" 2>&1 || true
    stop_capture
}
want wolfssl-dtls13 && dtls13 wolfssl-dtls13 21040
want wolfssl-dtls13-unknown-ca && dtls13 wolfssl-dtls13-unknown-ca 21041 alert

# Key logs without a secret (a handshake that never got keys: empty, or OpenSSL's header line
# alone) are not kept.
for keys in "$OUT"/*.keys; do
    grep -qv '^#' "$keys" || rm -f "$keys"
done
log "done: $(ls "$OUT"/*.pcap | wc -l) captures in $OUT"
