#!/usr/bin/env bash
# The project's test command: installs missing system packages, then runs every test
# (unit, property, integration: conformance with peers, determinism, golden captures).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/ensure-deps.sh"
cd "$here"
cargo test --release --all-targets
