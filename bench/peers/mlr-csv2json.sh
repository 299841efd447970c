#!/bin/sh
# Miller peer for `pipe csv2json`: CSV in, one JSON object per line out.
# Miller 6 infers types (numbers unquoted, original text kept) — closest to
# `pipe csv2json --infer`. Note: Miller rewrites a CRLF inside a quoted field
# as LF (seen with mlr 6.6.0).
#   bench/peers/mlr-csv2json.sh FILE > out.jsonl
set -e
[ $# -eq 1 ] || { echo "usage: $0 FILE" >&2; exit 2; }
exec mlr --icsv --ojsonl cat "$1"
