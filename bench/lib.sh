# Shared by bench/run-*.sh (sourced after ROOT, BENCH, DATA and SCRIPT are
# set): messages, medians, the generated inputs and the JSON output check.

log() { printf '%s\n' "$*" >&2; }
die() { log "$SCRIPT: $*"; exit 1; }
have() { command -v "$1" > /dev/null; }

# Median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# gen NAME SIZE: (re)builds gencsv when its source is newer, and (re)generates
# DATA/NAME.csv when missing or older than gencsv (fixed seed, or $SEED).
GENCSV=$DATA/.gencsv
gen() {
  local f=$DATA/$1.csv
  if [ ! -x "$GENCSV" ] || [ "$BENCH/gen/gencsv.c" -nt "$GENCSV" ]; then
    log "building gencsv"
    ${CC:-cc} -O2 -o "$GENCSV" "$BENCH/gen/gencsv.c"
  fi
  if [ ! -s "$f" ] || [ "$GENCSV" -nt "$f" ]; then
    log "generating $f ($2)"
    "$GENCSV" "$2" ${SEED:+"$SEED"} > "$f.tmp"
    mv "$f.tmp" "$f"
  fi
}

# Counts JSON lines in $1 that parse to an object with 12 keys; prints
# "<good> <total>".
count_json() {
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    let good = 0;
    for (const l of lines) {
      try { const o = JSON.parse(l); if (Object.keys(o).length === 12) good++; } catch (e) {}
    }
    console.log(good + " " + lines.length);' "$1"
}

# The report's first line: the machine.
host_line() {
  local cpu
  cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
  echo "- host: $(nproc) CPUs ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
}
