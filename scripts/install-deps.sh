#!/usr/bin/env bash
# Installs what voxgate needs to build, run and test on a fresh Debian machine with a Rust
# toolchain: only the packages that are missing, so a second run costs nothing.
set -euo pipefail

# Debian packages and the command (or file) that shows each one is present.
declare -A wanted=(
  [cmake]=cmake                 # the opus crate builds libopus with cmake
  [pkg-config]=pkg-config
  [curl]=curl                   # a SIPp scenario reads the metadata API at the moment of the BYE
  [sip-tester]=sipp             # SIPp, the SIP peer of the integration tests
  [redis-server]=redis-server   # the Redis store backend is tested against a real server
  [baresip-core]=baresip        # a real SIP user agent places calls in the tests
  [kamailio]=kamailio           # the cluster test puts Kamailio (dispatcher) in front of two nodes
)

missing=()
for pkg in "${!wanted[@]}"; do
  command -v "${wanted[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python tools from PyPI that the tests drive: sipvicious (svmap/svwar/svcrack) attacks a
# node in tests/sip_scanners.rs; schemathesis (`st`) checks docs/openapi.yaml against a live
# node in tests/openapi_schemathesis.rs.
declare -A wanted_py=(
  [sipvicious]=sipvicious_svmap
  [schemathesis]=st
)
missing_py=()
for pkg in "${!wanted_py[@]}"; do
  command -v "${wanted_py[$pkg]}" >/dev/null 2>&1 || missing_py+=("$pkg")
done
if ((${#missing_py[@]})); then
  echo "install-deps: pip installing ${missing_py[*]}"
  python3 -m pip install -q --disable-pip-version-check "${missing_py[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
