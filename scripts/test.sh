#!/usr/bin/env bash
# Installs what is missing and runs every check and test: format, clippy, unit and
# integration tests (the integration tests start their own SIPp peers on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Integration tests drive the real binary and the example bot; build them first.
cargo build --bin voxgate --examples --locked

echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
fi
