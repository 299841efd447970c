#!/usr/bin/env bash
# Side-by-side S3 upload and download against one local Swift (s3api):
# pipe cp, aws s3 cp (Debian awscli) and rclone copyto (Debian rclone), same
# file, same server, alternating runs. Prints a Markdown table: wall
# seconds, client CPU seconds (user+sys), client peak RSS, server CPU
# seconds (the four Swift processes, from /proc), medians of RUNS.
#
#   bench/run-s3.sh                    # 256 MiB, 3 runs
#   SIZE_MIB=1024 RUNS=1 bench/run-s3.sh
#   CASES="pipe-up aws-up" bench/run-s3.sh
#
# Cases: pipe-up aws-up rclone-up pipe-down aws-down rclone-down
#        pipe-stream-up (cat FILE | pipe cp - s3://: parts copied into
#        the sink's buffers) aws-stream-up (cat FILE | aws s3 cp - s3://)
# Swift runs in $SWIFT_BASE (default /dev/shm) and needs about 2x SIZE
# there; the server is local, so wall time is mostly the server's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
SCRIPT=run-s3.sh
DATA=${DATA:-$BENCH/data}
. "$BENCH/lib.sh"
PIPE=${PIPE_BIN:-$ROOT/build/pipe}
SIZE_MIB=${SIZE_MIB:-256}
RUNS=${RUNS:-3}
CASES=${CASES:-"pipe-up aws-up rclone-up pipe-down aws-down rclone-down pipe-stream-up aws-stream-up"}
[ -x "$PIPE" ] || die "no $PIPE: build first"
mkdir -p "$DATA"
SRC=$DATA/s3-$SIZE_MIB.bin
[ -s "$SRC" ] || head -c $((SIZE_MIB * 1048576)) /dev/urandom > "$SRC"
SW=$(mktemp -d "${SWIFT_BASE:-/dev/shm}/pipe-bench-swift.XXXXXX")
rmdir "$SW"
"$ROOT/tests/integration/swift/start-swift" --watch $$ "$SW" > /dev/null
trap '"$ROOT/tests/integration/swift/stop-swift" "$SW" >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT
. "$SW/env"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION
export AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
export AWS_ENDPOINT_URL=$ENDPOINT # pipe reads it; aws 2.9 does not (--endpoint-url below)
TMP=$(mktemp -d)
# rclone's remote "sw" from the environment (the key id has a ':', which a
# connection string would need quoted).
export RCLONE_CONFIG_SW_TYPE=s3 RCLONE_CONFIG_SW_PROVIDER=Other
export RCLONE_CONFIG_SW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export RCLONE_CONFIG_SW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export RCLONE_CONFIG_SW_ENDPOINT=$ENDPOINT RCLONE_CONFIG_SW_REGION=$AWS_REGION
RC="env -u AWS_CA_BUNDLE rclone --config /dev/null" # rclone refuses a CA bundle with its transport
RREMOTE="sw:"
aws() { /usr/bin/aws --endpoint-url "$ENDPOINT" "$@"; }
# Objects the downloads read, uploaded once by aws-cli.
aws s3 cp --quiet "$SRC" s3://test/down.bin

server_cpu() { # clock ticks of the Swift processes
  local t=0 p
  for p in $PIDS; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done
  echo $t
}

cmd_of() {
  case $1 in
    pipe-up) echo "$PIPE cp --no-progress $SRC s3://test/up.bin";;
    aws-up) echo "/usr/bin/aws --endpoint-url $ENDPOINT s3 cp --quiet $SRC s3://test/up.bin";;
    rclone-up) echo "$RC copyto --ignore-times $SRC ${RREMOTE}test/up.bin";;
    pipe-down) echo "$PIPE cp --no-progress s3://test/down.bin $TMP/down.bin";;
    aws-down) echo "/usr/bin/aws --endpoint-url $ENDPOINT s3 cp --quiet s3://test/down.bin $TMP/down.bin";;
    rclone-down) echo "$RC copyto --ignore-times ${RREMOTE}test/down.bin $TMP/down.bin";;
    pipe-stream-up) echo "$PIPE cp --no-progress - s3://test/up.bin";;
    aws-stream-up) echo "/usr/bin/aws --endpoint-url $ENDPOINT s3 cp --quiet - s3://test/up.bin";;
  esac
}

echo "## S3 upload and download ($SIZE_MIB MiB, local Swift s3api, medians of $RUNS)"
echo
host_line
echo
echo "| case | wall s | client CPU s (user + sys) | client peak RSS MiB | server CPU s |"
echo "|---|---|---|---|---|"
HZ=$(getconf CLK_TCK)
for c in $CASES; do
  cmd=$(cmd_of "$c")
  : > "$TMP/w"; : > "$TMP/c"; : > "$TMP/m"; : > "$TMP/s"
  for i in $(seq "$RUNS"); do
    s0=$(server_cpu)
    if [ "${c%-stream-up}" != "$c" ]; then
      /usr/bin/time -f "%e %U %S %M" -o "$TMP/t" sh -c "cat $SRC | exec $cmd" > /dev/null 2>&1
    else
      /usr/bin/time -f "%e %U %S %M" -o "$TMP/t" sh -c "exec $cmd" > /dev/null 2>&1
    fi
    s1=$(server_cpu)
    read -r w u sy m < "$TMP/t"
    echo "$w" >> "$TMP/w"
    echo "$u $sy" | awk '{printf "%.2f (%.2f + %.2f)\n", $1 + $2, $1, $2}' >> "$TMP/c"
    echo "$m" | awk '{printf "%.1f\n", $1 / 1024}' >> "$TMP/m"
    echo "$s0 $s1 $HZ" | awk '{printf "%.2f\n", ($2 - $1) / $3}' >> "$TMP/s"
    if [ "${c%-down}" != "$c" ]; then cmp -s "$SRC" "$TMP/down.bin" || die "$c: bytes differ"; rm -f "$TMP/down.bin"; fi
  done
  echo "| $c | $(median < "$TMP/w") | $(sort -g "$TMP/c" | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}') | $(median < "$TMP/m") | $(median < "$TMP/s") |"
done
echo
echo "Commands (\$SRC a $SIZE_MIB MiB random file, endpoint the local Swift):"
echo
for c in $CASES; do echo "    $c: $(cmd_of "$c" | sed "s|$ROOT/||g; s|$SRC|\$SRC|; s|$TMP|\$TMP|")"; done
