#!/usr/bin/env bash
# Side-by-side benchmark of the whole pipeline CSV -> gzipped NDJSON:
# `pipe run 'FILE | csv2json | gzip | OUT'` against a Unix shell pipeline and
# the Node.js streaming equivalent.
#
#   bench/run-pipeline.sh             # 1 GiB input, prints a Markdown report
#   SIZE=mid bench/run-pipeline.sh    # 100 MiB input (Node and Miller: ~10 s, not ~1-2 min)
#   RUNS=3 PEER_RUNS=1 CASES="pipe node" bench/run-pipeline.sh
#
# Inputs (generated once by bench/gen/gencsv.c, as in run-csv2json.sh):
#   bench/data/big.csv 1 GiB   bench/data/mid.csv 100 MiB
#   bench/data/small.csv 4 MiB (output check only)
#
# Cases (each writes OUT, a fresh file in a scratch directory under DATA_DIR,
# the same disk as the input; the file is removed before every run):
#   pipe        build/pipe run 'FILE | csv2json | gzip | OUT'
#   pipe-pigz   sh -c 'build/pipe csv2json FILE | pigz -p 2 > OUT'
#               (pipe's parser with pigz as the compressor; works before `pipe run`)
#   unix        sh -c 'mlr --icsv --ojsonl cat FILE | pigz -p 2 > OUT'
#   node        node bench/node/csv2json-gzip.js FILE OUT
#               (createReadStream -> csv-parse -> JSON.stringify -> zlib.createGzip
#                -> createWriteStream, stream.pipeline)
# All compress at level 6 (pigz's, zlib's and `pipe gzip`'s default).
#
# Each case runs under GNU time (`/usr/bin/time -f '%e %U %S %M'`). For the
# shell pipelines time runs `sh -c '...'`: CPU is the sum over all its processes
# (getrusage of waited-for children), but %M is the peak RSS of the LARGEST
# single process in the pipeline, not the sum of the pipeline's processes.
# The table gives input MB/s (10^6 bytes / median wall second), median wall
# (min-max), median user+sys CPU seconds, output bytes, output/input, and the
# largest peak RSS over the runs. The input is read once before each case so
# every run sees a warm page cache. The last run's output is checked with
# `gzip -t`.
#
# Output check before timing, on small.csv: every output passes `gzip -t`,
# decompresses to one valid JSON object with 12 keys per record, and pipe's
# decompressed NDJSON must be byte-identical to Node's (all values strings in
# both). Miller infers types, so its NDJSON differs by design.
# pipe cases are skipped (row kept, marked) while `build/pipe run --help` fails
# (pipe-pigz while build/pipe is missing); the others while their tools are.
#
# Environment:
#   SIZE=big          big (1 GiB) or mid (100 MiB)
#   RUNS=5            runs per case for pipe and pipe-pigz (median reported)
#   PEER_RUNS=2       runs per case for the slow peers (unix, node)
#   CASES="pipe pipe-pigz unix node"
#   PIPE_BIN=build/pipe  DATA_DIR=bench/data
#   BIG_SIZE=1g MID_SIZE=100m SEED=   gencsv arguments (seed: its default)
#   OUT=FILE          also write the report there (default bench/data/report-pipeline-<date>.md)
set -euo pipefail
export LC_ALL=C # decimal points in awk/printf, EPOCHREALTIME

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
DATA=${DATA_DIR:-$BENCH/data}
PIPE_BIN=${PIPE_BIN:-$ROOT/build/pipe}
SIZE=${SIZE:-big}
RUNS=${RUNS:-5}
PEER_RUNS=${PEER_RUNS:-2}
CASES=${CASES:-pipe pipe-pigz unix node}
BIG_SIZE=${BIG_SIZE:-1g}
MID_SIZE=${MID_SIZE:-100m}
SEED=${SEED:-}
TIME=/usr/bin/time
OUT=${OUT:-$DATA/report-pipeline-$(date +%Y%m%d-%H%M%S).md}
SCRIPT=run-pipeline
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

[ -x "$TIME" ] || die "$TIME missing (apt-get install -y time)"
case $SIZE in big | mid) ;; *) die "unknown SIZE '$SIZE' (big, mid)" ;; esac
mkdir -p "$DATA"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pipe-bench.XXXXXX")
# Outputs go next to the input (same disk); scratch for the small check in TMP.
SCRATCH=$(mktemp -d "$DATA/.pipeline-out.XXXXXX")
trap 'rm -rf "$TMP" "$SCRATCH"' EXIT

# ---- inputs -----------------------------------------------------------------

gen small 4m
case $SIZE in big) gen big "$BIG_SIZE" ;; mid) gen mid "$MID_SIZE" ;; esac

# ---- tools --------------------------------------------------------------------

have_pipe=0; [ -x "$PIPE_BIN" ] && have_pipe=1
have_pipe_run=0
[ $have_pipe = 1 ] && "$PIPE_BIN" run --help > /dev/null 2>&1 && have_pipe_run=1
have_node=0
if have node; then
  if [ ! -d "$BENCH/node_modules/csv-parse" ] && have npm; then
    log "npm ci in $BENCH"
    (cd "$BENCH" && npm ci --no-audit --no-fund > /dev/null 2>&1) || true
  fi
  [ -d "$BENCH/node_modules/csv-parse" ] && have_node=1
fi

# Quote a path for the sh -c / pipe run strings.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# cmd_for CASE FILE OUT -> sets CMD (array), or returns 1 when unavailable.
cmd_for() {
  case $1 in
    pipe)      [ $have_pipe_run = 1 ] || return 1
               CMD=("$PIPE_BIN" run "$2 | csv2json | gzip | $3") ;;
    pipe-pigz) [ $have_pipe = 1 ] && have pigz || return 1
               CMD=(sh -c "$(q "$PIPE_BIN") csv2json $(q "$2") | pigz -p 2 > $(q "$3")") ;;
    unix)      have mlr && have pigz || return 1
               CMD=(sh -c "mlr --icsv --ojsonl cat $(q "$2") | pigz -p 2 > $(q "$3")") ;;
    node)      [ $have_node = 1 ] || return 1
               CMD=(node "$BENCH/node/csv2json-gzip.js" "$2" "$3") ;;
    *) die "unknown case '$1'" ;;
  esac
}

# The command as shown in the report, relative to the repo root.
show_cmd() {
  local p=${PIPE_BIN#"$ROOT"/}
  case $1 in
    pipe)      echo "$p run '$2 \\| csv2json \\| gzip \\| OUT.json.gz'" ;; # \| : inside a Markdown table
    pipe-pigz) echo "sh -c '$p csv2json $2 \\| pigz -p 2 > OUT.json.gz'" ;;
    unix)      echo "sh -c 'mlr --icsv --ojsonl cat $2 \\| pigz -p 2 > OUT.json.gz'" ;;
    node)      echo "node bench/node/csv2json-gzip.js $2 OUT.json.gz" ;;
  esac
}

is_slow() { case $1 in unix | node) return 0 ;; *) return 1 ;; esac; }

# ---- output check on small.csv ------------------------------------------------


declare -A CHECK
sanity() {
  local small=$DATA/small.csv c rc
  for c in $CASES; do
    cmd_for "$c" "$small" "$TMP/$c.json.gz" || { CHECK[$c]="not available"; continue; }
    rc=0; "${CMD[@]}" > "$TMP/$c.out" 2> "$TMP/$c.err" || rc=$?
    if [ $rc != 0 ]; then
      CHECK[$c]="FAILED: exit status $rc: $(head -c 200 "$TMP/$c.err" | tr '\n' ' ')"
    elif [ ! -s "$TMP/$c.json.gz" ]; then
      CHECK[$c]="FAILED: no output file"
    elif ! gzip -t "$TMP/$c.json.gz" 2> "$TMP/$c.err"; then
      CHECK[$c]="FAILED: gzip -t: $(head -c 200 "$TMP/$c.err" | tr '\n' ' ')"
    else
      gzip -dc "$TMP/$c.json.gz" > "$TMP/$c.jsonl"
      CHECK[$c]="gzip -t ok"
      if have node; then
        CHECK[$c]+="; $(count_json "$TMP/$c.jsonl" | awk '{printf "%d/%d lines valid 12-key JSON", $1, $2}')"
      fi
    fi
    log "  check $c: ${CHECK[$c]}"
  done
  for c in pipe pipe-pigz; do
    if [ -s "$TMP/node.jsonl" ] && [ -s "$TMP/$c.jsonl" ]; then
      if cmp -s "$TMP/node.jsonl" "$TMP/$c.jsonl"; then
        CHECK[$c]+="; decompressed NDJSON byte-identical to Node's"
      else
        CHECK[$c]="FAILED: decompressed NDJSON differs from Node's ($(cmp "$TMP/node.jsonl" "$TMP/$c.jsonl" 2>&1 | head -n 1 | sed 's/.*: //'))"
      fi
    fi
  done
}

# ---- timing -------------------------------------------------------------------

machine() {
  host_line
  echo "- tools: $(mlr --version 2>/dev/null || echo 'mlr n/a'), $(pigz --version 2>&1 || echo 'pigz n/a'), node $(node --version 2>/dev/null || echo n/a), csv-parse $(node -p 'require("'"$BENCH"'/node_modules/csv-parse/package.json").version' 2>/dev/null || echo n/a), pipe run: $([ $have_pipe_run = 1 ] && echo "$PIPE_BIN" || echo 'not available')"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), RUNS=$RUNS PEER_RUNS=$PEER_RUNS (unix, node), warm page cache"
}


ROWS=()
# bench CASE: runs CASE on DATA/SIZE.csv and appends a table row.
bench() {
  local c=$1 f=$DATA/$SIZE.csv out=$SCRATCH/$1.json.gz rel n i bytes obytes load t0 t1 status=""
  rel=${f#"$ROOT"/}
  if ! cmd_for "$c" "$f" "$out"; then
    ROWS+=("| $c | $SIZE | _to be measured: not available_ | | | | | | | \`$(show_cmd "$c" "$rel")\` |")
    log "skip $c (not available)"
    return
  fi
  if [[ "${CHECK[$c]:-}" == FAILED* ]]; then
    ROWS+=("| $c | $SIZE | _failed the output check_ | | | | | | | \`$(show_cmd "$c" "$rel")\` |")
    log "skip $c (failed the output check)"
    return
  fi
  n=$RUNS; is_slow "$c" && n=$PEER_RUNS
  bytes=$(stat -c %s "$f")
  cat "$f" > /dev/null # warm the page cache
  load=$(cut -d' ' -f1 /proc/loadavg)
  : > "$TMP/times"
  for ((i = 1; i <= n; i++)); do
    rm -f "$out"
    t0=$EPOCHREALTIME
    if ! "$TIME" -f '%e %U %S %M' -o "$TMP/t" "${CMD[@]}" > /dev/null 2> "$TMP/err"; then
      # GNU time notes "exited with non-zero status N" or "terminated by signal N".
      status=" (failed: $(grep -o -E '(status|signal) [0-9]+' "$TMP/t" | head -n 1 || true))"
      log "  $c run $i failed: $(head -c 300 "$TMP/err")"
    fi
    t1=$EPOCHREALTIME
    # %e has 10 ms resolution; replace it with bash's microsecond clock.
    tail -n 1 "$TMP/t" | awk -v t0="$t0" -v t1="$t1" '{ $1 = sprintf("%.3f", t1 - t0); print }' >> "$TMP/times"
    log "  $c $SIZE run $i/$n (wall user sys maxrss_kb): $(tail -n 1 "$TMP/times"), out $(stat -c %s "$out" 2>/dev/null || echo none)"
  done
  obytes=$(stat -c %s "$out" 2>/dev/null || echo 0)
  if [ -z "$status" ] && ! gzip -t "$out" 2> /dev/null; then status=" (failed: gzip -t)"; fi
  rm -f "$out"
  local wall wmin wmax cpu rss
  wall=$(awk '{print $1}' "$TMP/times" | median)
  wmin=$(awk '{print $1}' "$TMP/times" | sort -g | head -n 1)
  wmax=$(awk '{print $1}' "$TMP/times" | sort -g | tail -n 1)
  cpu=$(awk '{print $2 + $3}' "$TMP/times" | median)
  rss=$(awk '{print $4}' "$TMP/times" | sort -g | tail -n 1)
  # The command goes through the environment: awk -v would eat its "\|".
  ROWS+=("$(SHOWCMD="$(show_cmd "$c" "$rel")" awk -v c="$c$status" -v s="$SIZE" -v b="$bytes" -v o="$obytes" \
              -v w="$wall" -v lo="$wmin" -v hi="$wmax" -v u="$cpu" -v r="$rss" -v n="$n" -v l="$load" 'BEGIN {
      cmd = ENVIRON["SHOWCMD"]
      mbs = (w > 0) ? b / 1e6 / w : 0
      if (c ~ /failed/) mbs_s = "_failed_"; else mbs_s = sprintf("**%.1f**", mbs)
      printf "| %s | %s | %s | %.3f (%.3f–%.3f) | %.2f | %.2f | %d | %.2f%% | %.1f | %d / %s | `%s` |",
             c, s, mbs_s, w, lo, hi, u, (w > 0 ? u / w : 0), o, 100 * o / b, r / 1024, n, l, cmd }')")
}

# ---- main -------------------------------------------------------------------

log "output check on $DATA/small.csv"
sanity
for c in $CASES; do
  bench "$c"
done

{
  echo "## csv -> ndjson.gz pipeline, $(date -u +%Y-%m-%d)"
  echo
  machine
  echo "- $SIZE: ${DATA#"$ROOT"/}/$SIZE.csv, $(stat -c %s "$DATA/$SIZE.csv") bytes; OUT is a fresh file in ${DATA#"$ROOT"/}/ (same disk)"
  echo "- shell pipelines (pipe-pigz, unix) run under \`/usr/bin/time sh -c '...'\`: CPU sums all processes, peak RSS is the largest single process"
  echo
  echo "| case | input | MB/s in (median wall) | wall s median (min–max) | CPU s user+sys (median) | CPU/wall | output bytes | out/in | peak RSS MiB (max) | runs / load1 | command |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Output check on small.csv (4 MiB):"
  for c in $CASES; do
    echo "- $c: ${CHECK[$c]:-not run}"
  done
} | tee "$OUT"
log "report written to $OUT"
