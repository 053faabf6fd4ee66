#!/usr/bin/env bash
# Where a held call's memory goes: a release node under heaptrack, CALLS calls held HOLD
# seconds by `voxgate storm` (PCMU, demo bot echo), then heaptrack's peak-memory consumers.
# The storm's summary gives the RSS slope next to it (RSS under heaptrack is inflated by its
# own bookkeeping: read the per-call RSS from benches/storm.sh, the allocation sites here).
#
#   benches/heap.sh [CALLS] [HOLD]        e.g. benches/heap.sh 200 20
#
# Needs a release build and heaptrack (Debian package). Traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-200}
hold=${2:-20}
work=$(mktemp -d)
node_pid=
trap 'kill $node_pid 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
(cd "$work" && exec heaptrack -o "$work/heap" "$OLDPWD/target/release/voxgate" run \
    --sip-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --rtp-ports 20000-39999 \
    > node.out 2> node.err) &
tracker=$!
for _ in $(seq 300); do grep -q listening "$work/node.out" 2>/dev/null && break; sleep 0.1; done
sip=$(grep -o 'sip=[0-9.:]*' "$work/node.out" | cut -d= -f2)
# heaptrack runs the node as its child.
node_pid=$(pgrep -P "$tracker" -f "voxgate run" | head -1)
target/release/voxgate storm --target "$sip" --calls "$calls" --rate 50 --total "$calls" \
    --duration "$(( calls / 50 + 5 ))s" --hold "${hold}s" --quiet || true
kill "$node_pid"   # SIGTERM: drains (no calls left) and exits
wait "$tracker" || true
heaptrack_print -f "$work"/heap*.zst --print-peaks 1 --print-allocators 0 --print-temporary 0 \
    --print-leaks 0 --peak-limit 25 --sub-peak-limit 3 | sed -n '/PEAK MEMORY CONSUMERS/,$p' | head -250
