#!/usr/bin/env bash
# Runs every fuzz target for a short time (default 20 s each) so that none of them rots:
# installs cargo-fuzz if missing, seeds the corpora from ../captures, builds, runs.
# Usage: bash fuzz/smoke.sh [SECONDS_PER_TARGET]. A crash fails the script (cargo fuzz exits
# non-zero) and leaves the input in fuzz/artifacts/<target>/. Dev profile: it builds in less than
# half the time of a release build and keeps overflow checks and debug assertions on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
secs="${1:-20}"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
# cargo fuzz needs nightly flags (-Zsanitizer); on a machine with only stable, RUSTC_BOOTSTRAP
# unlocks them.
if rustup run nightly rustc --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
python3 seeds.py >/dev/null
"${fuzz[@]}" build --dev
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in $("${fuzz[@]}" list); do
    status=0
    "${fuzz[@]}" run --dev "$target" -- -max_total_time="$secs" -timeout=10 >"$log" 2>&1 || status=$?
    echo "fuzz smoke: $target, ${secs} s: $(grep -E '^#[0-9]+' "$log" | tail -n 1)"
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log"
        exit "$status"
    fi
done
