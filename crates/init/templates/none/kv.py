#!/usr/bin/env python3
"""The tiny example system `faultline init --family none` writes: replace it with yours.

One process per node, HTTP/JSON. The first node keeps the data (in memory, under one lock); every
other node forwards each request to it, so every read and write is served by one copy and the
histories are linearizable. A partition that cuts a node off from the first makes its requests
fail (definitely, when the forward could not even connect) or time out (unknown outcome).

    GET  /kv/KEY                          -> {"value": V or null}
    PUT  /kv/KEY   {"value": V}           -> {}
    POST /cas/KEY  {"old": A, "new": B}   -> {"swapped": true|false}
    GET  /health                          -> {} once this node can serve
"""

import argparse
import http.client
import http.server
import json
import threading

DATA = {}
LOCK = threading.Lock()


def apply(method, path, body):
    """Carries out one request on the first node's data."""
    kind, _, key = path.lstrip("/").partition("/")
    with LOCK:
        if kind == "kv" and method == "GET":
            return {"value": DATA.get(key)}
        if kind == "kv" and method == "PUT":
            DATA[key] = body["value"]
            return {}
        if kind == "cas" and method == "POST":
            if DATA.get(key) != body["old"]:
                return {"swapped": False}
            DATA[key] = body["new"]
            return {"swapped": True}
    raise KeyError(path)


class Handler(http.server.BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/health":
            return self.reply(200, {})
        if ARGS.forward:
            return self.forward(method, raw)
        try:
            self.reply(200, apply(method, self.path, json.loads(raw or b"{}")))
        except (KeyError, ValueError) as e:
            self.reply(400, {"error": "bad request: %s" % e, "definite": True})

    def forward(self, method, raw):
        host, _, port = ARGS.forward.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=ARGS.timeout)
        try:
            conn.connect()
        except OSError as e:  # nothing was sent: the request certainly did not happen
            return self.reply(503, {"error": "primary unreachable: %s" % e, "definite": True})
        try:
            conn.request(method, self.path, raw, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            self.reply(resp.status, json.loads(resp.read() or b"{}"))
        except Exception as e:  # sent, no answer: it may have happened
            self.reply(504, {"error": "primary did not answer: %s" % e, "definite": False})
        finally:
            conn.close()

    def do_GET(self):
        self.handle_any("GET")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_POST(self):
        self.handle_any("POST")

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--forward", help="HOST:PORT of the first node (omit on the first node)")
    parser.add_argument("--timeout", type=float, default=2.0)
    ARGS = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("0.0.0.0", ARGS.port), Handler)
    server.serve_forever()
