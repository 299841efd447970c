#!/usr/bin/env bash
# Side-by-side S3 benchmark against one local Swift (issue 11, "Speed and
# memory"): upload and download the same file, and stream CSV -> gzipped
# NDJSON into S3, with pipe and its peers, in one run.
#
#   bench/run-s3.sh                      # 1 GiB file, big.csv stream
#   SIZE=mid bench/run-s3.sh             # 256 MiB file, mid.csv (100 MiB)
#   RUNS=3 CASES="pipe aws" MODES="up down" bench/run-s3.sh
#
# Server: tests/integration/swift/start-swift (Swift 2.30 + s3api, four
# single-process servers on 127.0.0.1, devices on SWIFT_BASE, default
# /dev/shm so the server's disk is not what is measured), bucket "bench".
#
# Modes and cases (each is skipped, row kept, when its tool is missing; the
# pipe cases while `pipe cp --help` fails, i.e. before `pipe cp` exists):
#   up      FILE -> s3://bench/up-CASE
#     pipe    pipe cp --no-progress FILE s3://bench/KEY
#             (defaults: 8 MiB parts, 4 in flight, Content-MD5, UNSIGNED-PAYLOAD)
#     aws     /usr/bin/aws s3 cp FILE s3://bench/KEY (Debian aws-cli 2.9:
#             8 MiB parts, 10 threads)
#     rclone  rclone copyto FILE sw:bench/KEY (Debian rclone: 5 MiB chunks,
#             4 in flight, multipart above 200 MiB)
#     node    node bench/node/s3-upload.js FILE s3://bench/KEY
#             (@aws-sdk/lib-storage Upload, pinned in bench/package.json:
#             5 MiB parts, queueSize 4)
#     floor   openssl dgst -md5 FILE; openssl dgst -sha256 FILE (no upload:
#             the CPU floor while every byte needs a Content-MD5 and the
#             receipt's SHA-256)
#   stdin   cat FILE | CLIENT - -> s3://bench/stdin-CASE: the same bytes as a
#           stream of unknown length (the sink copies into its own part
#           buffers; issue 11: peak RSS <= part size x (concurrency + 1) +
#           16 MiB): sh -c 'cat FILE | pipe cp - s3://...' / 'aws s3 cp -' /
#           'rclone rcat' / 'node bench/node/s3-upload.js -' (cat's CPU and
#           RSS are in the sums; they are small)
#   down    s3://bench/down-src (FILE, uploaded once by aws) -> OUT, a fresh
#           file in DATA (same disk as FILE): pipe cp / aws s3 cp / rclone
#           copyto / node bench/node/s3-download.js (GetObject -> file)
#   stream  CSV -> csv2json -> gzip -> s3://bench/stream-CASE
#     pipe    pipe run 'CSV | csv2json | gzip | s3://bench/KEY'
#     aws     sh -c 'mlr --icsv --ojsonl cat CSV | pigz -p 2 | aws s3 cp - s3://...'
#     node    node bench/node/csv2json-gzip-s3.js CSV s3://bench/KEY
#
# Measured per run: wall (bash's clock), client CPU user+sys and the peak RSS
# of the largest client process (GNU time -f '%U %S %M'; for sh -c
# pipelines CPU sums the processes), and server CPU: utime+stime of the four
# Swift processes from /proc/PID/stat before and after. The table gives
# medians (wall min-max) and the largest RSS. Every upload is checked
# (object size = file size, outside the timing) and then deleted; every
# download is compared with FILE (cmp); the last stream object must pass
# gzip -t (the small check: one JSON line per CSV record, as Miller counts).
#
# Output check before timing, on a 12 MiB file and small.csv: every case
# round-trips with aws-cli (its upload read back by aws, aws's upload read by
# it) byte-exact. A case that fails it is not timed.
#
# Environment:
#   SIZE=big             big (1 GiB file, big.csv) or mid (256 MiB, mid.csv)
#   RUNS=3               runs per case for up and down
#   STREAM_RUNS=1        runs per case for stream (Node and Miller are slow)
#   CASES="pipe aws rclone node"   (floor is added to up)
#   MODES="up stdin down stream"
#   PIPE_BIN=build/pipe  DATA_DIR=bench/data  SWIFT_BASE=/dev/shm
#   OUT=FILE             the report (default bench/data/report-s3-<date>.md)
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
DATA=${DATA_DIR:-$BENCH/data}
PIPE_BIN=${PIPE_BIN:-$ROOT/build/pipe}
SIZE=${SIZE:-big}
RUNS=${RUNS:-3}
STREAM_RUNS=${STREAM_RUNS:-1}
CASES=${CASES:-pipe aws rclone node}
MODES=${MODES:-up stdin down stream}
SWIFT_BASE=${SWIFT_BASE:-/dev/shm}
BIG_SIZE=${BIG_SIZE:-1g}
MID_SIZE=${MID_SIZE:-100m}
SEED=${SEED:-}
TIME=/usr/bin/time
AWS=/usr/bin/aws
OUT=${OUT:-$DATA/report-s3-$(date +%Y%m%d-%H%M%S).md}
SCRIPT=run-s3
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

[ -x "$TIME" ] || die "$TIME missing (apt-get install -y time)"
[ -x "$AWS" ] || die "$AWS missing (apt-get install -y awscli)"
case $SIZE in
  big) FILE_BYTES=1073741824 CSV_NAME=big CSV_SIZE=$BIG_SIZE ;;
  mid) FILE_BYTES=268435456 CSV_NAME=mid CSV_SIZE=$MID_SIZE ;;
  *) die "unknown SIZE '$SIZE' (big, mid)" ;;
esac
mkdir -p "$DATA"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pipe-bench-s3.XXXXXX")
SCRATCH=$(mktemp -d "$DATA/.s3-out.XXXXXX")
SWIFT_DIR=$(mktemp -d "$SWIFT_BASE/pipe-bench-swift.XXXXXX")
stop_all() {
  "$ROOT/tests/integration/swift/stop-swift" "$SWIFT_DIR" || true
  rm -rf "$TMP" "$SCRATCH"
}
trap stop_all EXIT

# ---- inputs -------------------------------------------------------------------

FILE=$DATA/s3-$SIZE.bin
if [ ! -s "$FILE" ] || [ "$(stat -c %s "$FILE")" != "$FILE_BYTES" ]; then
  log "generating $FILE ($FILE_BYTES random bytes)"
  head -c "$FILE_BYTES" /dev/urandom > "$FILE.tmp"
  mv "$FILE.tmp" "$FILE"
fi
gen small 4m
gen "$CSV_NAME" "$CSV_SIZE"
CSV=$DATA/$CSV_NAME.csv
SMALL_FILE=$TMP/small.bin
head -c $((12 << 20)) /dev/urandom > "$SMALL_FILE"

# ---- the server -----------------------------------------------------------------

log "starting Swift in $SWIFT_DIR"
"$ROOT/tests/integration/swift/start-swift" --bucket bench --watch $$ "$SWIFT_DIR" > /dev/null
# shellcheck disable=SC1091
. "$SWIFT_DIR/env"
read -r -a SERVER_PIDS <<< "$PIDS"
SERVER_PIDS=("${SERVER_PIDS[@]:0:4}") # proxy, object, container, account

# Every client gets the server's credentials and nothing from the machine:
# empty profile files, no CA bundle (plain HTTP; rclone refuses a custom
# bundle on its transport), no instance metadata look-ups.
: > "$TMP/empty"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION=$AWS_REGION
export AWS_ENDPOINT_URL=$ENDPOINT AWS_CONFIG_FILE=$TMP/empty AWS_SHARED_CREDENTIALS_FILE=$TMP/empty
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
unset AWS_CA_BUNDLE AWS_PROFILE AWS_SESSION_TOKEN
export RCLONE_CONFIG_SW_TYPE=s3 RCLONE_CONFIG_SW_PROVIDER=Other
export RCLONE_CONFIG_SW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID RCLONE_CONFIG_SW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export RCLONE_CONFIG_SW_ENDPOINT=$ENDPOINT RCLONE_CONFIG_SW_REGION=$AWS_REGION RCLONE_CONFIG_SW_FORCE_PATH_STYLE=true
export NODE_NO_WARNINGS=1 # the SDK's "node >= 22 from 2027" notice

awsq() { "$AWS" --endpoint-url "$ENDPOINT" "$@"; }
obj_size() { awsq s3api head-object --bucket bench --key "$1" --query ContentLength --output text 2> /dev/null || echo none; }
obj_rm() { awsq s3 rm --only-show-errors "s3://bench/$1" > /dev/null 2>&1 || true; }

# The four servers' CPU seconds so far.
server_cpu() {
  local p tot=0 t
  for p in "${SERVER_PIDS[@]}"; do
    t=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2> /dev/null || echo 0)
    tot=$((tot + t))
  done
  awk -v t="$tot" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'
}

# ---- tools ----------------------------------------------------------------------

have_pipe=0
[ -x "$PIPE_BIN" ] && "$PIPE_BIN" cp --help > /dev/null 2>&1 && have_pipe=1
have_node=0
if have node; then
  if [ ! -d "$BENCH/node_modules/@aws-sdk/lib-storage" ] && have npm; then
    log "npm ci in $BENCH"
    (cd "$BENCH" && npm ci --no-audit --no-fund > /dev/null 2>&1) || true
  fi
  [ -d "$BENCH/node_modules/@aws-sdk/lib-storage" ] && have_node=1
fi

q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# cmd_for CASE MODE SRC DST -> CMD (array); returns 1 when unavailable.
# up: SRC a file, DST a key; down: SRC a key, DST a file; stream: SRC a CSV.
cmd_for() {
  local c=$1 m=$2 s=$3 d=$4
  case $c:$m in
    pipe:up) [ $have_pipe = 1 ] || return 1; CMD=("$PIPE_BIN" cp --no-progress "$s" "s3://bench/$d") ;;
    pipe:down) [ $have_pipe = 1 ] || return 1; CMD=("$PIPE_BIN" cp --no-progress "s3://bench/$s" "$d") ;;
    pipe:stdin) [ $have_pipe = 1 ] || return 1; CMD=(sh -c "cat $(q "$s") | $(q "$PIPE_BIN") cp --no-progress - s3://bench/$d") ;;
    pipe:stream) [ $have_pipe = 1 ] || return 1; CMD=("$PIPE_BIN" run "$s | csv2json | gzip | s3://bench/$d") ;;
    aws:up) CMD=("$AWS" --endpoint-url "$ENDPOINT" s3 cp --only-show-errors "$s" "s3://bench/$d") ;;
    aws:stdin) CMD=(sh -c "cat $(q "$s") | $AWS --endpoint-url $ENDPOINT s3 cp --only-show-errors - s3://bench/$d") ;;
    aws:down) CMD=("$AWS" --endpoint-url "$ENDPOINT" s3 cp --only-show-errors "s3://bench/$s" "$d") ;;
    aws:stream) have mlr && have pigz || return 1
      CMD=(sh -c "mlr --icsv --ojsonl cat $(q "$s") | pigz -p 2 | $AWS --endpoint-url $ENDPOINT s3 cp --only-show-errors - s3://bench/$d") ;;
    rclone:up) have rclone || return 1; CMD=(rclone --config /dev/null copyto "$s" "sw:bench/$d") ;;
    rclone:stdin) have rclone || return 1; CMD=(sh -c "cat $(q "$s") | rclone --config /dev/null rcat sw:bench/$d") ;;
    rclone:down) have rclone || return 1; CMD=(rclone --config /dev/null copyto "sw:bench/$s" "$d") ;;
    node:up) [ $have_node = 1 ] || return 1; CMD=(node "$BENCH/node/s3-upload.js" "$s" "s3://bench/$d") ;;
    node:stdin) [ $have_node = 1 ] || return 1; CMD=(sh -c "cat $(q "$s") | node $(q "$BENCH/node/s3-upload.js") - s3://bench/$d") ;;
    node:down) [ $have_node = 1 ] || return 1; CMD=(node "$BENCH/node/s3-download.js" "s3://bench/$s" "$d") ;;
    node:stream) [ $have_node = 1 ] || return 1; CMD=(node "$BENCH/node/csv2json-gzip-s3.js" "$s" "s3://bench/$d") ;;
    floor:up) CMD=(sh -c "openssl dgst -md5 $(q "$s") > /dev/null && openssl dgst -sha256 $(q "$s") > /dev/null") ;;
    *) return 1 ;;
  esac
}

show_cmd() {
  local p=${PIPE_BIN#"$ROOT"/}
  case $1:$2 in
    pipe:up) echo "$p cp FILE s3://bench/KEY" ;;
    pipe:down) echo "$p cp s3://bench/KEY OUT" ;;
    pipe:stdin) echo "sh -c 'cat FILE \\| $p cp - s3://bench/KEY'" ;;
    aws:stdin) echo "sh -c 'cat FILE \\| aws s3 cp - s3://bench/KEY'" ;;
    rclone:stdin) echo "sh -c 'cat FILE \\| rclone rcat sw:bench/KEY'" ;;
    node:stdin) echo "sh -c 'cat FILE \\| node bench/node/s3-upload.js - s3://bench/KEY'" ;;
    pipe:stream) echo "$p run 'CSV \\| csv2json \\| gzip \\| s3://bench/KEY'" ;;
    aws:up) echo "aws s3 cp FILE s3://bench/KEY" ;;
    aws:down) echo "aws s3 cp s3://bench/KEY OUT" ;;
    aws:stream) echo "sh -c 'mlr --icsv --ojsonl cat CSV \\| pigz -p 2 \\| aws s3 cp - s3://bench/KEY'" ;;
    rclone:up) echo "rclone copyto FILE sw:bench/KEY" ;;
    rclone:down) echo "rclone copyto sw:bench/KEY OUT" ;;
    node:up) echo "node bench/node/s3-upload.js FILE s3://bench/KEY" ;;
    node:down) echo "node bench/node/s3-download.js s3://bench/KEY OUT" ;;
    node:stream) echo "node bench/node/csv2json-gzip-s3.js CSV s3://bench/KEY" ;;
    floor:up) echo "openssl dgst -md5 FILE; openssl dgst -sha256 FILE" ;;
  esac
}

# ---- output check -----------------------------------------------------------------

declare -A CHECK
# Records, not lines: the generated CSV has quoted newlines. Miller counts.
small_records=$(mlr --icsv --ojsonl cat "$DATA/small.csv" 2> /dev/null | wc -l || echo 0)
check_case() {
  local c=$1 m=$2 rc=0 key="check-$1-$2"
  cmd_for "$c" "$m" x x || { CHECK[$c:$m]="not available"; return; }
  case $m in
    up | stdin)
      [ "$c" = floor ] && { CHECK[$c:$m]="(no upload)"; return; }
      cmd_for "$c" "$m" "$SMALL_FILE" "$key"
      "${CMD[@]}" > "$TMP/out" 2> "$TMP/err" || rc=$?
      [ $rc = 0 ] && awsq s3 cp --only-show-errors "s3://bench/$key" "$TMP/back" 2>> "$TMP/err" || rc=${rc/#0/1}
      if [ $rc = 0 ] && cmp -s "$SMALL_FILE" "$TMP/back"; then CHECK[$c:$m]="12 MiB up, aws down: byte-exact"
      else CHECK[$c:$m]="FAILED (exit $rc): $(head -c 200 "$TMP/err" | tr '\n' ' ')"; fi
      obj_rm "$key" ;;
    down)
      awsq s3 cp --only-show-errors "$SMALL_FILE" "s3://bench/$key" > /dev/null
      rm -f "$TMP/back"
      cmd_for "$c" down "$key" "$TMP/back"
      "${CMD[@]}" > "$TMP/out" 2> "$TMP/err" || rc=$?
      if [ $rc = 0 ] && cmp -s "$SMALL_FILE" "$TMP/back"; then CHECK[$c:$m]="aws up, 12 MiB down: byte-exact"
      else CHECK[$c:$m]="FAILED (exit $rc): $(head -c 200 "$TMP/err" | tr '\n' ' ')"; fi
      obj_rm "$key" ;;
    stream)
      cmd_for "$c" stream "$DATA/small.csv" "$key"
      "${CMD[@]}" > "$TMP/out" 2> "$TMP/err" || rc=$?
      [ $rc = 0 ] && awsq s3 cp --only-show-errors "s3://bench/$key" "$TMP/back.gz" 2>> "$TMP/err" || rc=${rc/#0/1}
      if [ $rc = 0 ] && gzip -t "$TMP/back.gz" 2>> "$TMP/err" &&
        [ "$(gzip -dc "$TMP/back.gz" | wc -l)" = "$small_records" ]; then
        CHECK[$c:$m]="small.csv streamed, aws down: gzip -t ok, $small_records lines"
      else CHECK[$c:$m]="FAILED (exit $rc): $(head -c 200 "$TMP/err" | tr '\n' ' ')"; fi
      obj_rm "$key" ;;
  esac
  log "  check $c $m: ${CHECK[$c:$m]}"
}

# ---- timing ---------------------------------------------------------------------------

ROWS=()
row_skip() { ROWS+=("| $1 | $2 | $3 | _${4}_ | | | | | | \`$(show_cmd "$1" "$2")\` |"); }

bench() {
  local c=$1 m=$2 n=$RUNS in bytes load i t0 t1 s0 s1 status="" key out
  case $m in
    up) in=$FILE key=up-$c ;;
    stdin) in=$FILE key=stdin-$c ;;
    down) in=$FILE key=down-src ;;
    stream) in=$CSV key=stream-$c n=$STREAM_RUNS ;;
  esac
  local label="${in#"$ROOT"/}"
  if ! cmd_for "$c" "$m" x x; then row_skip "$c" "$m" "$label" "to be measured: not available"; log "skip $c $m"; return; fi
  if [[ "${CHECK[$c:$m]:-}" == FAILED* ]]; then row_skip "$c" "$m" "$label" "failed the output check"; log "skip $c $m (check failed)"; return; fi
  bytes=$(stat -c %s "$in")
  cat "$in" > /dev/null
  load=$(cut -d' ' -f1 /proc/loadavg)
  : > "$TMP/times"
  out=$SCRATCH/down-$c.bin
  for ((i = 1; i <= n; i++)); do
    case $m in
      up | stdin) cmd_for "$c" "$m" "$FILE" "$key" ;;
      down) rm -f "$out"; cmd_for "$c" down "$key" "$out" ;;
      stream) cmd_for "$c" stream "$CSV" "$key" ;;
    esac
    s0=$(server_cpu)
    t0=$EPOCHREALTIME
    if ! "$TIME" -f '%e %U %S %M' -o "$TMP/t" "${CMD[@]}" > /dev/null 2> "$TMP/err"; then
      status=" (failed: $(grep -o -E '(status|signal) [0-9]+' "$TMP/t" | head -n 1 || true))"
      log "  $c $m run $i failed: $(head -c 300 "$TMP/err")"
    fi
    t1=$EPOCHREALTIME
    s1=$(server_cpu)
    tail -n 1 "$TMP/t" | awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" \
      '{ $1 = sprintf("%.3f", t1 - t0); print $0, s1 - s0 }' >> "$TMP/times"
    log "  $c $m run $i/$n (wall user sys maxrss_kb server_cpu): $(tail -n 1 "$TMP/times")"
    # Checks, outside the timing.
    case $c:$m in
      floor:up) ;;
      *:up | *:stdin)
        [ "$(obj_size "$key")" = "$bytes" ] || { status=" (failed: stored size $(obj_size "$key"))"; }
        obj_rm "$key" ;;
      *:down)
        cmp -s "$FILE" "$out" || status=" (failed: download differs)"
        rm -f "$out" ;;
      *:stream)
        if [ "$i" = "$n" ]; then
          awsq s3 cp --only-show-errors "s3://bench/$key" "$SCRATCH/stream.gz" > /dev/null 2>&1 || true
          gzip -t "$SCRATCH/stream.gz" 2> /dev/null || status=" (failed: gzip -t)"
          rm -f "$SCRATCH/stream.gz"
        fi
        obj_rm "$key" ;;
    esac
  done
  local wall wmin wmax cpu rss scpu
  wall=$(awk '{print $1}' "$TMP/times" | median)
  wmin=$(awk '{print $1}' "$TMP/times" | sort -g | head -n 1)
  wmax=$(awk '{print $1}' "$TMP/times" | sort -g | tail -n 1)
  cpu=$(awk '{print $2 + $3}' "$TMP/times" | median)
  rss=$(awk '{print $4}' "$TMP/times" | sort -g | tail -n 1)
  scpu=$(awk '{print $5}' "$TMP/times" | median)
  ROWS+=("$(SHOWCMD="$(show_cmd "$c" "$m")" awk -v c="$c$status" -v m="$m" -v inp="$label" -v b="$bytes" \
    -v w="$wall" -v lo="$wmin" -v hi="$wmax" -v u="$cpu" -v r="$rss" -v sc="$scpu" -v n="$n" -v l="$load" 'BEGIN {
      mbs = (w > 0) ? b / 1e6 / w : 0
      if (c ~ /failed/) mbs_s = "_failed_"; else mbs_s = sprintf("**%.0f**", mbs)
      printf "| %s | %s | %s | %s | %.3f (%.3f–%.3f) | %.2f | %.1f | %.2f | %d / %s | `%s` |",
             c, m, inp, mbs_s, w, lo, hi, u, r / 1024, sc, n, l, ENVIRON["SHOWCMD"] }')")
}

# ---- main ---------------------------------------------------------------------------------

log "output check (12 MiB file, small.csv)"
for m in $MODES; do
  for c in $CASES $([ "$m" = up ] && echo floor); do
    [ "$m" = stream ] && [ "$c" = rclone ] && continue
    check_case "$c" "$m"
  done
done
for m in $MODES; do
  if [ "$m" = down ]; then
    log "uploading the download source with aws-cli"
    awsq s3 cp --only-show-errors "$FILE" s3://bench/down-src
  fi
  for c in $CASES $([ "$m" = up ] && echo floor); do
    [ "$m" = stream ] && [ "$c" = rclone ] && continue
    bench "$c" "$m"
  done
done

{
  echo "## S3 upload, download and stream against local Swift, $(date -u +%Y-%m-%d)"
  echo
  host_line
  echo "- tools: $("$AWS" --version 2>&1 | cut -d' ' -f1), $(rclone version 2> /dev/null | head -n 1 || echo 'rclone n/a'), node $(node --version 2> /dev/null || echo n/a), @aws-sdk/lib-storage $(node -p 'require("'"$BENCH"'/node_modules/@aws-sdk/lib-storage/package.json").version' 2> /dev/null || echo n/a), swift $(dpkg-query -W -f '${Version}' swift 2> /dev/null || echo n/a), pipe cp: $([ $have_pipe = 1 ] && echo "${PIPE_BIN#"$ROOT"/}" || echo 'not available')"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), RUNS=$RUNS STREAM_RUNS=$STREAM_RUNS; Swift devices on $SWIFT_BASE; FILE ${FILE#"$ROOT"/} ($FILE_BYTES bytes, random), CSV ${CSV#"$ROOT"/} ($(stat -c %s "$CSV") bytes)"
  echo "- client CPU is user+sys of the client (sh -c pipelines: all their processes); peak RSS the largest client process; server CPU the four Swift processes' user+sys during the run"
  echo
  echo "| case | mode | input | MB/s (median wall) | wall s median (min–max) | client CPU s (median) | client peak RSS MiB (max) | server CPU s (median) | runs / load1 | command |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Output check:"
  for m in $MODES; do
    for c in $CASES $([ "$m" = up ] && echo floor); do
      [ -n "${CHECK[$c:$m]:-}" ] && echo "- $c $m: ${CHECK[$c:$m]}"
    done
  done
} | tee "$OUT"
log "report written to $OUT"
