#!/usr/bin/env bash
# Call setups per second, one run, two peers driven by the same SIPp UAC (SIPp's built-in `uac`
# scenario: INVITE → 200 → ACK → BYE → 200, no media):
#   1. a release voxgate node with the default config (the demo bot answers each call);
#   2. Kamailio as a stateful proxy (benches/kamailio/proxy.cfg, `-m 1024`) in front of a
#      SIPp UAS (`-sn uas`).
# For each it prints calls placed, successful, failed, INVITE→200 p50/p99 (SIPp's
# response-time trace) and the CPU of the peer's processes over the run.
#
#   benches/cps.sh RATE TOTAL          e.g. benches/cps.sh 1000 16000
#   ONLY=voxgate benches/cps.sh …      one peer only (ONLY=kamailio for the other)
#   NODE_BIN=/path/to/voxgate …         another build of the node (before/after comparisons)
#
# Needs a release build (cargo build --release), sipp and kamailio. Traffic stays on 127.0.0.1;
# each run is bounded by TOTAL calls.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-500}
total=${2:-5000}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',0));print(s.getsockname()[1])"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sum_ticks() { local t=0 p; for p in "$@"; do t=$(( t + $(ticks "$p") )); done; echo "$t"; }
hz=$(getconf CLK_TCK)
# The last value of a named column of SIPp's -trace_stat CSV.
column_of() {
  awk -F';' -v name="$2" 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == name) c = i} {v = $c} END {print v + 0}' "$1"
}
# Waits until something answers an OPTIONS at 127.0.0.1:$1 (at most 10 s).
wait_sip() {
  python3 - "$1" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.2)
me = s.getsockname()[1]
msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK-probe\r\n"
       f"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1:{port}>\r\nCall-ID: probe@127.0.0.1\r\n"
       "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
deadline = time.time() + 10
while time.time() < deadline:
    s.sendto(msg, ("127.0.0.1", port))
    try:
        s.recv(4096)
        sys.exit(0)
    except socket.timeout:
        pass
sys.exit("no SIP answer on port %d" % port)
PY
}

# SIPp UAC against $1; the CPU of the pids in $3.. is reported under the label $2.
measure() {
  local target=$1 label=$2; shift 2
  local dir="$work/$label"; mkdir -p "$dir"
  echo "== $label: $(date -u +%FT%TZ) uptime:$(uptime | sed 's/.*up[^,]*,//')"
  local c0; c0=$(sum_ticks "$@")
  local t0; t0=$(date +%s.%N)
  (cd "$dir" && sipp "$target" -sn uac -i 127.0.0.1 -p "$(free_port)" -s +15550100 \
      -r "$rate" -m "$total" -l "$(( rate * 4 ))" -trace_rtt -rtt_freq 1 -trace_stat -fd 1 \
      -timeout "$(( total / rate + 60 ))s" -nostdin > sipp.out 2>&1) || true
  local t1; t1=$(date +%s.%N)
  local c1; c1=$(sum_ticks "$@")
  local stat; stat=$(ls "$dir"/*_.csv 2>/dev/null | head -1)
  local ok failed
  ok=$(column_of "$stat" "SuccessfulCall(C)")
  failed=$(column_of "$stat" "FailedCall(C)")
  local cps; cps=$(column_of "$stat" "CallRate(C)")
  # The rtt trace: one line per call, "date_ms;response time in whole ms;rtd number".
  sort -t';' -k2 -g "$dir"/*_rtt.csv | awk -F';' '$2 ~ /^[0-9.]+$/ {v[n++] = $2}
    END {if (n) printf "INVITE→200 p50 / p99 / max: %.2f / %.2f / %.2f ms (%d calls)\n", v[int(n*0.5)], v[int(n*0.99)], v[n-1], n}'
  awk -v c="$(( c1 - c0 ))" -v hz="$hz" -v t0="$t0" -v t1="$t1" -v ok="$ok" -v failed="$failed" \
      -v total="$total" -v rate="$rate" -v cps="$cps" 'BEGIN {
    printf "calls %d at %d/s: %d successful, %d failed, %.0f calls/s achieved (SIPp CallRate(C)), %.1f s\n", total, rate, ok, failed, cps, t1 - t0
    printf "CPU of the peer: %.2f s = %.1f µs per call\n", c / hz, c / hz / (ok > 0 ? ok : 1) * 1e6
  }'
}

# 1. voxgate node.
if [ "${ONLY:-voxgate}" = voxgate ]; then
(cd "$work" && exec "${NODE_BIN:-$OLDPWD/target/release/voxgate}" run --sip-listen 127.0.0.1:0 \
    --http-listen 127.0.0.1:0 --rtp-ports 20000-39999 > node.out 2> node.err) &
node=$!; pids+=("$node")
for _ in $(seq 100); do grep -q listening "$work/node.out" 2>/dev/null && break; sleep 0.1; done
sip=$(grep -o 'sip=[0-9.:]*' "$work/node.out" | cut -d= -f2)
measure "$sip" voxgate "$node"
kill "$node"; wait "$node" 2>/dev/null || true
fi
[ "${ONLY:-kamailio}" = kamailio ] || exit 0

# 2. Kamailio (stateful) in front of a SIPp UAS.
uas_port=$(free_port); kam_port=$(free_port)
mkdir -p "$work/uas"
(cd "$work/uas" && exec sipp -sn uas -i 127.0.0.1 -p "$uas_port" -nostdin > uas.out 2>&1) &
uas=$!; pids+=("$uas")
kamailio -f benches/kamailio/proxy.cfg -m 1024 -M 16 -D -E -w "$work" \
    -A "LISTEN=udp:127.0.0.1:$kam_port" -A "UAS=\"sip:127.0.0.1:$uas_port\"" \
    > "$work/kamailio.out" 2>&1 &
kam=$!; pids+=("$kam")
wait_sip "$kam_port"
kam_pids=$(pgrep -P "$kam" | tr '\n' ' ')
# shellcheck disable=SC2086
measure "127.0.0.1:$kam_port" kamailio "$kam" $kam_pids "$uas"
