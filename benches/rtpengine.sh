#!/usr/bin/env bash
# CPU per relayed RTP packet in one run: voxgate vs rtpengine (userspace, no kernel module) vs
# a bare UDP echo. `voxgate storm` places SIP calls with RTP against a release node, and sends a
# copy of every RTP packet it sends (--echo-target, repeated) to rtpengine: one relay per call,
# each allocated over the ng protocol (offer/answer, benches/rtpengine_ng.py; one relay for all
# calls would be one 50×CALLS packets/s stream, which rtpengine's flood guard cuts off:
# "UDP receive queue exceeded 5 times: discarding packet"); rtpengine forwards it to our bare echo
# (target/release/udp_echo), which sends it back through rtpengine to the storm. So, per packet:
#   node       receives it, carries it through the call (jitter buffer, transcoder, bot,
#              transcoder, playout) and sends the echo: 1 in, 1 out;
#   rtpengine  relays it twice (storm → echo, echo → storm): 2 in, 2 out;
#   udp_echo   1 in, 1 out.
# The summary prints the node's and the echo's µs per packet; this script adds rtpengine's (CPU
# over packets mirrored, and per relay = half of it).
#
#   benches/rtpengine.sh CALLS HOLD RATE [-- extra voxgate storm args]
#   benches/rtpengine.sh 300 20 50
#
# Needs the Debian package (apt-get install rtpengine-daemon; only for this bench, not CI), and
# `cargo build --release --bin voxgate` plus `cargo build --release -p voxgate-storm --bin
# udp_echo`. rtpengine runs in the foreground with --table=-1 (userspace forwarding; no kernel
# module is loaded or needed) and one worker thread, on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
storm_args "$@"
set -- "${storm_extra[@]}"
command -v rtpengine > /dev/null || { echo "rtpengine not installed (apt-get install rtpengine-daemon)" >&2; exit 1; }
work=$(mktemp -d)
node_pid= echo_pid= rte_pid=
trap 'kill $node_pid $echo_pid $rte_pid 2>/dev/null || true; rm -rf "$work"' EXIT

start_node "$work"
sip=$node_sip

target/release/udp_echo 127.0.0.1:0 > "$work/echo.out" &
echo_pid=$!
wait_for "$work/echo.out" listening
echo_addr=$(grep -o 'udp=[0-9.:]*' "$work/echo.out" | cut -d= -f2)

ng=127.0.0.1:$(free_port)
rtpengine --table=-1 --interface=127.0.0.1 --listen-ng="$ng" --port-min=40000 --port-max=44999 \
    --foreground --log-stderr --log-level=5 --endpoint-learning=immediate --num-threads=1 \
    --delete-delay=0 > "$work/rtpengine.log" 2>&1 &
rte_pid=$!
# The ng port answers once rtpengine is up; the setup retries until then.
for _ in $(seq 50); do
  python3 benches/rtpengine_ng.py "$ng" setup 127.0.0.1:9 "$echo_addr" 1 > /dev/null 2>&1 && break
  sleep 0.1
done
python3 benches/rtpengine_ng.py "$ng" delete 1 > /dev/null 2>&1 || true
relays=$(python3 benches/rtpengine_ng.py "$ng" setup 127.0.0.1:9 "$echo_addr" "$calls") \
  || { echo "rtpengine did not answer on $ng:" >&2; cat "$work/rtpengine.log" >&2; exit 1; }
echo_args=()
for port in $relays; do echo_args+=(--echo-target "127.0.0.1:$port"); done

stamp
echo "== rtpengine $(rtpengine --version 2>&1 | head -1): $calls userspace relays → udp_echo $echo_addr"
echo "== voxgate storm --calls $calls --rate $rate --total $calls --hold ${hold}s --echo-target (one relay per call) $*"
rte0=$(cpu_ticks "$rte_pid")
out=$(target/release/voxgate storm --target "$sip" --calls "$calls" --rate "$rate" --total "$calls" \
    --duration "$(( calls / rate + 5 ))s" --hold "${hold}s" --node-pid "$node_pid" \
    "${echo_args[@]}" --echo-pid "$echo_pid" --quiet --json "$@" || true)
rte1=$(cpu_ticks "$rte_pid")
python3 benches/rtpengine_ng.py "$ng" delete "$calls" > /dev/null || true
python3 - "$out" "$(( rte1 - rte0 ))" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
rte_s = int(sys.argv[2]) / 100
c, e = r["cpu"], r["echo"]
print(f"  calls succeeded / attempted  {r['succeeded']} / {r['attempted']}  (RTP loss node→storm {r['rtp_loss_percent']:.3f} %)")
print(f"  node       {c['node_cpu_s']:.2f} s CPU / {r['rtp']['sent']} packets = {c['node_us_per_packet']:.2f} µs per packet")
print(f"  rtpengine  {rte_s:.2f} s CPU / {e['sent']} packets = {rte_s * 1e6 / max(e['sent'], 1):.2f} µs per packet"
      f" ({rte_s * 1e6 / max(2 * e['sent'], 1):.2f} µs per relay; {e['received']} came back through it)")
print(f"  udp_echo   {c['echo_cpu_s']:.2f} s CPU / {e['sent']} packets = {c['echo_us_per_packet']:.2f} µs per packet")
print(f"  storm      {c['storm_cpu_s']:.2f} s CPU")
PY
# rtpengine's own complaints (dropped packets, flood guard), if any.
{ grep -E "ERR|WARN" "$work/rtpengine.log" || true; } | sed 's/^\[[0-9.]*\] /  rtpengine log: /' | sort | uniq -c | head -5
