#!/usr/bin/env bash
# Installs what building and testing tlsight needs and a fresh machine may lack: libpcap's
# headers (libpcap-dev), a C toolchain with make, OpenSSL's and zlib's headers (librdkafka, the
# Kafka client, is built from source by the rdkafka crate with TLS and gzip: Debian's
# librdkafka-dev is 2.0.2, older than the 2.12 the crate needs), openssl (s_server/s_client
# drive the live tests), promtool (package prometheus: checks the served metrics), Chromium
# (renders the HTML report in tests/html), xmllint (package libxml2-utils: validates
# `tlsight check --junit` output against its XSD), tshark (the key-log decryption is compared
# with tshark's) and jq (the README's cookbook commands are run by tests/readme_cookbook.rs). Safe to run again: it installs only what is missing.
set -euo pipefail

missing=()
[ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ] || missing+=(libpcap-dev)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
[ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
[ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
command -v tshark >/dev/null 2>&1 || missing+=(tshark)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v jq >/dev/null 2>&1 || missing+=(jq)

if [ ${#missing[@]} -gt 0 ]; then
    echo "tlsight: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "tlsight: cargo (Rust toolchain) is required" >&2; exit 1; }
