#!/usr/bin/env bash
# Side-by-side benchmark of `pipe gzip` against its peers.
#
#   bench/run-gzip.sh                 # everything, prints a Markdown report
#   RUNS=3 PEER_RUNS=1 bench/run-gzip.sh
#   INPUTS=csv CASES="pigz pipe" bench/run-gzip.sh
#
# Inputs (kept out of git, generated when missing):
#   csv   bench/data/big.csv   1 GiB CSV from bench/gen/gencsv.c (as in run-csv2json.sh)
#   json  bench/data/big.json  its NDJSON: `build/pipe csv2json bench/data/big.csv`
#                              (Node's bench/node/csv2json.js, which prints the same
#                              bytes, when build/pipe is missing; ~75 s)
#
# Cases (every one reads the input on stdin, `< FILE`, and writes the gzip
# stream to stdout, piped to `wc -c` so the output size is measured; the
# compressor really write(2)s every byte, wc is a cheap reader):
#   gzip        gzip -6 -c                      (GNU gzip, one thread)
#   pigz        pigz -p 2 -6 -c                 (the reference for "vs pigz -6")
#   pigz-1      pigz -p 2 -1 -c
#   pigz-9      pigz -p 2 -9 -c
#   libdeflate  libdeflate-gzip -6 -c           (Debian libdeflate-tools; one thread,
#                                                whole-buffer: mmaps the input)
#   igzip       igzip -3 -c                     (Debian isal; ISA-L's best level)
#   igzip-1     igzip -1 -c                     (ISA-L's level 1: what pipe -1 uses)
#   pipe        build/pipe gzip -6 --threads 2
#   pipe-1      build/pipe gzip -1 --threads 2
#   pipe-3      build/pipe gzip -3 --threads 2
#   pipe-9      build/pipe gzip -9 --threads 2
# (PIPE_BIN=other/pipe measures another build, e.g. an older one, under the
# same case names.)
#
# Each case runs under GNU time (`/usr/bin/time -f '%e %U %S %M'`, which sees the
# compressor only, not wc); the table gives input MB/s (10^6 bytes / median wall
# second, wall measured around the whole `CMD < FILE | wc -c`), median wall
# (min-max), median user+sys CPU seconds, output bytes, output/input, output
# vs `pigz -p 2 -6`, and the largest peak RSS seen over the runs.
# Before timing, each case compresses the first CHECK_SIZE bytes of each input;
# the result must pass `gzip -t` and decompress (`gzip -dc`) to exactly those
# bytes; and Python's zlib.decompressobj(31) must read it whole in ONE call
# with nothing left in unused_data (one gzip member: what browsers and HTTP
# clients need), else the check notes "several members". A case that fails
# (gzip -t or the round trip) is not timed. The input is read once before each
# case so every run sees a warm page cache. pipe cases are skipped (row kept,
# marked) while `build/pipe gzip --help` fails; other cases while their tool is
# not installed.
#
# Environment:
#   RUNS=5            runs per case for the fast cases (median reported)
#   PEER_RUNS=3       runs per case for SLOW_CASES
#   SLOW_CASES="gzip pigz-9 pipe-9"   (gzip -6 takes ~50 s on 1 GiB)
#   INPUTS="csv json"
#   CASES="gzip pigz pigz-1 pigz-9 libdeflate igzip igzip-1 pipe pipe-1 pipe-3 pipe-9"
#   CHECK_SIZE=64m    prefix used by the round-trip check (head -c); "full" = all
#   PIPE_BIN=build/pipe  DATA_DIR=bench/data  BIG_SIZE=1g SEED=
#   OUT=FILE          also write the report there (default bench/data/report-gzip-<date>.md)
set -euo pipefail
export LC_ALL=C # decimal points in awk/printf, EPOCHREALTIME

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
DATA=${DATA_DIR:-$BENCH/data}
PIPE_BIN=${PIPE_BIN:-$ROOT/build/pipe}
RUNS=${RUNS:-5}
PEER_RUNS=${PEER_RUNS:-3}
SLOW_CASES=${SLOW_CASES:-gzip pigz-9 pipe-9}
INPUTS=${INPUTS:-csv json}
CASES=${CASES:-gzip pigz pigz-1 pigz-9 libdeflate igzip igzip-1 pipe pipe-1 pipe-3 pipe-9}
CHECK_SIZE=${CHECK_SIZE:-64m}
BIG_SIZE=${BIG_SIZE:-1g}
SEED=${SEED:-}
TIME=/usr/bin/time
OUT=${OUT:-$DATA/report-gzip-$(date +%Y%m%d-%H%M%S).md}
SCRIPT=run-gzip
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

[ -x "$TIME" ] || die "$TIME missing (apt-get install -y time)"
mkdir -p "$DATA"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pipe-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# ---- tools --------------------------------------------------------------------

have_pipe_gzip=0
[ -x "$PIPE_BIN" ] && "$PIPE_BIN" gzip --help > /dev/null 2>&1 && have_pipe_gzip=1

# ---- inputs -----------------------------------------------------------------

[ -s "$DATA/big.csv" ] || gen big "$BIG_SIZE"
for inp in $INPUTS; do
  case $inp in
    csv) ;;
    json)
      if [ ! -s "$DATA/big.json" ] || [ "$DATA/big.csv" -nt "$DATA/big.json" ]; then
        log "generating $DATA/big.json"
        if [ -x "$PIPE_BIN" ] && "$PIPE_BIN" csv2json "$DATA/big.csv" > "$DATA/big.json.tmp"; then :
        elif have node && [ -d "$BENCH/node_modules/csv-parse" ]; then
          node "$BENCH/node/csv2json.js" "$DATA/big.csv" > "$DATA/big.json.tmp"
        else
          die "cannot make big.json: neither build/pipe csv2json nor node + csv-parse"
        fi
        mv "$DATA/big.json.tmp" "$DATA/big.json"
      fi ;;
    *) die "unknown input '$inp' (csv, json)" ;;
  esac
done

# cmd_for CASE -> sets CMD (array; reads stdin, writes stdout), or returns 1
# when the tool is unavailable.
cmd_for() {
  case $1 in
    gzip)       have gzip || return 1; CMD=(gzip -6 -c) ;;
    pigz)       have pigz || return 1; CMD=(pigz -p 2 -6 -c) ;;
    pigz-1)     have pigz || return 1; CMD=(pigz -p 2 -1 -c) ;;
    pigz-9)     have pigz || return 1; CMD=(pigz -p 2 -9 -c) ;;
    libdeflate) have libdeflate-gzip || return 1; CMD=(libdeflate-gzip -6 -c) ;;
    igzip)      have igzip || return 1; CMD=(igzip -3 -c) ;;
    igzip-1)    have igzip || return 1; CMD=(igzip -1 -c) ;;
    pipe)       [ $have_pipe_gzip = 1 ] || return 1; CMD=("$PIPE_BIN" gzip -6 --threads 2) ;;
    pipe-1)     [ $have_pipe_gzip = 1 ] || return 1; CMD=("$PIPE_BIN" gzip -1 --threads 2) ;;
    pipe-3)     [ $have_pipe_gzip = 1 ] || return 1; CMD=("$PIPE_BIN" gzip -3 --threads 2) ;;
    pipe-9)     [ $have_pipe_gzip = 1 ] || return 1; CMD=("$PIPE_BIN" gzip -9 --threads 2) ;;
    *) die "unknown case '$1'" ;;
  esac
}

# The command as shown in the report, relative to the repo root.
show_cmd() {
  local p=${PIPE_BIN#"$ROOT"/}
  case $1 in
    gzip)       echo "gzip -6 -c < $2 \\| wc -c" ;; # \| : inside a Markdown table
    pigz)       echo "pigz -p 2 -6 -c < $2 \\| wc -c" ;;
    pigz-1)     echo "pigz -p 2 -1 -c < $2 \\| wc -c" ;;
    pigz-9)     echo "pigz -p 2 -9 -c < $2 \\| wc -c" ;;
    libdeflate) echo "libdeflate-gzip -6 -c < $2 \\| wc -c" ;;
    igzip)      echo "igzip -3 -c < $2 \\| wc -c" ;;
    igzip-1)    echo "igzip -1 -c < $2 \\| wc -c" ;;
    pipe)       echo "$p gzip -6 --threads 2 < $2 \\| wc -c" ;;
    pipe-1)     echo "$p gzip -1 --threads 2 < $2 \\| wc -c" ;;
    pipe-3)     echo "$p gzip -3 --threads 2 < $2 \\| wc -c" ;;
    pipe-9)     echo "$p gzip -9 --threads 2 < $2 \\| wc -c" ;;
  esac
}

file_for() { case $1 in csv) echo "$DATA/big.csv" ;; json) echo "$DATA/big.json" ;; esac; }

# ---- round-trip check on a prefix of each input ------------------------------

declare -A CHECK # CHECK[case,input]
check() {
  local inp c f sample rc
  for inp in $INPUTS; do
    f=$(file_for "$inp")
    sample=$TMP/sample.$inp
    if [ "$CHECK_SIZE" = full ]; then sample=$f; else head -c "$CHECK_SIZE" "$f" > "$sample"; fi
    for c in $CASES; do
      cmd_for "$c" || { CHECK[$c,$inp]="not available"; continue; }
      rc=0; "${CMD[@]}" < "$sample" > "$TMP/check.gz" 2> "$TMP/check.err" || rc=$?
      if [ $rc != 0 ]; then
        CHECK[$c,$inp]="FAILED: exit status $rc: $(head -c 200 "$TMP/check.err" | tr '\n' ' ')"
      elif ! gzip -t "$TMP/check.gz" 2> "$TMP/check.err"; then
        CHECK[$c,$inp]="FAILED: gzip -t: $(head -c 200 "$TMP/check.err" | tr '\n' ' ')"
      elif ! gzip -dc "$TMP/check.gz" | cmp -s - "$sample"; then
        CHECK[$c,$inp]="FAILED: decompresses to different bytes"
      elif ! /usr/bin/python3 -c 'import sys, zlib
o = zlib.decompressobj(31); o.decompress(open(sys.argv[1], "rb").read())
sys.exit(0 if o.eof and not o.unused_data else 1)' "$TMP/check.gz"; then
        CHECK[$c,$inp]="ok (gzip -t, round trip of $(stat -c %s "$sample") bytes), but several members"
      else
        CHECK[$c,$inp]="ok (gzip -t, round trip of $(stat -c %s "$sample") bytes, one member)"
      fi
      log "  check $c $inp: ${CHECK[$c,$inp]}"
    done
    [ "$sample" = "$f" ] || rm -f "$sample"
  done
  rm -f "$TMP/check.gz"
}

# ---- timing -------------------------------------------------------------------

machine() {
  host_line
  echo "- tools: $(gzip --version 2>/dev/null | head -n 1 || echo 'gzip n/a'), $(pigz --version 2>&1 || echo 'pigz n/a')," \
       "libdeflate-tools $(dpkg-query -W -f '${Version}' libdeflate-tools 2>/dev/null || echo n/a)," \
       "isal $(dpkg-query -W -f '${Version}' isal 2>/dev/null || echo n/a)," \
       "pipe gzip: $([ $have_pipe_gzip = 1 ] && echo "$PIPE_BIN" || echo 'not available')"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ), RUNS=$RUNS PEER_RUNS=$PEER_RUNS (for: $SLOW_CASES), warm page cache"
}


# Results, keyed "case,input": R_STAT (empty, "n/a", "check" or " (failed: ...)"),
# R_WALL R_WMIN R_WMAX R_CPU R_RSS R_N R_LOAD R_OBYTES.
declare -A R_STAT R_WALL R_WMIN R_WMAX R_CPU R_RSS R_N R_LOAD R_OBYTES

# bench CASE INPUT: runs `CMD < FILE | wc -c` RUNS or PEER_RUNS times.
bench() {
  local c=$1 inp=$2 f n i load t0 t1 k=$1,$2 status=""
  f=$(file_for "$inp")
  if ! cmd_for "$c"; then R_STAT[$k]="n/a"; log "skip $c on $inp (not available)"; return; fi
  if [[ "${CHECK[$k]:-}" == FAILED* ]]; then R_STAT[$k]="check"; log "skip $c on $inp (failed the check)"; return; fi
  n=$RUNS
  case " $SLOW_CASES " in *" $c "*) n=$PEER_RUNS ;; esac
  cat "$f" > /dev/null # warm the page cache
  load=$(cut -d' ' -f1 /proc/loadavg)
  : > "$TMP/times"; : > "$TMP/sizes"
  for ((i = 1; i <= n; i++)); do
    t0=$EPOCHREALTIME
    if ! { "$TIME" -f '%e %U %S %M' -o "$TMP/t" "${CMD[@]}" < "$f" 2> "$TMP/err" | wc -c >> "$TMP/sizes"; }; then
      # GNU time notes "exited with non-zero status N" or "terminated by signal N".
      status=" (failed: $(grep -o -E '(status|signal) [0-9]+' "$TMP/t" | head -n 1 || true))"
      log "  $c $inp run $i failed: $(head -c 300 "$TMP/err")"
    fi
    t1=$EPOCHREALTIME
    # %e has 10 ms resolution; replace it with bash's microsecond clock.
    tail -n 1 "$TMP/t" | awk -v t0="$t0" -v t1="$t1" '{ $1 = sprintf("%.3f", t1 - t0); print }' >> "$TMP/times"
    log "  $c $inp run $i/$n (wall user sys maxrss_kb): $(tail -n 1 "$TMP/times"), out $(tail -n 1 "$TMP/sizes") bytes"
  done
  [ "$(sort -u "$TMP/sizes" | wc -l)" = 1 ] || status+=" (output size varies: $(sort -u "$TMP/sizes" | tr '\n' ' '))"
  R_STAT[$k]=$status
  R_N[$k]=$n
  R_LOAD[$k]=$load
  R_WALL[$k]=$(awk '{print $1}' "$TMP/times" | median)
  R_WMIN[$k]=$(awk '{print $1}' "$TMP/times" | sort -g | head -n 1)
  R_WMAX[$k]=$(awk '{print $1}' "$TMP/times" | sort -g | tail -n 1)
  R_CPU[$k]=$(awk '{print $2 + $3}' "$TMP/times" | median)
  R_RSS[$k]=$(awk '{print $4}' "$TMP/times" | sort -g | tail -n 1)
  R_OBYTES[$k]=$(sort -g "$TMP/sizes" | tail -n 1)
}

row() {
  local c=$1 inp=$2 k=$1,$2 f rel
  f=$(file_for "$inp"); rel=${f#"$ROOT"/}
  case ${R_STAT[$k]:-} in
    n/a)   echo "| $c | $inp | _to be measured: not available_ | | | | | | | | \`$(show_cmd "$c" "$rel")\` |"; return ;;
    check) echo "| $c | $inp | _failed the output check_ | | | | | | | | \`$(show_cmd "$c" "$rel")\` |"; return ;;
  esac
  # The command goes through the environment: awk -v would eat its "\|".
  SHOWCMD="$(show_cmd "$c" "$rel")" awk -v c="$c${R_STAT[$k]}" -v s="$inp" -v b="$(stat -c %s "$f")" \
      -v w="${R_WALL[$k]}" -v lo="${R_WMIN[$k]}" -v hi="${R_WMAX[$k]}" -v u="${R_CPU[$k]}" \
      -v r="${R_RSS[$k]}" -v n="${R_N[$k]}" -v l="${R_LOAD[$k]}" -v o="${R_OBYTES[$k]}" \
      -v ref="${R_OBYTES[pigz,$inp]:-}" 'BEGIN {
    cmd = ENVIRON["SHOWCMD"]
    mbs = (w > 0) ? b / 1e6 / w : 0
    if (c ~ /failed/) mbs_s = "_failed_"; else mbs_s = sprintf("**%.0f**", mbs)
    vs = (ref > 0) ? sprintf("%.3f", o / ref) : "n/a"
    printf "| %s | %s | %s | %.3f (%.3f–%.3f) | %.2f | %.2f | %d | %.2f%% | %s | %.1f | %d / %s | `%s` |\n",
           c, s, mbs_s, w, lo, hi, u, (w > 0 ? u / w : 0), o, 100 * o / b, vs, r / 1024, n, l, cmd }'
}

# ---- main -------------------------------------------------------------------

log "round-trip check on the first $CHECK_SIZE bytes of each input"
check
for inp in $INPUTS; do
  for c in $CASES; do
    bench "$c" "$inp"
  done
done

{
  echo "## gzip, $(date -u +%Y-%m-%d)"
  echo
  machine
  for inp in $INPUTS; do
    f=$(file_for "$inp")
    echo "- $inp: ${f#"$ROOT"/}, $(stat -c %s "$f") bytes"
  done
  echo "- output: \`CMD < FILE | wc -c\`; time and RSS are the compressor's, wall is the whole pipe's"
  echo
  echo "| case | input | MB/s in (median wall) | wall s median (min–max) | CPU s user+sys (median) | CPU/wall | output bytes | out/in | vs pigz -6 | peak RSS MiB (max) | runs / load1 | command |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for inp in $INPUTS; do
    for c in $CASES; do
      row "$c" "$inp"
    done
  done
  echo
  echo "Round-trip check (first $CHECK_SIZE bytes of each input):"
  for inp in $INPUTS; do
    for c in $CASES; do
      echo "- $c, $inp: ${CHECK[$c,$inp]:-not run}"
    done
  done
} | tee "$OUT"
log "report written to $OUT"
