#!/usr/bin/env bash
# Regenerates the curl -F fixtures in this directory: each NAME.body is the
# exact request body real curl sent, NAME.ctype its Content-Type header
# (curl picks a random boundary, so regenerating changes the files).
# Needs curl, /usr/bin/python3 and python3-urllib3; loopback only.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
coproc SRV { exec /usr/bin/python3 capture.py .; }
pid=$SRV_PID
read -r port <&"${SRV[0]}"
url=http://127.0.0.1:$port

printf 'hello, world\n' >"$tmp/hello.txt"
printf 'a,b\r\n1,2\r\n' >"$tmp/data.csv"
: >"$tmp/empty.bin"
# Binary-ish bytes, CRLFs and delimiter look-alikes inside a file.
/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) + b"\r\n--\r\n------\r\n--x--\r\n" * 3 + bytes(range(255, -1, -1)))' >"$tmp/tricky.bin"

post() { name=$1; shift; curl -sS -o /dev/null "$@" "$url/$name"; }
post one-file -F "file=@$tmp/hello.txt"
post fields -F "title=Quarterly report" -F 'note=' -F 'multi=line one
line two'
post many-files -F "a=@$tmp/hello.txt" -F "b=@$tmp/data.csv;type=text/csv" \
  -F "c=@$tmp/empty.bin" -F "d=@$tmp/tricky.bin;type=application/octet-stream" \
  -F 'comment=three files'
post odd-names -F "we\"ird name=@$tmp/hello.txt;filename=r\\\"e\"port q1.txt"
post odd-names-escaped --form-escape -F "we\"ird name=@$tmp/hello.txt;filename=r\\\"e\"port q1.txt"
post utf8-name -F "file=@$tmp/hello.txt;filename=résumé €.txt"
post chunked -H 'Transfer-Encoding: chunked' -F "file=@$tmp/tricky.bin" -F x=y
# One body built by urllib3 (Debian python3-urllib3), not by curl.
/usr/bin/python3 - <<'PY'
import urllib3
body, ctype = urllib3.encode_multipart_formdata([
    ("field", "value with \"quotes\" and \u00e9"),
    ("upload", ("na\u00efve \"q\".txt", b"line 1\r\nline 2\r\n", "text/plain")),
    ("blob", ("b.bin", bytes(range(256)) * 4, "application/octet-stream")),
], boundary="urllib3-boundary-1234")
open("urllib3.body", "wb").write(body)
open("urllib3.ctype", "w").write(ctype)
PY
echo "fixtures written to $(pwd)"
