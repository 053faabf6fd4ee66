#!/usr/bin/env bash
# Samples the UDP receive-buffer drops (the `drops` column of /proc/net/udp) of every voxgate
# process's sockets, summed per process, every INTERVAL seconds, until killed: tells whether a
# storm's loss was dropped at the node's sockets or at the storm's.
#
#   benches/udp_drops.sh [INTERVAL] > drops.log &  ...run a storm...  ; kill %1
# Each line: time, the voxgate subcommand (run = a node, storm = the generator), pid, drops.
interval=${1:-5}
while true; do
  for pid in $(pgrep -x voxgate); do
    role=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | awk '{print $2}')
    inodes=$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -o 'socket:\[[0-9]*\]' | grep -o '[0-9]*' | sort -u)
    [ -z "$inodes" ] && continue
    drops=$(awk 'NR == FNR { want[$1] = 1; next } FNR > 1 && ($10 in want) { d += $NF } END { print d + 0 }' \
      <(echo "$inodes") /proc/net/udp)
    echo "$(date -u +%T) $role pid=$pid drops=$drops"
  done
  sleep "$interval"
done
