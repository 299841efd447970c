#!/usr/bin/python3
"""Test HTTP server for tests/integration/test_browser_gzip.c.

    /usr/bin/python3 server.py DIR

Serves DIR/page.html at /, DIR/data.gz at /ce with Content-Encoding: gzip
(the browser decodes it as an HTTP response body) and at /raw as
application/gzip (the page decodes it with DecompressionStream). The page
POSTs its report to /result, which is written to DIR/result.json. Listens on
127.0.0.1 on a free port, written to DIR/port once listening (both files are
renamed into place, so a reader never sees half of one). Runs until killed.
"""
import http.server
import os
import sys

root = sys.argv[1]


def publish(name, data):
    tmp = os.path.join(root, name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(root, name))


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def send(self, code, body, ctype, extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def file(self, name):
        with open(os.path.join(root, name), "rb") as f:
            return f.read()

    def do_GET(self):
        if self.path == "/":
            self.send(200, self.file("page.html"), "text/html; charset=utf-8")
        elif self.path == "/ce":
            self.send(200, self.file("data.gz"), "application/octet-stream",
                      [("Content-Encoding", "gzip")])
        elif self.path == "/raw":
            self.send(200, self.file("data.gz"), "application/gzip")
        else:
            self.send(404, b"not found", "text/plain")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/result":
            publish("result.json", body)
        self.send(200, b"ok", "text/plain")


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
publish("port", str(server.server_address[1]).encode())
server.serve_forever()
