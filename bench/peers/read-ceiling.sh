#!/bin/sh
# Read ceiling for a csv2json run: the cost of moving FILE's bytes through a
# pipe with no parsing at all. Prints the byte count (wc -c) on stdout.
#   bench/peers/read-ceiling.sh FILE
set -e
[ $# -eq 1 ] || { echo "usage: $0 FILE" >&2; exit 2; }
# shellcheck disable=SC2002 # the cat is the point: bytes through a pipe
cat "$1" | wc -c
