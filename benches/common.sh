# Helpers sourced by the bench scripts (bash).

# CPU time of process $1 so far, in ticks of 1/100 s (utime + stime of /proc/PID/stat).
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# Waits up to 10 s for file $1 to contain $2.
wait_for() { for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# A free loopback port of the kernel's choosing (UDP), for programs that cannot report theirs.
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Starts a release node with config $2 (default: embedded) in work dir $1; sets node_pid,
# node_sip and node_http.
start_node() {
  local dir=$1 cfg=${2:-}
  rm -f "$dir/node.out"
  (cd "$dir" && exec "${NODE_BIN:-$OLDPWD/target/release/voxgate}" run ${cfg:+--config "$cfg"} \
      --sip-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --rtp-ports 20000-39999 \
      > node.out 2> node.err) &
  node_pid=$!
  wait_for "$dir/node.out" listening
  node_sip=$(grep -o 'sip=[0-9.:]*' "$dir/node.out" | cut -d= -f2)
  node_http=$(grep -o 'http=[0-9.:]*' "$dir/node.out" | cut -d= -f2)
}

# Reads the bench arguments `CALLS HOLD RATE [-- extra voxgate storm args]` into calls, hold,
# rate (defaults 200, 20, 50) and the array storm_extra.
storm_args() {
  calls=${1:-200}
  hold=${2:-20}
  rate=${3:-50}
  shift $(( $# < 3 ? $# : 3 ))
  [ "${1:-}" = "--" ] && shift
  storm_extra=("$@")
}

# The load line printed before each run.
stamp() { echo "== $(date -u +%FT%TZ)  uptime:$(uptime | sed 's/.*up[^,]*,//')"; }
