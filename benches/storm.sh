#!/usr/bin/env bash
# Load a release voxgate node with `voxgate storm` and print the storm's summary (setup
# latency, media round trip, loss, storm and node CPU per call, node RSS per call) with the
# machine's load average. With SIPP=1 the same storm is then played by SIPp against the same
# node (benches/sipp/storm.sh), for a side-by-side comparison in one run. With ECHO=1 a bare
# UDP echo (target/release/udp_echo, `cargo build --release -p voxgate-storm --bin udp_echo`)
# gets a copy of every RTP packet the storm sends, and the summary shows its CPU per packet
# next to the node's (same storm, same run).
#
#   benches/storm.sh CALLS HOLD RATE [ESCALATE_PCT] [-- extra voxgate storm args]
#   SIPP=1 benches/storm.sh 500 30 100 10
#   TOTAL=20000 benches/storm.sh 2000 2 1000     # call setups per second: 20,000 calls
#   benches/storm.sh 300 20 50 10 -- --mode talkdesk   # Talkdesk WebSocket streams instead
#
# CALLS is the concurrency cap; TOTAL (default CALLS) the number of calls placed.
#
# Needs a release build (cargo build --release). Traffic stays on 127.0.0.1; the run is bounded
# by CALLS, HOLD and RATE.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-200}
hold=${2:-20}
rate=${3:-50}
escalate_pct=${4:-0}
total=${TOTAL:-$calls}
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
work=$(mktemp -d)
echo_pid=
trap 'kill $node_pid $echo_pid 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$work" && exec "${NODE_BIN:-$OLDPWD/target/release/voxgate}" run --sip-listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --rtp-ports 20000-39999 > node.out 2> node.err) &
node_pid=$!
for _ in $(seq 100); do grep -q listening "$work/node.out" 2>/dev/null && break; sleep 0.1; done
sip=$(grep -o 'sip=[0-9.:]*' "$work/node.out" | cut -d= -f2)
target=$sip
# Talkdesk streams go to the node's HTTP address.
case " $* " in *" --mode talkdesk "*) target=$(grep -o 'http=[0-9.:]*' "$work/node.out" | cut -d= -f2) ;; esac
echo_args=()
if [ "${ECHO:-0}" = 1 ]; then
  target/release/udp_echo 127.0.0.1:0 > "$work/echo.out" &
  echo_pid=$!
  for _ in $(seq 100); do grep -q listening "$work/echo.out" 2>/dev/null && break; sleep 0.1; done
  echo_args=(--echo-target "$(grep -o 'udp=[0-9.:]*' "$work/echo.out" | cut -d= -f2)" --echo-pid "$echo_pid")
fi

echo "== $(date -u +%FT%TZ)  uptime:$(uptime | sed 's/.*up[^,]*,//')"
echo "== voxgate storm --calls $calls --rate $rate --total $total --hold ${hold}s --dtmf-escalate $escalate_pct% $*"
target/release/voxgate storm --target "$target" --calls "$calls" --rate "$rate" --total "$total" \
    --duration "$(( total / rate + 5 ))s" --hold "${hold}s" \
    --dtmf-escalate "$(awk -v p="$escalate_pct" 'BEGIN {print p / 100}')" \
    --node-pid "$node_pid" "${echo_args[@]}" --quiet "$@" || true
if [ "${SIPP:-0}" = 1 ]; then
  echo "== uptime:$(uptime | sed 's/.*up[^,]*,//')"
  echo "== benches/sipp/storm.sh $calls $hold $rate $escalate_pct (same node)"
  benches/sipp/storm.sh "$calls" "$hold" "$rate" "$escalate_pct" "$sip" "$node_pid"
fi
