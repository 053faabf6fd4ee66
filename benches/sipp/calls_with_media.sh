#!/usr/bin/env bash
# Load a voxgate node with N concurrent SIPp calls carrying real RTP both ways (SIPp streams
# an A-law tone in a loop, the demo bot greets and echoes it) and report the node's CPU per
# call, its memory per call, and SIPp's own CPU.
#
#   benches/sipp/calls_with_media.sh [CALLS] [HOLD_SECONDS]      (defaults: 200 30)
#
# Needs: a release build (cargo build --release), sipp (sip-tester), sox. Traffic stays on
# 127.0.0.1 and the run is bounded by CALLS and HOLD_SECONDS.
set -euo pipefail
cd "$(dirname "$0")/../.."
calls=${1:-200}
hold=${2:-30}
rate=$(( calls / 5 > 0 ? calls / 5 : 1 ))   # reach full load in ~5 s
work=$(mktemp -d)
trap 'kill $node_pid 2>/dev/null || true; rm -rf "$work"' EXIT

sox -n -r 8000 -c 1 -e a-law -t raw "$work/tone.alaw" synth 4 sine 440 vol 0.4
sed -e 's/@CODEC_PT@/8/g' \
    -e "s|@MEDIA@|<exec rtp_stream=\"$work/tone.alaw,-1,8\"/>|" \
    tests/sipp/uac_media.xml > "$work/scenario.xml"

(cd "$work" && exec "$OLDPWD/target/release/voxgate" run --sip-listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --rtp-ports 30000-39999 > node.out 2> node.err) &
node_pid=$!
for _ in $(seq 100); do grep -q listening "$work/node.out" 2>/dev/null && break; sleep 0.1; done
sip=$(grep -o 'sip=[0-9.:]*' "$work/node.out" | cut -d= -f2)
http=$(grep -o 'http=[0-9.:]*' "$work/node.out" | cut -d= -f2)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
rss_idle=$(rss_kb "$node_pid")

sipp "$sip" -sf "$work/scenario.xml" -i 127.0.0.1 -p "$(python3 -c "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',0));print(s.getsockname()[1])")" -mp 40000 -s +15550100 \
    -r "$rate" -l "$calls" -m "$calls" -d "$((hold * 1000))" -timeout "$((hold + 60))s" \
    -nostdin -bg > "$work/sipp.out" 2>&1 || true
sleep 1
sipp_pid=$(pgrep -n sipp)

# Steady state: all calls up (ramp ~5 s), then measure over the middle of the hold time.
sleep $(( 5 + 3 ))
window=$(( hold - 12 > 5 ? hold - 12 : 5 ))
n0=$(ticks "$node_pid"); s0=$(ticks "$sipp_pid"); t0=$(date +%s.%N)
active=$(curl -s "$http/metrics" | awk '/^voxgate_active_calls /{print $2}')
sleep "$window"
n1=$(ticks "$node_pid"); s1=$(ticks "$sipp_pid"); t1=$(date +%s.%N)
rss_load=$(rss_kb "$node_pid")

while kill -0 "$sipp_pid" 2>/dev/null; do sleep 1; done
curl -s "$http/metrics" > "$work/metrics.txt"

awk -v n0="$n0" -v n1="$n1" -v s0="$s0" -v s1="$s1" -v t0="$t0" -v t1="$t1" -v hz="$hz" \
    -v active="$active" -v calls="$calls" -v ri="$rss_idle" -v rl="$rss_load" 'BEGIN {
  wall = t1 - t0
  node = (n1 - n0) / hz / wall * 100; sipp = (s1 - s0) / hz / wall * 100
  printf "concurrent calls (node gauge): %d of %d\n", active, calls
  printf "node CPU: %.1f%% of a core = %.3f%% per call (%.0f calls per core)\n", node, node / active, active / node * 100
  printf "SIPp CPU: %.1f%% of a core = %.3f%% per call\n", sipp, sipp / active
  printf "node RSS: %.1f MiB idle, %.1f MiB loaded = %.1f KiB per call\n", ri / 1024, rl / 1024, (rl - ri) / active
}'
grep -E '^voxgate_(calls_ended_total|rtp_packets_total|rtp_packets_lost_total|media_frames_dropped_total)' "$work/metrics.txt" || true
grep -E "Successful call|Failed call" "$work/sipp.out" | tail -2 || true
