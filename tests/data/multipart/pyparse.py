#!/usr/bin/python3
"""Oracle for tests/codec/test_multipart.c: parses BODY (Content-Type CTYPE)
with Python's email package and prints the events in the C test's format:
  B name=<name>|file=<filename or ->|ct=<content-type or ->
  D<length>:<bytes>
  E            (per part), then Z
Usage: pyparse.py CTYPE BODY"""
import email.parser
import email.policy
import sys

ctype, path = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    body = f.read()
msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
    b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
out = sys.stdout.buffer
for part in msg.iter_parts():
    name = part.get_param("name", header="content-disposition")
    fn = part.get_filename()
    ct = part.get("Content-Type")
    data = part.get_payload(decode=True) or b""
    out.write(b"B name=" + str(name).encode() + b"|file=" +
              (fn.encode() if fn is not None else b"-") + b"|ct=" +
              (str(ct).encode() if ct is not None else b"-") + b"\n")
    out.write(b"D%d:" % len(data) + data + b"\nE\n")
out.write(b"Z\n")
