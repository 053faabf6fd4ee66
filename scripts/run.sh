#!/usr/bin/env bash
# Installs what is missing and runs a voxgate node on the embedded default configuration.
# Extra arguments go to `voxgate run` (e.g. --sip-listen 127.0.0.1:5080).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --bin voxgate
exec ./target/release/voxgate run "$@"
