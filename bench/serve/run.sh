#!/usr/bin/env bash
# pipe serve under load (a benchmark, not a test): N concurrent curl -F
# uploads of SIZE bytes, then one big upload, each plain and through
# ?pipeline=gzip; prints throughput, server CPU seconds per GiB and the
# server's peak RSS (VmHWM), for pipe and for the Node peer (peer.js:
# node:http + busboy, same store, same receipt). Usage:
#   N=16 SIZE=32M BIG=512M bench/serve/run.sh [BUILD_DIR]
# PEERS="pipe node" by default; the Node peer needs node and node-busboy.
set -euo pipefail
build=${1:-build}
N=${N:-16}
SIZE=${SIZE:-32M}
BIG=${BIG:-512M}
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
head -c "$SIZE" /dev/urandom > "$dir/small"
head -c "$BIG" /dev/urandom > "$dir/big"
tck=$(getconf CLK_TCK)

here=$(cd "$(dirname "$0")" && pwd)
PEERS=${PEERS:-pipe node}

run() { # server, label, pipeline query, file, count
  local who=$1 label="$1 $2" q=$3 f=$4 n=$5
  if [ "$who" = pipe ]; then
    "$build/pipe" serve --listen 127.0.0.1:0 --port-file "$dir/port" --store "$dir/store" 2>/dev/null &
  else
    NODE_PATH=/usr/share/nodejs node "$here/peer.js" "$dir/store" "$dir/port" &
  fi
  pid=$!
  for _ in $(seq 500); do [ -s "$dir/port" ] && break; sleep 0.02; done
  local url="http://127.0.0.1:$(cat "$dir/port")/v1/uploads$q"
  local t0 t1 bytes
  t0=$(date +%s.%N)
  seq "$n" | xargs -P "$n" -I{} curl -sS -o /dev/null -F "f=@$f" "$url"
  t1=$(date +%s.%N)
  read -r ut st < <(awk '{print $14, $15}' "/proc/$pid/stat")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill $pid; wait $pid || true
  rm -rf "$dir/store" "$dir/port"
  bytes=$(( $(stat -c %s "$f") * n ))
  awk -v l="$label" -v b="$bytes" -v t0="$t0" -v t1="$t1" -v ut="$ut" -v st="$st" \
      -v tck="$tck" -v hwm="$hwm" 'BEGIN {
    gib = b / 1073741824; s = t1 - t0; cpu = (ut + st) / tck;
    printf "%-28s %7.1f MiB/s  %5.2f CPU s/GiB  peak RSS %6.1f MiB\n",
           l, b / 1048576 / s, cpu / gib, hwm / 1024 }'
}

for who in $PEERS; do
  run "$who" "${N}x${SIZE} plain" "" "$dir/small" "$N"
  run "$who" "${N}x${SIZE} gzip" "?pipeline=gzip" "$dir/small" "$N"
  run "$who" "1x${BIG} plain" "" "$dir/big" 1
  run "$who" "1x${BIG} gzip" "?pipeline=gzip" "$dir/big" 1
done
