#!/usr/bin/env bash
# Side-by-side benchmark of `pipe serve` against the server a Node developer
# would write (bench/node/busboy-server.js: node:http + busboy, each file part
# piped into a file, or through zlib.createGzip() first, with a SHA-256 of the
# stored bytes; the same JSON receipt).
#
#   bench/run-serve.sh                    # everything, prints a Markdown report
#   RUNS=1 LOADS="many" bench/run-serve.sh
#
# Loads (every upload is a real `curl -F file=@...` multipart POST to
# /v1/uploads on 127.0.0.1; each receipt's sha256 is checked against the
# file's (for ?pipeline=gzip, the stored file is checked with gzip -t and its
# decompressed SHA-256 instead):
#   many       16 concurrent uploads of one 32 MiB file (N=64 uploads through
#              `xargs -P 16`, so 16 are in flight at any time): 2 GiB in all
#   many32     the same with 32 in flight (xargs -P 32; the issue's second
#              memory target: 64 MiB + the configured pool limits)
#   big        one 512 MiB upload
#   many-gzip  the first with ?pipeline=gzip
#   big-gzip   the second with ?pipeline=gzip
# Servers:
#   pipe       build/pipe serve --listen 127.0.0.1:0 --port-file F --store DIR
#   node       node bench/node/busboy-server.js --port 0 --store DIR
# The store is a fresh folder under DATA_DIR for every run (same disk for
# both). With STORE=s3 both store into the Swift s3api harness instead
# (tests/integration/swift/start-swift, devices on SWIFT_BASE, default
# /dev/shm): pipe with `--store s3://bench/<run> --endpoint-url E`, node
# with `--s3 s3://bench/<run>` (@aws-sdk/lib-storage Upload, its defaults:
# 5 MiB parts, 4 at once; pipe: 8 MiB, 4). Swift runs on the same two
# cores and bounds the throughput of both; only the server's own CPU is
# counted. Receipts are checked as below, and one stored object per run is
# read back with aws-cli and hashed. Per run: wall time of the whole load, the server's CPU seconds
# (utime+stime from /proc/PID/stat at the end of the load, the server's own
# start-up excluded by reading it once before the load too) and its peak RSS
# (VmHWM from /proc/PID/status). The table reports medians over RUNS, MB/s of
# payload (10^6 bytes / wall second), server CPU seconds per GiB, the largest
# peak RSS, and pipe's ratios to node.
#
# Environment:
#   RUNS=3  LOADS="many big many-gzip big-gzip"  SERVERS="pipe node"  STORE=dir|s3
#   PIPE_BIN=build/pipe  DATA_DIR=bench/data  OUT=FILE (default bench/data/report-serve-<date>.md)
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
DATA=${DATA_DIR:-$BENCH/data}
SCRIPT=run-serve.sh
# shellcheck source=lib.sh
. "$BENCH/lib.sh"

RUNS=${RUNS:-3}
LOADS=${LOADS:-"many big many-gzip big-gzip"}
SERVERS=${SERVERS:-"pipe node"}
PIPE_BIN=${PIPE_BIN:-$ROOT/build/pipe}
OUT=${OUT:-$DATA/report-serve-$(date +%Y%m%d-%H%M).md}
mkdir -p "$DATA"
TCK=$(getconf CLK_TCK)

have curl || die "curl is needed"
if [ ! -d "$BENCH/node_modules/busboy" ] && have npm; then
  log "npm ci in $BENCH"
  (cd "$BENCH" && npm ci --no-audit --no-fund > /dev/null 2>&1) || true
fi

f32=$DATA/upload-32m.bin f512=$DATA/upload-512m.bin
[ -s "$f32" ] || head -c $((32 << 20)) /dev/urandom > "$f32"
[ -s "$f512" ] || { gen big 1g; head -c $((512 << 20)) "$DATA/big.csv" > "$f512"; }
# The 32 MiB file is random (gzip stores it), the 512 MiB one is CSV (gzip
# really compresses it): both ends of what gzip costs.
sha32=$(sha256sum "$f32" | cut -d' ' -f1) sha512=$(sha256sum "$f512" | cut -d' ' -f1)

STORE_KIND=${STORE:-dir}
AWS=/usr/bin/aws
if [ "$STORE_KIND" = s3 ]; then
  [ -x "$AWS" ] || die "STORE=s3 needs Debian's awscli"
  SWIFT_BASE=${SWIFT_BASE:-/dev/shm}
  SWIFT_DIR=$(mktemp -d "$SWIFT_BASE/pipe-bench-swift.XXXXXX")
  AWS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/pipe-bench-serve.XXXXXX")
  trap '"$ROOT/tests/integration/swift/stop-swift" "$SWIFT_DIR" || true; rm -rf "$AWS_TMP"' EXIT
  log "starting Swift in $SWIFT_DIR"
  "$ROOT/tests/integration/swift/start-swift" --bucket bench --watch $$ "$SWIFT_DIR" > /dev/null
  # shellcheck disable=SC1091
  . "$SWIFT_DIR/env"
  # The server's credentials and nothing from the machine (as run-s3.sh).
  : > "$AWS_TMP/empty"
  export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION=$AWS_REGION
  export AWS_ENDPOINT_URL=$ENDPOINT AWS_CONFIG_FILE=$AWS_TMP/empty AWS_SHARED_CREDENTIALS_FILE=$AWS_TMP/empty
  export AWS_EC2_METADATA_DISABLED=true AWS_PAGER= NODE_NO_WARNINGS=1
  unset AWS_CA_BUNDLE AWS_PROFILE AWS_SESSION_TOKEN
elif [ "$STORE_KIND" != dir ]; then
  die "STORE=$STORE_KIND: dir or s3"
fi

SRV_PID= SRV_PORT= STORE= S3URL=
start_server() { # NAME
  STORE=$(mktemp -d "$DATA/store.XXXX")
  local out=$STORE.out
  if [ "$STORE_KIND" = s3 ]; then
    S3URL=s3://bench/$1-$(basename "$STORE")
    case $1 in
      pipe) "$PIPE_BIN" serve --listen 127.0.0.1:0 --port-file "$STORE.port" --store "$S3URL" \
              --endpoint-url "$ENDPOINT" > "$out" 2> "$STORE.log" & ;;
      node) node "$BENCH/node/busboy-server.js" --port 0 --s3 "$S3URL" --endpoint-url "$ENDPOINT" \
              > "$out" 2> "$STORE.log" & ;;
    esac
  else
    case $1 in
      pipe) "$PIPE_BIN" serve --listen 127.0.0.1:0 --port-file "$STORE.port" --store "$STORE" \
              > "$out" 2> "$STORE.log" & ;;
      node) node "$BENCH/node/busboy-server.js" --port 0 --store "$STORE" > "$out" 2> "$STORE.log" & ;;
    esac
  fi
  SRV_PID=$!
  for _ in $(seq 100); do
    [ -s "$STORE.port" ] && { SRV_PORT=$(cat "$STORE.port"); return 0; }
    SRV_PORT=$(grep -ao 'listening[^0-9]*[0-9.]*:\?\([0-9]\+\)' "$out" "$STORE.log" 2>/dev/null \
      | grep -o '[0-9]\+$' | head -1 || true)
    [ -n "$SRV_PORT" ] && return 0
    sleep 0.1
  done
  die "$1 server did not start: $(cat "$out" "$STORE.log")"
}
stop_server() {
  kill "$SRV_PID" 2> /dev/null || true
  wait "$SRV_PID" 2> /dev/null || true
  rm -rf "$STORE" "$STORE.out" "$STORE.log" "$STORE.port"
  # Swift keeps its devices in memory (/dev/shm): empty the run's prefix.
  if [ "$STORE_KIND" = s3 ]; then
    "$AWS" --endpoint-url "$ENDPOINT" s3 rm --recursive --only-show-errors "$S3URL/" || true
  fi
}
# stored_bytes KEY: the stored object's bytes on stdout.
stored_bytes() {
  if [ "$STORE_KIND" = s3 ]; then
    "$AWS" --endpoint-url "$ENDPOINT" s3 cp --only-show-errors "$S3URL/$1" -
  else
    cat "$STORE/$1"
  fi
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SRV_PID/stat"; }
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$SRV_PID/status"; }

# upload FILE QUERY: one curl -F; prints the receipt.
upload() {
  curl -sS --fail-with-body -F "file=@$1" "http://127.0.0.1:$SRV_PORT/v1/uploads$2"
}
export -f upload

# check_receipts FILE WANT_SHA GZIP: every receipt names the right bytes.
check_receipts() {
  local n bad=0
  local key
  n=$(grep -c '"sha256"' "$1" || true)
  key=$(grep -o '"key":"[^"]*"' "$1" | head -1 | cut -d'"' -f4)
  if [ "$3" = 0 ]; then
    bad=$(grep -o '"sha256":"[0-9a-f]*"' "$1" | grep -vc "$2" || true)
    # and one stored object read back whole
    [ "$(stored_bytes "$key" | sha256sum | cut -d' ' -f1)" = "$2" ] || bad=$((bad + 1))
  else
    # The stored object is gzip: check one of them whole.
    [ "$(stored_bytes "$key" | gzip -dc | sha256sum | cut -d' ' -f1)" = "$2" ] || bad=1
  fi
  echo "$n $bad"
}

declare -A WALL CPU RSS OK
run_load() { # SERVER LOAD RUN
  local srv=$1 load=$2 query="" file n par want gz=0 t0 t1 c0 c1 res
  case $load in *-gzip) query="?pipeline=gzip" gz=1 ;; esac
  case $load in
    many32*) file=$f32 n=64 par=32 want=$sha32 ;;
    many*) file=$f32 n=64 par=16 want=$sha32 ;;
    big*) file=$f512 n=1 par=1 want=$sha512 ;;
  esac
  start_server "$srv"
  c0=$(cpu_ticks)
  res=$STORE.receipts
  t0=$EPOCHREALTIME
  seq "$n" | SRV_PORT=$SRV_PORT xargs -P "$par" -I{} bash -c "upload '$file' '$query'; echo" > "$res"
  t1=$EPOCHREALTIME
  c1=$(cpu_ticks)
  local peak chk
  peak=$(peak_kib)
  chk=$(check_receipts "$res" "$want" "$gz")
  rm -f "$res"
  stop_server
  local bytes=$(( n * $(stat -c %s "$file") ))
  WALL[$srv,$load]+="$(echo "$t1 - $t0" | bc -l) "
  CPU[$srv,$load]+="$(echo "($c1 - $c0) / $TCK" | bc -l) "
  RSS[$srv,$load]+="$peak "
  OK[$srv,$load]="$chk"
  BYTES[$load]=$bytes
  log "$srv $load run $3: $(echo "$t1 - $t0" | bc -l | cut -c1-6) s, cpu $(echo "($c1 - $c0) / $TCK" | bc -l | cut -c1-5) s, peak ${peak} KiB, receipts/bad: $chk"
}
declare -A BYTES

for load in $LOADS; do
  for r in $(seq "$RUNS"); do
    for srv in $SERVERS; do
      if [ "$srv" = pipe ] && ! "$PIPE_BIN" serve --help > /dev/null 2>&1; then
        continue
      fi
      run_load "$srv" "$load" "$r"
    done
  done
done

med() { tr ' ' '\n' | grep . | median; }
maxv() { tr ' ' '\n' | grep . | sort -g | tail -1; }
{
  echo "## pipe serve vs node:http + busboy, store: $STORE_KIND ($(date -u +%Y-%m-%d))"
  echo
  host_line
  echo "- runs: $RUNS per load and server, interleaved; medians"
  echo
  echo "| load | server | MB/s | wall s | server CPU s | CPU s/GiB | peak RSS MiB | receipts (bad) |"
  echo "|---|---|---|---|---|---|---|---|"
  for load in $LOADS; do
    for srv in $SERVERS; do
      [ -n "${WALL[$srv,$load]:-}" ] || { echo "| $load | $srv | skipped |||||"; continue; }
      w=$(echo "${WALL[$srv,$load]}" | med) c=$(echo "${CPU[$srv,$load]}" | med)
      m=$(echo "${RSS[$srv,$load]}" | maxv) b=${BYTES[$load]}
      read -r nr nb <<< "${OK[$srv,$load]}"
      printf '| %s | %s | %.0f | %.2f | %.2f | %.2f | %.1f | %s (%s) |\n' "$load" "$srv" \
        "$(echo "$b / 1000000 / $w" | bc -l)" "$w" "$c" "$(echo "$c * 1073741824 / $b" | bc -l)" \
        "$(echo "$m / 1024" | bc -l)" "$nr" "$nb"
    done
  done
  echo
  echo "Ratios pipe / node (CPU: lower is better; MB/s: higher is better):"
  echo
  for load in $LOADS; do
    [ -n "${WALL[pipe,$load]:-}" ] && [ -n "${WALL[node,$load]:-}" ] || continue
    cp_=$(echo "${CPU[pipe,$load]}" | med) cn=$(echo "${CPU[node,$load]}" | med)
    wp=$(echo "${WALL[pipe,$load]}" | med) wn=$(echo "${WALL[node,$load]}" | med)
    printf -- '- %s: CPU %.2fx, throughput %.2fx\n' "$load" "$(echo "$cp_ / $cn" | bc -l)" "$(echo "$wn / $wp" | bc -l)"
  done
} | tee "$OUT"
log "report: $OUT"
