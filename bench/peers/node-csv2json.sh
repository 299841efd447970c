#!/bin/sh
# Node.js peer for `pipe csv2json`: createReadStream -> csv-parse 5.x
# ({columns: true}) -> JSON.stringify Transform -> stdout (bench/node/).
# Values stay strings, as in `pipe csv2json` without --infer.
# Needs `npm ci` in bench/ (run-csv2json.sh does it when node_modules is missing).
#   bench/peers/node-csv2json.sh FILE > out.jsonl
set -e
[ $# -eq 1 ] || { echo "usage: $0 FILE" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
exec node "$here/../node/csv2json.js" "$1"
