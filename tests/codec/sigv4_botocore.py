#!/usr/bin/python3
"""The oracle for tests/codec/test_sigv4.c: signs S3 requests with Debian's
botocore (S3SigV4Auth, the signer aws-cli and boto3 use) at a frozen time.

stdin: a JSON list of cases, each
  {"method": "PUT", "scheme": "http", "host": "127.0.0.1:8080",
   "path": "/bucket/raw key",          # raw, NOT encoded: botocore encodes it
   "query": [["uploadId", "x"], ["uploads", null]],   # raw names and values
   "headers": [["Content-MD5", "..."]],
   "body": "text" or null, "unsigned": false,
   "access_key": "...", "secret_key": "...", "token": null,
   "region": "us-east-1", "now": 1369353600}
stdout: one line per case, "<x-amz-content-sha256>\t<Authorization>".

botocore encodes the path as its S3 serializer does (percent_encode, '/'
and '~' kept) and the query from params (its own quote): none of it shares
code with the C signer under test.
"""
import datetime
import json
import sys
import types

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.utils import percent_encode


def sign(case):
    now = datetime.datetime.utcfromtimestamp(case["now"])

    class Frozen(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return now

    # botocore.auth reads the clock as datetime.datetime.utcnow().
    botocore.auth.datetime = types.SimpleNamespace(datetime=Frozen)
    url = "%s://%s%s" % (case["scheme"], case["host"],
                         percent_encode(case["path"], safe="/~"))
    params = [(n, "" if v is None else v) for n, v in case.get("query") or []]
    body = case.get("body")
    req = AWSRequest(method=case["method"], url=url,
                     headers=dict(case.get("headers") or []),
                     data=body.encode("utf-8") if body is not None else None,
                     params=params)
    req.headers["Host"] = case["host"]
    if case.get("unsigned"):
        req.context["client_config"] = Config(
            s3={"payload_signing_enabled": False})
    creds = Credentials(case["access_key"], case["secret_key"],
                        case.get("token"))
    botocore.auth.S3SigV4Auth(creds, "s3", case["region"]).add_auth(req)
    return "%s\t%s" % (req.headers["X-Amz-Content-SHA256"],
                       req.headers["Authorization"])


def main():
    cases = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    for case in cases:
        print(sign(case))


if __name__ == "__main__":
    main()
