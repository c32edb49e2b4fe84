#!/usr/bin/env bash
# Installs what building tlsight needs and a fresh machine may lack: libpcap's headers
# (libpcap-dev) and a C toolchain. Safe to run again: it installs only what is missing.
set -euo pipefail

missing=()
[ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ] || missing+=(libpcap-dev)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)

if [ ${#missing[@]} -gt 0 ]; then
    echo "tlsight: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "tlsight: cargo (Rust toolchain) is required" >&2; exit 1; }
