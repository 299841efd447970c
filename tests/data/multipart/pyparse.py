#!/usr/bin/python3
"""Oracle for tests/codec/test_multipart.c: parses BODY (Content-Type CTYPE)
with Python's email package and prints the events in the C test's format:
  B name=<name>|file=<filename or ->|ct=<content-type or ->
  D<length>:<bytes>
  E            (per part), then Z
Usage: pyparse.py CTYPE BODY, or pyparse.py --batch DIR N"""
import email.parser
import email.policy
import email.utils
import sys



def events(ctype, body, out):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        # Not get_filename(): it strips spaces that the quoted-string holds.
        fn = part.get_param("filename", None, "content-disposition")
        if isinstance(fn, tuple):  # filename*= (RFC 2231 / 5987)
            fn = email.utils.collapse_rfc2231_value(fn)
        ct = part.get("Content-Type")
        data = part.get_payload(decode=True) or b""
        out.write(b"B name=" + str(name).encode() + b"|file=" +
                  (fn.encode() if fn is not None else b"-") + b"|ct=" +
                  (str(ct).encode() if ct is not None else b"-") + b"\n")
        out.write(b"D%d:" % len(data) + data + b"\nE\n")
    out.write(b"Z\n")


if sys.argv[1] == "--batch":
    # --batch DIR N: DIR/<i>.ctype + DIR/<i>.body -> DIR/<i>.py, i < N
    d, n = sys.argv[2], int(sys.argv[3])
    for i in range(n):
        with open("%s/%d.ctype" % (d, i)) as f:
            ctype = f.read()
        with open("%s/%d.body" % (d, i), "rb") as f:
            body = f.read()
        with open("%s/%d.py" % (d, i), "wb") as f:
            events(ctype, body, f)
else:
    with open(sys.argv[2], "rb") as f:
        events(sys.argv[1], f.read(), sys.stdout.buffer)
