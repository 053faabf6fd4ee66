#!/usr/bin/env bash
# The storm of `voxgate storm` played by SIPp instead, for a side-by-side run: CALLS calls at
# RATE calls/s, each held HOLD seconds with a G.711 tone streamed both ways (the demo bot greets
# and echoes), ESCALATE_PCT % of them pressing 0 (RFC 4733, SIPp's dtmf_2833_0.pcap) and
# expecting the node's BYE with kore-reason: TransferToAgent, the others hanging up. Prints
# SIPp's and the node's CPU per call (CPU seconds per call-second, in % of a core).
#
#   benches/sipp/storm.sh CALLS HOLD RATE ESCALATE_PCT [SIP_ADDR NODE_PID]
#
# Without SIP_ADDR and NODE_PID it starts its own release node on loopback. Needs sipp
# (sip-tester) and sox or python3; traffic stays on 127.0.0.1 and the run is bounded by CALLS and HOLD.
set -euo pipefail
cd "$(dirname "$0")/../.."
calls=${1:-200}
hold=${2:-20}
rate=${3:-50}
escalate_pct=${4:-0}
sip=${5:-}
node_pid=${6:-}
work=$(mktemp -d)
own_node=
cleanup() {
  [ -n "$own_node" ] && kill "$own_node" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

if [ -z "$sip" ]; then
  (cd "$work" && exec "$OLDPWD/target/release/voxgate" run --sip-listen 127.0.0.1:0 \
      --http-listen 127.0.0.1:0 --rtp-ports 30000-39999 > node.out 2> node.err) &
  own_node=$!
  node_pid=$own_node
  for _ in $(seq 100); do grep -q listening "$work/node.out" 2>/dev/null && break; sleep 0.1; done
  sip=$(grep -o 'sip=[0-9.:]*' "$work/node.out" | cut -d= -f2)
fi

# 4 s of a 440 Hz tone in µ-law (sox when present, else Python's audioop).
if command -v sox >/dev/null; then
  sox -n -r 8000 -c 1 -e u-law -t raw "$work/tone.ulaw" synth 4 sine 440 vol 0.4
else
  python3 -W ignore -c 'import audioop, math, struct, sys
pcm = b"".join(struct.pack("<h", int(13000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(32000))
sys.stdout.buffer.write(audioop.lin2ulaw(pcm, 2))' > "$work/tone.ulaw"
fi
escalating=$(( calls * escalate_pct / 100 ))
hanging=$(( calls - escalating ))
free_port() { python3 -c "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }

scenario() { # NAME ENDING_FILE
  sed -e 's/@CODEC_PT@/0/g' -e "s|@TONE@|$work/tone.ulaw|" -e "s/@HOLD_MS@/$((hold * 1000))/" \
      -e "/@ENDING@/{r $2" -e 'd}' benches/sipp/storm_uac.xml > "$work/$1.xml"
}
cat > "$work/hangup.end" <<'XML'
  <send retrans="500">
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
[last_Route:]
From: "Storm" <sip:storm@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
XML
cat > "$work/escalate.end" <<'XML'
  <nop>
    <action>
      <exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_0.pcap"/>
    </action>
  </nop>
  <recv request="BYE" timeout="10000">
    <action>
      <ereg regexp="^ *TransferToAgent *$" search_in="hdr" header="kore-reason:" check_it="true" assign_to="reason"/>
    </action>
  </recv>
  <Reference variables="reason"/>
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
XML
scenario hangup "$work/hangup.end"
scenario escalate "$work/escalate.end"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
n0=$(ticks "$node_pid"); t0=$(date +%s.%N)
pids=()
run_sipp() { # NAME CALLS RATE
  [ "$2" -gt 0 ] || return 0
  sipp "$sip" -sf "$work/$1.xml" -i 127.0.0.1 -p "$(free_port)" -mp "$(free_port)" -s +15550100 \
      -r "$3" -l "$2" -m "$2" -timeout "$((hold + 90))s" -nostdin > "$work/$1.out" 2>&1 &
  pids+=($!)
}
rate_h=$(( rate * hanging / calls > 0 ? rate * hanging / calls : 1 ))
rate_e=$(( rate * escalating / calls > 0 ? rate * escalating / calls : 1 ))
run_sipp hangup "$hanging" "$rate_h"
run_sipp escalate "$escalating" "$rate_e"
# SIPp's CPU: the last reading of each process before it exits.
declare -A last
while :; do
  alive=0
  for p in "${pids[@]}"; do
    if t=$(ticks "$p" 2>/dev/null); then last[$p]=$t; alive=1; fi
  done
  [ $alive = 1 ] || break
  sleep 0.2
done
s_total=0
for p in "${pids[@]}"; do s_total=$(( s_total + ${last[$p]:-0} )); wait "$p" || true; done
n1=$(ticks "$node_pid"); t1=$(date +%s.%N)

# SIPp's final statistics screen: the cumulative column of its call counters.
count() { awk -v what="$1" '$0 ~ what {gsub(/[|]/, " "); n = $NF} END {print n + 0}' "$2"; }
ok=0; failed=0
for name in hangup escalate; do
  [ -f "$work/$name.out" ] || continue
  ok=$(( ok + $(count "Successful call" "$work/$name.out") ))
  failed=$(( failed + $(count "Failed call" "$work/$name.out") ))
done
awk -v n0="$n0" -v n1="$n1" -v s="$s_total" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    -v calls="$calls" -v hold="$hold" -v ok="$ok" -v failed="$failed" 'BEGIN {
  cs = calls * hold   # call-seconds (answered time), as voxgate storm counts them
  printf "SIPp: %d calls (%d successful, %d failed) over %.1f s\n", calls, ok, failed, t1 - t0
  printf "SIPp CPU: %.2f s = %.3f %% of a core per call\n", s / hz, s / hz / cs * 100
  printf "node CPU: %.2f s = %.3f %% of a core per call\n", (n1 - n0) / hz, (n1 - n0) / hz / cs * 100
}'
