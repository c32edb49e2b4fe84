#!/usr/bin/env bash
# Record small real TLS handshake captures for tlsight's scenario tests.
#
# Usage: sudo bash captures/record.sh        (regenerates every *.pcap / *.pcapng in captures/)
#        sudo bash captures/record.sh keylog (only captures/keylog/: captures with their key logs)
#
# All traffic stays on loopback or inside network namespaces this script creates (and deletes on exit).
# A fresh PKI is generated in a temporary directory on every run; private keys never leave it.
# Real stacks: OpenSSL (s_server/s_client, Python ssl) and GnuTLS (gnutls-serv/gnutls-cli).
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HELPERS="$OUT/helpers.py"
T=$(mktemp -d /tmp/tlsight-record.XXXXXX)
NS_SRV=tlsrec-srv
NS_CLI=tlsrec-cli
CAP_PID=""
CAP_NAME=""
SRV_PID=""
NSX=()          # command prefix to run inside a namespace (empty = host loopback)
LISTEN_NSX=()   # same, for the listener check

cleanup() {
    set +e
    [[ -n $SRV_PID ]] && kill "$SRV_PID" 2>/dev/null
    [[ -n $CAP_PID ]] && kill -INT "$CAP_PID" 2>/dev/null
    wait 2>/dev/null
    ip netns del "$NS_SRV" 2>/dev/null
    ip netns del "$NS_CLI" 2>/dev/null
    [[ -n ${KEEP_TMP:-} ]] && echo "kept $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT

log() { printf '== %s\n' "$*" >&2; }

# ---------------------------------------------------------------- PKI
utc() { date -u -d "$1" +%y%m%d%H%M%SZ; }

cat >"$T/ca.cnf" <<'EOF'
[ ca ]
default_ca = CA_default
[ CA_default ]
dir              = $ENV::CADIR
database         = $dir/index.txt
new_certs_dir    = $dir/new
serial           = $dir/serial
default_md       = sha256
policy           = policy_any
unique_subject   = no
copy_extensions  = none
email_in_dn      = no
[ policy_any ]
organizationName = optional
commonName       = supplied
[ v3_ca ]
basicConstraints       = critical,CA:true
keyUsage               = critical,keyCertSign,cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[ v3_leaf ]
basicConstraints       = critical,CA:false
keyUsage               = critical,digitalSignature,keyEncipherment
extendedKeyUsage       = serverAuth,clientAuth
subjectAltName         = $ENV::SAN
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid
[ v3_self ]
basicConstraints       = critical,CA:false
keyUsage               = critical,digitalSignature,keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = $ENV::SAN
subjectKeyIdentifier   = hash
EOF

# newkey FILE TYPE  (TYPE: rsa2048 | rsa1024 | p256)
newkey() {
    case $2 in
        rsa2048) openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" ;;
        rsa1024) openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$1" ;;
        p256)    openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" ;;
    esac
}

# cert NAME CN KEYTYPE ISSUER EXT START END [MD] [SAN]
#   ISSUER is the NAME of an existing CA, or "self".  Produces $T/NAME.pem and $T/NAME.key.
cert() {
    local name=$1 cn=$2 ktype=$3 issuer=$4 ext=$5 start=$6 end=$7 md=${8:-sha256} san=${9:-DNS:server.test}
    local dir="$T/ca-$name"
    mkdir -p "$dir/new"
    : >"$dir/index.txt"
    openssl rand -hex 8 >"$dir/serial"
    newkey "$T/$name.key" "$ktype"
    openssl req -new -key "$T/$name.key" -subj "/O=tlsight test/CN=$cn" -out "$dir/req.csr"
    local signer=(-cert "$T/$issuer.pem" -keyfile "$T/$issuer.key")
    [[ $issuer == self ]] && signer=(-selfsign -keyfile "$T/$name.key")
    CADIR=$dir SAN=$san openssl ca -batch -notext -config "$T/ca.cnf" "${signer[@]}" \
        -extensions "$ext" -md "$md" -startdate "$(utc "$start")" -enddate "$(utc "$end")" \
        -in "$dir/req.csr" -out "$T/$name.pem" 2>"$dir/ca.log" || { cat "$dir/ca.log" >&2; return 1; }
}

make_pki() {
    log "generating PKI in $T"
    cert root      "tlsight Test Root CA"         rsa2048 self  v3_ca   "-10 days"  "+10 years"
    cert inter     "tlsight Test Intermediate CA" rsa2048 root  v3_ca   "-10 days"  "+5 years"
    cert otherroot "Unrelated Root CA"            rsa2048 self  v3_ca   "-10 days"  "+10 years"
    cert rsa       server.test  rsa2048 inter v3_leaf "-1 day"    "+90 days"
    cert ecdsa     server.test  p256    inter v3_leaf "-1 day"    "+90 days"
    cert client    client.test  rsa2048 inter v3_leaf "-1 day"    "+90 days" sha256 DNS:client.test
    cert expired   server.test  rsa2048 inter v3_leaf "-400 days" "-30 days"
    cert expiring  server.test  rsa2048 inter v3_leaf "-80 days"  "+10 days"
    cert selfsig   server.test  rsa2048 self  v3_self "-1 day"    "+90 days"
    cert wrongsan  other.test   rsa2048 inter v3_leaf "-1 day"    "+90 days" sha256 DNS:other.test
    cert rsa1024   server.test  rsa1024 inter v3_leaf "-1 day"    "+90 days"
    cert sha1      server.test  rsa2048 inter v3_leaf "-1 day"    "+90 days" sha1
    cert longlived server.test  rsa2048 inter v3_leaf "-1 day"    "+825 days"
    # Chains as the servers send them: leaf followed by the intermediate.
    for n in rsa ecdsa client expired expiring wrongsan rsa1024 sha1 longlived; do
        cat "$T/$n.pem" "$T/inter.pem" >"$T/$n-chain.pem"
    done
    printf 'early data from tlsight capture\n' >"$T/early.txt"
}

# ---------------------------------------------------------------- capture plumbing
# cap_start NAME FILTER [IFACE]   (runs inside NSX when set)
cap_start() {
    local name=$1 filter=$2 ifc=${3:-lo}
    CAP_NAME=$name
    CAP_FILE="$OUT/$name.pcap"
    rm -f "$CAP_FILE"
    log "$name"
    "${NSX[@]}" tcpdump -i "$ifc" -n -U --immediate-mode -Z root -s 0 -w "$CAP_FILE" "$filter" 2>"$T/tcpdump.log" &
    CAP_PID=$!
    for _ in $(seq 100); do
        grep -q 'listening on' "$T/tcpdump.log" 2>/dev/null && break
        sleep 0.05
    done
    sleep 0.2
}

cap_stop() {
    sleep 0.3
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    CAP_PID=""
}

wait_listen() {
    local port=$1
    for _ in $(seq 200); do
        "${LISTEN_NSX[@]}" ss -Hltn "sport = :$port" | grep -q . && return 0
        sleep 0.05
    done
    echo "nothing listening on port $port" >&2
    return 1
}

# srv PORT CMD...   start a server in the background (20 s hard limit) and wait until it listens
srv() {
    local port=$1; shift
    # stdin is a FIFO held open by this shell (fd 9), so servers that read stdin (s_server without
    # -rev) neither see EOF nor get input.
    timeout "${SRV_TIMEOUT:-20}" "${NSX[@]}" "$@" <&9 >>"$T/$CAP_NAME.srv.log" 2>&1 &
    SRV_PID=$!
    wait_listen "$port"
}

srv_stop() {
    sleep 0.2
    # SRV_PID is timeout(1), which forwards TERM to the server it runs.
    [[ -n $SRV_PID ]] && { kill "$SRV_PID" 2>/dev/null || true; }
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=""
}

# feed INPUT  -- writes INPUT (printf %b) after a short pause, then holds stdin open a little so replies arrive
feed() { sleep 0.3; printf '%b' "$1"; sleep 0.7; }

# cli INPUT CMD...   run a client with a 10 s limit; failures are expected in some scenarios
cli() {
    local input=$1; shift
    feed "$input" | timeout 10 "${NSX[@]}" "$@" >>"$T/$CAP_NAME.cli.log" 2>&1 || true
}

S=(openssl s_server -naccept 1 -rev -accept)
C=(openssl s_client -connect)
RSA=(-cert "$T/rsa.pem" -key "$T/rsa.key" -cert_chain "$T/inter.pem")
ECDSA=(-cert "$T/ecdsa.pem" -key "$T/ecdsa.key" -cert_chain "$T/inter.pem")
CLI_OK=(-servername server.test -CAfile "$T/root.pem")
HELLO='hello tlsight\n'
LOW=DEFAULT@SECLEVEL=0

# simple NAME PORT "SERVER ARGS" "CLIENT ARGS": one capture, one openssl connection
simple() {
    local name=$1 port=$2
    local -a sargs=() cargs=()
    read -r -a sargs <<<"$3"
    read -r -a cargs <<<"$4"
    cap_start "$name" "tcp port $port"
    srv "$port" "${S[@]}" "$port" "${sargs[@]}"
    cli "$HELLO" "${C[@]}" "127.0.0.1:$port" "${cargs[@]}"
    srv_stop
    cap_stop
}

# ---------------------------------------------------------------- scenarios
versions() {
    simple tls10-ecdhe-rsa 20010 "${RSA[*]} -tls1 -cipher $LOW" "${CLI_OK[*]} -tls1 -cipher $LOW"
    simple tls11-ecdhe-rsa 20011 "${RSA[*]} -tls1_1 -cipher $LOW" "${CLI_OK[*]} -tls1_1 -cipher $LOW"
    simple tls12-rsa-kx-aes128gcm 20012 "${RSA[*]}" "${CLI_OK[*]} -tls1_2 -cipher AES128-GCM-SHA256"
    simple tls12-ecdhe-rsa 20013 "${RSA[*]}" "${CLI_OK[*]} -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256"
    simple tls12-ecdhe-ecdsa 20014 "${ECDSA[*]}" "${CLI_OK[*]} -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384"
    simple tls13-aes128gcm 20015 "${RSA[*]}" "${CLI_OK[*]} -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256"
    simple tls13-ecdsa-chacha20 20016 "${ECDSA[*]}" "${CLI_OK[*]} -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256"
    simple tls13-hello-retry-request 20017 "${RSA[*]} -groups X25519" "${CLI_OK[*]} -tls1_3 -groups P-256:X25519"
    simple tls12-mutual-auth 20018 "${RSA[*]} -Verify 1 -CAfile $T/root.pem" \
        "${CLI_OK[*]} -tls1_2 -cert $T/client.pem -key $T/client.key -cert_chain $T/inter.pem"
    simple tls13-mutual-auth 20019 "${RSA[*]} -Verify 1 -CAfile $T/root.pem" \
        "${CLI_OK[*]} -tls1_3 -cert $T/client.pem -key $T/client.key -cert_chain $T/inter.pem"
}

# resumed NAME PORT "SERVER ARGS" "CLIENT ARGS" [EXTRA ARGS FOR 2ND CLIENT]: two connections, 2nd resumes the 1st
resumed() {
    local name=$1 port=$2
    local -a sargs=() cargs=() second=()
    read -r -a sargs <<<"$3"
    read -r -a cargs <<<"$4"
    read -r -a second <<<"${5:-}"
    rm -f "$T/sess.pem"
    cap_start "$name" "tcp port $port"
    srv "$port" openssl s_server -naccept 2 -accept "$port" "${sargs[@]}"
    cli "$HELLO" "${C[@]}" "127.0.0.1:$port" "${cargs[@]}" -sess_out "$T/sess.pem"
    cli "$HELLO" "${C[@]}" "127.0.0.1:$port" "${cargs[@]}" -sess_in "$T/sess.pem" "${second[@]}"
    srv_stop
    cap_stop
}

resumption() {
    resumed tls12-resumption-session-id 20020 "${RSA[*]} -rev -no_ticket" "${CLI_OK[*]} -tls1_2 -no_ticket"
    resumed tls12-resumption-ticket 20021 "${RSA[*]} -rev" "${CLI_OK[*]} -tls1_2"
    resumed tls13-resumption-psk 20022 "${RSA[*]} -rev" "${CLI_OK[*]} -tls1_3"
    # 0-RTT needs s_server's plain echo loop (not -rev), which reads early data.
    resumed tls13-early-data 20023 "${RSA[*]} -early_data" "${CLI_OK[*]} -tls1_3" "-early_data $T/early.txt"
}

interop() {
    local gcli=(gnutls-cli --x509cafile "$T/root.pem" --sni-hostname server.test --verify-hostname server.test)
    local gsrv=(gnutls-serv --echo --x509certfile "$T/rsa-chain.pem" --x509keyfile "$T/rsa.key")
    cap_start gnutls-client-openssl-server-tls13 "tcp port 20030"
    srv 20030 "${S[@]}" 20030 "${RSA[@]}"
    cli "$HELLO" "${gcli[@]}" --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3" -p 20030 127.0.0.1
    srv_stop; cap_stop

    cap_start gnutls-client-openssl-server-tls12 "tcp port 20031"
    srv 20031 "${S[@]}" 20031 "${RSA[@]}"
    cli "$HELLO" "${gcli[@]}" --priority "NORMAL:-VERS-ALL:+VERS-TLS1.2" -p 20031 127.0.0.1
    srv_stop; cap_stop

    cap_start openssl-client-gnutls-server-tls13 "tcp port 20032"
    srv 20032 "${gsrv[@]}" -p 20032 --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3"
    cli "$HELLO" "${C[@]}" 127.0.0.1:20032 "${CLI_OK[@]}"
    srv_stop; cap_stop

    cap_start openssl-client-gnutls-server-tls12 "tcp port 20033"
    srv 20033 "${gsrv[@]}" -p 20033 --priority "NORMAL:-VERS-ALL:+VERS-TLS1.2"
    cli "$HELLO" "${C[@]}" 127.0.0.1:20033 "${CLI_OK[@]}"
    srv_stop; cap_stop
}

failures() {
    local strict=(-verify_return_error)
    simple fail-no-shared-cipher 20040 "${RSA[*]} -tls1_2 -cipher AES256-GCM-SHA384" \
        "${CLI_OK[*]} -tls1_2 -cipher AES128-GCM-SHA256"
    simple fail-protocol-version 20041 "${RSA[*]} -tls1_3" "${CLI_OK[*]} -tls1_2"
    simple fail-unknown-ca-tls12 20042 "${RSA[*]}" \
        "-servername server.test -CAfile $T/otherroot.pem ${strict[*]} -tls1_2"
    simple fail-unknown-ca-tls13 20043 "${RSA[*]}" \
        "-servername server.test -CAfile $T/otherroot.pem ${strict[*]} -tls1_3"
    simple fail-expired-cert-tls12 20044 "-cert $T/expired.pem -key $T/expired.key -cert_chain $T/inter.pem" \
        "${CLI_OK[*]} ${strict[*]} -tls1_2"
    simple fail-sni-unrecognized-name 20045 \
        "${RSA[*]} -servername only.server.test -servername_fatal -cert2 $T/rsa.pem -key2 $T/rsa.key" \
        "${CLI_OK[*]} -tls1_2"
    simple fail-client-cert-missing-tls12 20046 "${RSA[*]} -Verify 1 -CAfile $T/root.pem" "${CLI_OK[*]} -tls1_2"
    simple fail-client-cert-missing-tls13 20047 "${RSA[*]} -Verify 1 -CAfile $T/root.pem" "${CLI_OK[*]} -tls1_3"

    cap_start fail-reset-after-client-hello "tcp port 20048"
    srv 20048 python3 "$HELPERS" reset-server 20048
    cli "$HELLO" "${C[@]}" 127.0.0.1:20048 "${CLI_OK[@]}"
    srv_stop; cap_stop

    cap_start fail-client-hello-unanswered "tcp port 20049"
    srv 20049 python3 "$HELPERS" silent-server 20049 4
    feed "" | timeout 2 "${C[@]}" 127.0.0.1:20049 "${CLI_OK[@]}" >>"$T/$CAP_NAME.cli.log" 2>&1 || true
    srv_stop; cap_stop
}

certs() {
    local c12=("${CLI_OK[@]}" -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256)
    simple cert-expired 20050 "-cert $T/expired.pem -key $T/expired.key -cert_chain $T/inter.pem" "${c12[*]}"
    simple cert-expiring-in-10-days 20051 "-cert $T/expiring.pem -key $T/expiring.key -cert_chain $T/inter.pem" "${c12[*]}"
    simple cert-self-signed 20052 "-cert $T/selfsig.pem -key $T/selfsig.key" "${c12[*]}"
    simple cert-sni-not-in-san 20053 "-cert $T/wrongsan.pem -key $T/wrongsan.key -cert_chain $T/inter.pem" "${c12[*]}"
    simple cert-incomplete-chain 20054 "-cert $T/rsa.pem -key $T/rsa.key" "${c12[*]}"
    simple cert-rsa-1024 20055 "-cert $T/rsa1024.pem -key $T/rsa1024.key -cert_chain $T/inter.pem -cipher $LOW" \
        "${CLI_OK[*]} -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"
    simple cert-sha1-signature 20056 "-cert $T/sha1.pem -key $T/sha1.key -cert_chain $T/inter.pem -cipher $LOW" \
        "${CLI_OK[*]} -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0"
    simple cert-validity-825-days 20057 "-cert $T/longlived.pem -key $T/longlived.key -cert_chain $T/inter.pem" "${c12[*]}"
}

transport() {
    # Renegotiation: "R" on s_client's stdin starts a (secure, RFC 5746) renegotiation inside the TLS 1.2 session.
    # OpenSSL 3.0 servers refuse client-initiated renegotiation unless -client_renegotiation is given:
    # the first capture shows the refusal (encrypted no_renegotiation alert), the second a completed one.
    local reneg port
    for reneg in refused ok; do
        port=$([[ $reneg == ok ]] && echo 20060 || echo 20064)
        local extra=()
        [[ $reneg == ok ]] && extra=(-client_renegotiation)
        cap_start "tls12-renegotiation-$reneg" "tcp port $port"
        srv "$port" "${S[@]}" "$port" "${RSA[@]}" "${extra[@]}"
        { sleep 0.3; printf 'R\n'; sleep 0.5; printf '%b' "$HELLO"; sleep 0.7; } |
            timeout 10 "${C[@]}" "127.0.0.1:$port" "${CLI_OK[@]}" -tls1_2 >>"$T/$CAP_NAME.cli.log" 2>&1 || true
        srv_stop; cap_stop
    done

    cap_start tls12-client-hello-split-3-segments "tcp port 20061"
    srv 20061 "${S[@]}" 20061 "${RSA[@]}"
    timeout 10 python3 "$HELPERS" split-client 20061 "$T/root.pem" server.test >>"$T/$CAP_NAME.cli.log" 2>&1 || true
    srv_stop; cap_stop

    cap_start tls13-ipv6-loopback "ip6 and tcp port 20062"
    srv 20062 "${S[@]}" '[::1]:20062' "${RSA[@]}"
    cli "$HELLO" "${C[@]}" '[::1]:20062' "${CLI_OK[@]}" -tls1_3
    srv_stop; cap_stop

    # Port 25 is not needed: STARTTLS on a non-standard port is still recognised by content.
    cap_start smtp-starttls "tcp port 20063"
    srv 20063 python3 "$HELPERS" smtp-server 20063 "$T/rsa-chain.pem" "$T/rsa.key"
    cli 'QUIT\r\n' "${C[@]}" 127.0.0.1:20063 "${CLI_OK[@]}" -starttls smtp -name client.test -crlf
    srv_stop; cap_stop

    simple tls13-nonstandard-port-40443 40443 "${RSA[*]}" "${CLI_OK[*]} -tls1_3"
}

# Two namespaces joined by a veth pair with a 576-byte MTU and offloads off, so the server's
# certificate flight really is split into several TCP segments (the base for defects.py's lost segment).
netns_captures() {
    ip netns add "$NS_SRV"
    ip netns add "$NS_CLI"
    ip link add veth-tls-s netns "$NS_SRV" type veth peer name veth-tls-c netns "$NS_CLI"
    local ns dev addr
    for ns in "$NS_SRV" "$NS_CLI"; do
        ip -n "$ns" link set lo up
    done
    for spec in "$NS_SRV veth-tls-s 10.77.0.1/24" "$NS_CLI veth-tls-c 10.77.0.2/24"; do
        read -r ns dev addr <<<"$spec"
        ip -n "$ns" link set "$dev" mtu 576
        ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
        ip -n "$ns" addr add "$addr" dev "$dev"
        ip -n "$ns" link set "$dev" up
    done
    sleep 1   # let DAD/neighbour state settle so no stray packets land in the capture window

    NSX=(ip netns exec "$NS_SRV"); LISTEN_NSX=("${NSX[@]}")
    cap_start tls12-netns-mtu576 "tcp port 20070" veth-tls-s
    srv 20070 "${S[@]}" 20070 "${RSA[@]}"
    NSX=(ip netns exec "$NS_CLI")
    cli "$HELLO" "${C[@]}" 10.77.0.1:20070 "${CLI_OK[@]}" -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
    NSX=(ip netns exec "$NS_SRV")
    srv_stop; cap_stop

    # 802.1Q: a VLAN sub-interface on the veth, captured on the parent so frames carry the tag.
    local vlan_ok=0
    if ip -n "$NS_SRV" link add link veth-tls-s name vs.100 type vlan id 100 2>/dev/null &&
        ip -n "$NS_CLI" link add link veth-tls-c name vc.100 type vlan id 100 2>/dev/null; then
        vlan_ok=1
        ip -n "$NS_SRV" addr add 10.77.100.1/24 dev vs.100; ip -n "$NS_SRV" link set vs.100 up
        ip -n "$NS_CLI" addr add 10.77.100.2/24 dev vc.100; ip -n "$NS_CLI" link set vc.100 up
        sleep 1
        cap_start tls12-vlan-100 "vlan and tcp port 20071" veth-tls-s
        srv 20071 "${S[@]}" 20071 "${RSA[@]}"
        NSX=(ip netns exec "$NS_CLI")
        cli "$HELLO" "${C[@]}" 10.77.100.1:20071 "${CLI_OK[@]}" -tls1_2
        NSX=(ip netns exec "$NS_SRV")
        srv_stop; cap_stop
    fi
    NSX=(); LISTEN_NSX=()
    ip netns del "$NS_SRV"; ip netns del "$NS_CLI"
    if [[ $vlan_ok == 0 ]]; then
        log "kernel has no 802.1Q support: tls12-vlan-100.pcap is tls12-netns-mtu576.pcap with tags inserted"
        python3 "$OUT/defects.py" vlan "$OUT/tls12-netns-mtu576.pcap" "$OUT/tls12-vlan-100.pcap" 100
    fi
}

# Who speaks what: ALPN (real stacks, TLS 1.2 so it is visible), and a post-quantum hybrid with
# GREASE ECH (scripted peers: real hello wire format, random stand-ins for the encrypted records,
# since the OpenSSL 3.0 here knows neither X25519MLKEM768 nor ECH).
census() {
    simple tls12-alpn-h2 20070 "${RSA[*]} -alpn h2,http/1.1" "${CLI_OK[*]} -tls1_2 -alpn h2,http/1.1"
    cap_start tls13-pq-hybrid-ech-grease "tcp port 20071"
    srv 20071 python3 "$HELPERS" pq-server 20071
    timeout 10 python3 "$HELPERS" pq-client 20071 server.test >>"$T/$CAP_NAME.cli.log" 2>&1 || true
    srv_stop; cap_stop
}

# `tlsight diff`: a base capture, the same traffic recorded again with a fresh PKI (new keys,
# serials, dates, client ports and timings: the diff must be empty), and the base with one
# regression injected each (captures/README.md, "Diff captures"). Twenty connections of one
# OpenSSL client each (enough for a p95); the client offers TLS 1.0-1.2 with one suite
# (0xc014) so that a server limited to TLS 1.0 changes the version and nothing else.
DIFF_CONNECTIONS=20
diff_clients() {
    local i
    for i in $(seq "$DIFF_CONNECTIONS"); do
        { sleep 0.1; printf '%b' "$HELLO"; sleep 0.3; } |
            timeout 10 "${C[@]}" "127.0.0.1:$1" "${CLI_OK[@]}" -no_tls1_3 -min_protocol TLSv1 \
                -cipher 'ECDHE-RSA-AES256-SHA:@SECLEVEL=0' >>"$T/$CAP_NAME.cli.log" 2>&1 || true
    done
}

# diff_pair NAME "SERVER ARGS": the two connections to an s_server on port 20080
diff_pair() {
    local -a sargs=()
    read -r -a sargs <<<"$2"
    cap_start "$1" "tcp port 20080"
    srv 20080 openssl s_server -naccept "$DIFF_CONNECTIONS" -rev -accept 20080 "${sargs[@]}"
    diff_clients 20080
    srv_stop; cap_stop
}

diff_captures() {
    mkdir -p "$OUT/diff" "$T/diff"
    local SRV_TIMEOUT=60
    local base="${RSA[*]} -cipher $LOW -min_protocol TLSv1"
    local -a base_args=()
    read -r -a base_args <<<"$base"
    diff_pair diff/base "$base"
    diff_pair diff/regress-version "$base -max_protocol TLSv1"
    diff_pair diff/regress-client-cert "$base -Verify 1 -CAfile $T/root.pem"
    # Latency: the base again behind a proxy that holds each server flight for 25 ms (this
    # kernel has no netem). The capture sees only the client's side, port 20080; the server
    # listens on 20081.
    cap_start diff/regress-latency "tcp port 20080"
    srv 20081 openssl s_server -naccept "$DIFF_CONNECTIONS" -rev -accept 20081 "${base_args[@]}"
    python3 "$HELPERS" delay-proxy 20080 20081 25 "$DIFF_CONNECTIONS" &
    local proxy_pid=$!
    wait_listen 20080
    diff_clients 20080
    wait "$proxy_pid" || true
    srv_stop; cap_stop
    # A fresh PKI, as a later recording of the same deployment would have after renewals.
    make_pki
    diff_pair diff/rerecorded "$base"
}

defects() {
    python3 "$OUT/defects.py" all "$OUT"
    editcap -F pcapng "$OUT/tls13-aes128gcm.pcap" "$OUT/tls13-aes128gcm.pcapng"
    editcap -F pcapng "$OUT/tls12-ecdhe-rsa.pcap" "$OUT/tls12-ecdhe-rsa.pcapng"
    editcap -F pcapng "$OUT/fail-no-shared-cipher.pcap" "$OUT/fail-no-shared-cipher.pcapng"
    editcap -F nsecpcap "$OUT/tls12-ecdhe-ecdsa.pcap" "$OUT/tls12-ecdhe-ecdsa-nsec.pcap"
}

# ---------------------------------------------------------------- captures with key logs
# Each capture in captures/keylog/ has its NSS key log beside it (NAME.keylog, written by the
# OpenSSL client's -keylogfile): throwaway secrets of a throwaway PKI, test material only.
KL=keylog

# kl_begin NAME PORT: starts capturing PORT into keylog/NAME.pcap, with an empty key log beside it
kl_begin() {
    rm -f "$OUT/$KL/$1.keylog"
    cap_start "$KL/$1" "tcp port $2"
}

# kl_simple NAME PORT "SERVER ARGS" "CLIENT ARGS": one connection, the client's secrets logged
kl_simple() {
    local name=$1 port=$2
    local -a sargs=() cargs=()
    read -r -a sargs <<<"$3"
    read -r -a cargs <<<"$4"
    kl_begin "$name" "$port"
    srv "$port" "${S[@]}" "$port" "${sargs[@]}"
    cli "$HELLO" "${C[@]}" "127.0.0.1:$port" "${cargs[@]}" -keylogfile "$OUT/$KL/$name.keylog"
    srv_stop
    cap_stop
}

# kl_reneg NAME PORT "SERVER ARGS" "CLIENT ARGS": TLS 1.2 with a client-initiated renegotiation
# ("R" on s_client's stdin) that the server allows, so the second handshake runs encrypted.
kl_reneg() {
    local name=$1 port=$2
    local -a sargs=() cargs=()
    read -r -a sargs <<<"$3"
    read -r -a cargs <<<"$4"
    kl_begin "$name" "$port"
    srv "$port" "${S[@]}" "$port" "${RSA[@]}" -client_renegotiation "${sargs[@]}"
    { sleep 0.3; printf 'R\n'; sleep 0.5; printf '%b' "$HELLO"; sleep 0.7; } |
        timeout 10 "${C[@]}" "127.0.0.1:$port" "${CLI_OK[@]}" -tls1_2 "${cargs[@]}" \
            -keylogfile "$OUT/$KL/$name.keylog" >>"$T/$CAP_NAME.cli.log" 2>&1 || true
    srv_stop
    cap_stop
}

keylog() {
    mkdir -p "$OUT/$KL" "$T/$KL"
    local t13=(-tls1_3 -ciphersuites)
    kl_simple tls13-aes128gcm 20080 "${RSA[*]} -alpn h2,http/1.1" \
        "${CLI_OK[*]} ${t13[*]} TLS_AES_128_GCM_SHA256 -alpn h2,http/1.1"
    kl_simple tls13-aes256gcm 20081 "${RSA[*]}" "${CLI_OK[*]} ${t13[*]} TLS_AES_256_GCM_SHA384"
    kl_simple tls13-chacha20 20082 "${ECDSA[*]}" "${CLI_OK[*]} ${t13[*]} TLS_CHACHA20_POLY1305_SHA256"
    kl_simple tls13-unknown-ca 20083 "${RSA[*]}" \
        "-servername server.test -CAfile $T/otherroot.pem -verify_return_error -tls1_3"
    kl_simple tls13-certificate-required 20084 "${RSA[*]} -Verify 1 -CAfile $T/root.pem" \
        "${CLI_OK[*]} -tls1_3"
    kl_simple tls13-mutual-auth 20085 "${RSA[*]} -Verify 1 -CAfile $T/root.pem" \
        "${CLI_OK[*]} -tls1_3 -cert $T/client.pem -key $T/client.key -cert_chain $T/inter.pem"
    kl_simple tls13-hello-retry-request 20086 "${RSA[*]} -groups X25519" \
        "${CLI_OK[*]} -tls1_3 -groups P-256:X25519"

    # PSK resumption: two connections, the second resumes the first's ticket; both logged.
    local name=tls13-resumption-psk port=20087
    rm -f "$T/sess.pem"
    kl_begin "$name" "$port"
    srv "$port" openssl s_server -naccept 2 -rev -accept "$port" "${RSA[@]}"
    cli "$HELLO" "${C[@]}" "127.0.0.1:$port" "${CLI_OK[@]}" -tls1_3 -sess_out "$T/sess.pem" \
        -keylogfile "$OUT/$KL/$name.keylog"
    cli "$HELLO" "${C[@]}" "127.0.0.1:$port" "${CLI_OK[@]}" -tls1_3 -sess_in "$T/sess.pem" \
        -keylogfile "$OUT/$KL/$name.keylog"
    srv_stop; cap_stop

    kl_reneg tls12-gcm-renegotiation 20088 "" "-cipher ECDHE-RSA-AES128-GCM-SHA256"
    kl_reneg tls12-cbc-etm-renegotiation 20089 "" "-cipher ECDHE-RSA-AES256-SHA384"
    kl_simple tls12-cbc-sha1-mte 20090 "${RSA[*]} -no_etm" \
        "${CLI_OK[*]} -tls1_2 -cipher ECDHE-RSA-AES128-SHA"
    kl_simple tls12-chacha20 20091 "${RSA[*]}" "${CLI_OK[*]} -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305"
    kl_simple tls10-cbc-implicit-iv 20092 "${RSA[*]} -tls1 -cipher $LOW -no_etm" \
        "${CLI_OK[*]} -tls1 -cipher $LOW"

    # The first capture again, its secrets stored inside as a Decryption Secrets Block.
    editcap --inject-secrets "tls,$OUT/$KL/tls13-aes128gcm.keylog" \
        "$OUT/$KL/tls13-aes128gcm.pcap" "$OUT/$KL/tls13-aes128gcm-dsb.pcapng"
}

# Installs what the recording needs and is missing (Debian packages).
install_tools() {
    local need=()
    command -v openssl >/dev/null || need+=(openssl)
    command -v tcpdump >/dev/null || need+=(tcpdump)
    command -v gnutls-cli >/dev/null || need+=(gnutls-bin)
    command -v editcap >/dev/null || need+=(wireshark-common)
    command -v tshark >/dev/null || need+=(tshark)
    command -v ethtool >/dev/null || need+=(ethtool)
    command -v ip >/dev/null || need+=(iproute2)
    if [[ ${#need[@]} -gt 0 ]]; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
    fi
}

main() {
    [[ $(id -u) == 0 ]] || { echo "run as root (tcpdump, ip netns)" >&2; exit 1; }
    install_tools
    make_pki
    mkfifo "$T/stdin.fifo"
    exec 9<>"$T/stdin.fifo"
    local groups=("$@")
    [[ ${#groups[@]} -gt 0 ]] || groups=(versions resumption interop failures certs transport netns_captures census diff_captures defects keylog)
    for g in "${groups[@]}"; do "$g"; done
    log "done: $(ls "$OUT"/*.pcap* | wc -l) capture files, $(du -sh "$OUT" | cut -f1) total"
}

main "$@"
