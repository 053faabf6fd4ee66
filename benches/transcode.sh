#!/usr/bin/env bash
# Transcoded calls against plain ones, side by side in one session: the same `voxgate storm`
# (PCMU ingress, 20 ms media, every frame's echo checked by content) is played against three
# release nodes in turn, each started fresh with the default config but for its bot:
#   builtin   the demo bot (µ-law 8k ⇄ L16 8 kHz: G.711 only, no resampling)
#   ws-mulaw  a WebSocket echo bot in audio/x-mulaw (the reference bot, examples/ws_echo_bot.rs)
#   ws-l16    the same bot in audio/l16: PCMU 8k ⇄ L16 16 kHz, resampled both ways (rubato)
# For each it prints the storm's summary (node CPU per call, RSS per call, loss, RTT) and the
# echo bot's own CPU (a separate process, so the node's figure is the node's alone).
#
#   benches/transcode.sh CALLS HOLD RATE [-- extra voxgate storm args]
#   benches/transcode.sh 300 20 50
#   BOTS="ws-l16" benches/transcode.sh 1000 20 100          # one kind only
#   benches/transcode.sh 200 20 50 -- --mode talkdesk        # Talkdesk ingress instead of SIP
#   CHUNK_MS=40 BOTS=ws-l16 benches/transcode.sh 300 20 50   # 40 ms of audio per bot message
#
# Needs `cargo build --release --bin voxgate --example ws_echo_bot`. Loopback only; each run
# is bounded by CALLS, HOLD and RATE. Other binaries, e.g. a kept "before" build for a
# back-to-back comparison: NODE_BIN (the node), STORM_BIN (the storm), BOT_BIN (the echo bot).
# PERF_OUT=/tmp/p: also `perf record -F 499 -g` the node for PERF_SECONDS (12) once all calls
# are up, into /tmp/p.KIND (`perf report -i /tmp/p.ws-l16 --no-children`).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
storm_args "$@"
set -- "${storm_extra[@]}"
bot_bin=${BOT_BIN:-$PWD/target/release/examples/ws_echo_bot}
storm_bin=${STORM_BIN:-$PWD/target/release/voxgate}
work=$(mktemp -d)
node_pid=
bot_pid=
trap 'kill $node_pid $bot_pid 2>/dev/null || true; rm -rf "$work"' EXIT

# The bot's port: the example does not report a port 0 bind (free_port probes UDP; the TCP
# port of that number is as good as free on an otherwise idle loopback).
bot_port=$(free_port)
"$bot_bin" --listen "127.0.0.1:$bot_port" > "$work/bot.out" 2> /dev/null &
bot_pid=$!
wait_for "$work/bot.out" listening

for kind in ${BOTS:-builtin ws-mulaw ws-l16}; do
  cfg=$work/$kind.toml
  case $kind in
    builtin) cp config/default.toml "$cfg" ;;
    ws-mulaw|ws-l16)
      format=audio/x-mulaw; [ "$kind" = ws-l16 ] && format=audio/l16
      sed 's/kind = "builtin"/kind = "websocket"/' config/default.toml > "$cfg"
      printf '\n[bots.websocket]\nurl = "ws://127.0.0.1:%s/stream"\nformat = "%s"\n%s' \
        "$bot_port" "$format" "${CHUNK_MS:+chunk_ms = $CHUNK_MS
}" >> "$cfg" ;;
    *) echo "unknown bot kind $kind" >&2; exit 1 ;;
  esac
  sed -i 's/max_calls = 2000/max_calls = 5000/' "$cfg"
  start_node "$work" "$cfg"
  target=$node_sip
  case " $* " in *" --mode talkdesk "*) target=$node_http ;; esac
  echo "== bot: $kind"; stamp
  echo "== voxgate storm --calls $calls --rate $rate --total $calls --hold ${hold}s $*"
  if [ -n "${PERF_OUT:-}" ]; then
    (sleep $(( calls / rate + 2 )) && perf record -q -F 499 -g -p "$node_pid" \
        -o "$PERF_OUT.$kind" -- sleep "${PERF_SECONDS:-12}" > /dev/null 2>&1) &
  fi
  bot0=$(cpu_ticks "$bot_pid")
  "$storm_bin" storm --target "$target" --calls "$calls" --rate "$rate" \
      --total "$calls" --duration "$(( calls / rate + 5 ))s" --hold "${hold}s" \
      --node-pid "$node_pid" --quiet "$@" || true
  bot1=$(cpu_ticks "$bot_pid")
  [ "$kind" = builtin ] || echo "  echo bot CPU                 $(awk -v t=$((bot1 - bot0)) 'BEGIN {printf "%.2f s", t / 100}')"
  kill "$node_pid"; wait "$node_pid" 2>/dev/null || true
  node_pid=
done
