#!/bin/sh
# libpipe.so exports its public API and nothing else: every exported symbol
# is a pipe_ name declared in include/pipe/, no internal pipe__ one leaks,
# and every function a public header declares is there (a PIPE_EXTERN
# forgotten on a new declaration fails here).
# Usage: check_exports.sh LIBPIPE_SO INCLUDE_DIR
set -eu
so=$1 inc=$2
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRV]$/ {print $3}' | sort -u)
status=0
bad=$(printf '%s\n' "$exported" | grep -v '^pipe_[a-z0-9]' | grep -v '^_' || true)
if [ -n "$bad" ]; then
  echo "exported but not public API:"; printf '  %s\n' $bad; status=1
fi
declared=$(grep -ho "^PIPE_EXTERN[^(]*(" "$inc"/pipe/*.h | sed 's/.*[ *]\(pipe_[a-z0-9_]*\)[ ]*(/\1/' | sort -u)
for f in $declared; do
  printf '%s\n' "$exported" | grep -qx "$f" || { echo "declared but not exported: $f"; status=1; }
done
n=$(printf '%s\n' "$declared" | wc -l)
[ "$n" -ge 60 ] || { echo "only $n PIPE_EXTERN declarations found"; status=1; }
[ $status -eq 0 ] && echo "ok: $n public functions exported, no internal symbol"
exit $status
