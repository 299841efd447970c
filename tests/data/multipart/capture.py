#!/usr/bin/python3
"""Tiny HTTP server that saves each request body (dechunked) to DIR/NAME.body
and its Content-Type to DIR/NAME.ctype, NAME being the request path. Used by
make-fixtures.sh to capture what real `curl -F` sends. Loopback only."""
import http.server
import os
import sys

DIR = sys.argv[1]


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        name = os.path.basename(self.path)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(os.path.join(DIR, name + ".body"), "wb") as f:
            f.write(body)
        with open(os.path.join(DIR, name + ".ctype"), "w") as f:
            f.write(self.headers["Content-Type"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
