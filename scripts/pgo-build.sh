#!/usr/bin/env bash
# Builds the release binary with profile-guided optimisation and prints its path.
#
#   bash scripts/pgo-build.sh            # -> target/pgo/release/tlsight
#
# Three steps: an instrumented release build; `tlsight analyze` over every capture bundled in
# captures/ (real captures from other projects' test suites and our own, TCP, QUIC and DTLS,
# with their key logs where they have one), which writes the profile; the release build again,
# optimised for the branches and calls that profile saw taken. The training set is the bundled
# captures, never the benchmark corpora, so the benchmark does not measure a binary tuned to
# itself. The profile is made afresh each time (nothing is committed that could go stale).
#
# Needs LLVM's `llvm-profdata` of the compiler's own LLVM version: the `llvm-tools` rustup
# component, installed here if it is missing. Builds in `$CARGO_TARGET_DIR` (default
# target/) under pgo-train/ and pgo/; the plain `cargo build --release` binary is untouched.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
profiles="$target/pgo-profiles"

bash "$here/scripts/ensure-deps.sh"
host="$(rustc -vV | sed -n 's/^host: //p')"
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
    echo "installing the llvm-tools rustup component (llvm-profdata)" >&2
    rustup component add llvm-tools >&2
fi

echo "pgo: instrumented build" >&2
# With the release profile's own settings: a profile taken without fat LTO matched the final
# build so badly that the binary came out slower than without one.
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$profiles" \
    cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target-dir "$target/pgo-train" >&2

echo "pgo: training on the bundled captures" >&2
# Build scripts and proc macros are instrumented too and wrote their own profiles while the
# build ran: counts of the standard library's generic functions from a code generator, not
# from tlsight (kept, they made the binary slower than one built without a profile).
rm -rf "$profiles"
mkdir -p "$profiles"
trained=0
while IFS= read -r capture; do
    keys=()
    for k in "${capture%.*}.keylog" "${capture%.*}.keys"; do
        [ -f "$k" ] && keys+=(--keylog "$k")
    done
    # A capture that tlsight rejects (some are bundled to test exactly that) still trains the
    # error path; its status does not matter here.
    LLVM_PROFILE_FILE="$profiles/%m-%p.profraw" "$target/pgo-train/release/tlsight" analyze --quiet \
        "${keys[@]}" "$capture" --ndjson /dev/null >/dev/null 2>&1 || true
    trained=$((trained + 1))
done < <(find "$here/captures" -type f \( -name '*.pcap' -o -name '*.pcapng' \) | sort)
[ "$trained" -gt 0 ] || { echo "pgo: no capture to train on under $here/captures" >&2; exit 1; }
"$profdata" merge -o "$profiles/merged.profdata" "$profiles"/*.profraw
echo "pgo: trained on $trained captures; optimised build" >&2

RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$profiles/merged.profdata" \
    cargo build --release --quiet --manifest-path "$here/Cargo.toml" --target-dir "$target/pgo" >&2
echo "$target/pgo/release/tlsight"
