#!/usr/bin/env bash
# Side-by-side benchmark of `pipe csv2json` against its peers.
#
#   bench/run-csv2json.sh            # everything, prints a Markdown report
#   RUNS=3 PEER_RUNS=1 bench/run-csv2json.sh
#   SIZES=mid CASES="pipe mlr" bench/run-csv2json.sh
#
# Inputs (generated once by bench/gen/gencsv.c, fixed seed, kept out of git):
#   bench/data/big.csv   1 GiB      bench/data/mid.csv  100 MiB
#   bench/data/small.csv 4 MiB (output sanity check only)
#
# Cases (each run with stdout to /dev/null, a real write(2) of every byte):
#   ceiling     bench/peers/read-ceiling.sh FILE      (cat FILE | wc -c)
#   pipe        build/pipe csv2json FILE
#   pipe-infer  build/pipe csv2json --infer FILE
#   mlr         bench/peers/mlr-csv2json.sh FILE      (mlr --icsv --ojsonl cat)
#   node        bench/peers/node-csv2json.sh FILE     (csv-parse 5.x pipeline)
#
# Each case runs under GNU time (`/usr/bin/time -f '%e %U %S %M'`); the table
# gives input MB/s (10^6 bytes / median wall second), median wall (min-max),
# median user+sys CPU seconds, and the largest peak RSS seen over the runs.
# The file is read once before each case so every run sees a warm page cache.
# pipe cases are skipped (row kept, marked) while build/pipe does not exist.
#
# Environment:
#   RUNS=5         runs per case for ceiling and pipe (median reported)
#   PEER_RUNS=3    runs per case for the slow peers (mlr, node)
#   SIZES="big mid"                       which inputs to run
#   CASES="ceiling pipe pipe-infer mlr node"
#   PIPE_BIN=build/pipe  DATA_DIR=bench/data
#   BIG_SIZE=1g MID_SIZE=100m SEED=       gencsv arguments (seed: its default)
#   OUT=FILE       also write the report there (default bench/data/report-<date>.md)
set -euo pipefail
export LC_ALL=C # decimal points in awk/printf, EPOCHREALTIME

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
DATA=${DATA_DIR:-$BENCH/data}
PIPE_BIN=${PIPE_BIN:-$ROOT/build/pipe}
RUNS=${RUNS:-5}
PEER_RUNS=${PEER_RUNS:-3}
SIZES=${SIZES:-big mid}
CASES=${CASES:-ceiling pipe pipe-infer mlr node}
BIG_SIZE=${BIG_SIZE:-1g}
MID_SIZE=${MID_SIZE:-100m}
SEED=${SEED:-}
TIME=/usr/bin/time
OUT=${OUT:-$DATA/report-$(date +%Y%m%d-%H%M%S).md}
SCRIPT=run-csv2json
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

[ -x "$TIME" ] || die "$TIME missing (apt-get install -y time)"
mkdir -p "$DATA"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pipe-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---- inputs -----------------------------------------------------------------

gen small 4m
for s in $SIZES; do
  case $s in
    big) gen big "$BIG_SIZE" ;;
    mid) gen mid "$MID_SIZE" ;;
    *) die "unknown size '$s' (big, mid)" ;;
  esac
done

# ---- tools --------------------------------------------------------------------

have_pipe=0; [ -x "$PIPE_BIN" ] && have_pipe=1
have_mlr=0; command -v mlr > /dev/null && have_mlr=1
have_node=0
if command -v node > /dev/null; then
  if [ ! -d "$BENCH/node_modules/csv-parse" ] && command -v npm > /dev/null; then
    log "npm ci in $BENCH"
    (cd "$BENCH" && npm ci --no-audit --no-fund > /dev/null 2>&1) || true
  fi
  [ -d "$BENCH/node_modules/csv-parse" ] && have_node=1
fi

# cmd_for CASE FILE -> sets CMD (array) to the command line, or returns 1 when
# the tool is unavailable.
cmd_for() {
  case $1 in
    ceiling)    CMD=("$BENCH/peers/read-ceiling.sh" "$2") ;;
    pipe)       [ $have_pipe = 1 ] || return 1; CMD=("$PIPE_BIN" csv2json "$2") ;;
    pipe-infer) [ $have_pipe = 1 ] || return 1; CMD=("$PIPE_BIN" csv2json --infer "$2") ;;
    mlr)        [ $have_mlr = 1 ] || return 1; CMD=("$BENCH/peers/mlr-csv2json.sh" "$2") ;;
    node)       [ $have_node = 1 ] || return 1; CMD=("$BENCH/peers/node-csv2json.sh" "$2") ;;
    *) die "unknown case '$1'" ;;
  esac
}

# The command as shown in the report, relative to the repo root.
show_cmd() {
  case $1 in
    ceiling)    echo "cat $2 \\| wc -c" ;; # \| : inside a Markdown table
    pipe)       echo "${PIPE_BIN#"$ROOT"/} csv2json $2 > /dev/null" ;;
    pipe-infer) echo "${PIPE_BIN#"$ROOT"/} csv2json --infer $2 > /dev/null" ;;
    mlr)        echo "mlr --icsv --ojsonl cat $2 > /dev/null" ;;
    node)       echo "node bench/node/csv2json.js $2 > /dev/null" ;;
  esac
}

# ---- sanity check on small.csv: every tool emits one valid JSON object per
# record with 12 keys; pipe's string output is compared byte for byte to Node's.


declare -A CHECK
sanity() {
  local small=$DATA/small.csv c
  command -v node > /dev/null || { log "no node: skipping the output check"; return; }
  for c in $CASES; do
    [ "$c" = ceiling ] && continue
    cmd_for "$c" "$small" || { CHECK[$c]="not available"; continue; }
    if ! "${CMD[@]}" > "$TMP/$c.jsonl" 2> "$TMP/$c.err"; then
      CHECK[$c]="FAILED: $(head -c 200 "$TMP/$c.err" | tr '\n' ' ')"
      continue
    fi
    CHECK[$c]="$(count_json "$TMP/$c.jsonl" | awk '{printf "%d/%d lines valid 12-key JSON", $1, $2}')"
  done
  if [ -s "$TMP/node.jsonl" ] && [ -s "$TMP/pipe.jsonl" ]; then
    if cmp -s "$TMP/node.jsonl" "$TMP/pipe.jsonl"; then
      CHECK[pipe]+="; byte-identical to Node"
    else
      CHECK[pipe]+="; differs from Node ($(cmp "$TMP/node.jsonl" "$TMP/pipe.jsonl" 2>&1 | head -1 | sed 's/.*: //'))"
    fi
  fi
}

# ---- timing -------------------------------------------------------------------

machine() {
  host_line
  echo "- tools: $(mlr --version 2>/dev/null || echo 'mlr n/a'), node $(node --version 2>/dev/null || echo n/a), csv-parse $(node -p 'require("'"$BENCH"'/node_modules/csv-parse/package.json").version' 2>/dev/null || echo n/a), pipe: $([ $have_pipe = 1 ] && echo "$PIPE_BIN" || echo 'not built')"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), RUNS=$RUNS PEER_RUNS=$PEER_RUNS, warm page cache"
}


ROWS=()
# bench CASE SIZE: runs CASE on DATA/SIZE.csv and appends a table row.
bench() {
  local c=$1 s=$2 f=$DATA/$2.csv rel n i bytes load t0 t1 status=""
  rel=${f#"$ROOT"/}
  local label="$c"
  if ! cmd_for "$c" "$f"; then
    ROWS+=("| $label | $s | _to be measured: not available_ | | | | | \`$(show_cmd "$c" "$rel")\` |")
    log "skip $c on $s (not available)"
    return
  fi
  if [[ "${CHECK[$c]:-}" == FAILED* ]]; then
    ROWS+=("| $label | $s | _failed the output check_ | | | | | \`$(show_cmd "$c" "$rel")\` |")
    log "skip $c on $s (failed the output check)"
    return
  fi
  case $c in mlr|node) n=$PEER_RUNS ;; *) n=$RUNS ;; esac
  bytes=$(stat -c %s "$f")
  cat "$f" > /dev/null # warm the page cache
  load=$(cut -d' ' -f1 /proc/loadavg)
  : > "$TMP/times"
  for ((i = 1; i <= n; i++)); do
    t0=$EPOCHREALTIME
    if ! "$TIME" -f '%e %U %S %M' -o "$TMP/t" "${CMD[@]}" > /dev/null 2> "$TMP/err"; then
      # GNU time notes "exited with non-zero status N" or "terminated by signal N".
      status=" (failed: $(grep -o -E '(status|signal) [0-9]+' "$TMP/t" | head -n 1 || true))"
      log "  $c $s run $i failed: $(head -c 300 "$TMP/err")"
    fi
    t1=$EPOCHREALTIME
    # %e has 10 ms resolution; replace it with bash's microsecond clock.
    tail -n 1 "$TMP/t" | awk -v t0="$t0" -v t1="$t1" '{ $1 = sprintf("%.3f", t1 - t0); print }' >> "$TMP/times"
    log "  $c $s run $i/$n (wall user sys maxrss_kb): $(tail -n 1 "$TMP/times")"
  done
  local wall wmin wmax cpu rss
  wall=$(awk '{print $1}' "$TMP/times" | median)
  wmin=$(awk '{print $1}' "$TMP/times" | sort -g | head -1)
  wmax=$(awk '{print $1}' "$TMP/times" | sort -g | tail -1)
  cpu=$(awk '{print $2 + $3}' "$TMP/times" | median)
  rss=$(awk '{print $4}' "$TMP/times" | sort -g | tail -1)
  # The command goes through the environment: awk -v would eat its "\|".
  ROWS+=("$(SHOWCMD="$(show_cmd "$c" "$rel")" awk -v c="$label$status" -v s="$s" -v b="$bytes" \
              -v w="$wall" -v lo="$wmin" -v hi="$wmax" -v u="$cpu" -v r="$rss" -v n="$n" -v l="$load" 'BEGIN {
      cmd = ENVIRON["SHOWCMD"]
      mbs = (w > 0) ? b / 1e6 / w : 0
      if (c ~ /failed/) mbs_s = "_failed_"; else mbs_s = sprintf("**%.0f**", mbs)
      printf "| %s | %s | %s | %.3f (%.3f–%.3f) | %.2f | %.1f | %d / %s | `%s` |",
             c, s, mbs_s, w, lo, hi, u, r / 1024, n, l, cmd }')")
}

# ---- main -------------------------------------------------------------------

log "sanity check on $DATA/small.csv"
sanity
for s in $SIZES; do
  for c in $CASES; do
    bench "$c" "$s"
  done
done

{
  echo "## csv2json, $(date -u +%Y-%m-%d)"
  echo
  machine
  for s in $SIZES; do
    echo "- $s: ${DATA#"$ROOT"/}/$s.csv, $(stat -c %s "$DATA/$s.csv") bytes"
  done
  echo
  echo "| case | input | MB/s (median wall) | wall s median (min–max) | CPU s user+sys (median) | peak RSS MiB (max) | runs / load1 | command |"
  echo "|---|---|---:|---:|---:|---:|---:|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Output check on small.csv (4 MiB):"
  for c in $CASES; do
    [ "$c" = ceiling ] && continue
    echo "- $c: ${CHECK[$c]:-not run}"
  done
} | tee "$OUT"
log "report written to $OUT"
