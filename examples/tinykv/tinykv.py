#!/usr/bin/env python3
"""tinykv: a small replicated key-value store, written to be tested by faultline.

One process per node, HTTP/JSON, Python standard library only. Every node accepts every
request and forwards it to the node it believes is the primary; the primary applies it.

    tinykv.py --name n1 --port 7000 --peers n1=10.0.0.1,n2=10.0.0.2,n3=10.0.0.3 \
              --data /var/lib/tinykv --mode unsafe

API (all JSON):  GET /kv/KEY -> {"value": V|null}      PUT /kv/KEY {"value": V} -> {}
                 POST /cas/KEY {"old": O, "new": N} -> {"swapped": true|false}
                 GET /primary -> {"primary": NAME}     (internal: POST /replicate, GET /ping)
Errors: HTTP 503 {"error": "...", "definite": true|false}; definite means the request
certainly was not applied.

THE BUG (--mode unsafe, the default), on purpose, in two parts:
 1. The primary acknowledges a write as soon as it has applied it itself, and copies it to
    the replicas afterwards, in the background, once, best effort.
 2. Naive failover: each node takes as primary the first node of --peers it can reach
    (itself included). During a partition each side has its own primary, each acknowledging
    writes and answering reads the other side never sees; when the partition heals the
    first node is primary again, and what the other side's primary acknowledged is gone.
faultline's register workload finds it as non-linearizable reads (stale and lost values).

--mode safe: the first node of --peers is the only primary, always (no failover); it copies
each write to every replica it can reach before acknowledging. One node serves every read
and write, so histories are linearizable; a partition from the primary makes the other side
unavailable instead of wrong. (Being safe here costs availability: that is the trade.)
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PING_EVERY_S = 0.5
PEER_TIMEOUT_S = 1.0


class Store:
    """The node's data: key -> (value, version). A version is [counter, writer's name]; a
    replica keeps the higher one. Every change is appended to a log file and fsynced."""

    def __init__(self, data_dir, name):
        self.name, self.lock = name, threading.Lock()
        self.data, self.counter = {}, 0
        os.makedirs(data_dir, exist_ok=True)
        self.path = os.path.join(data_dir, "log.jsonl")
        if os.path.exists(self.path):
            for line in open(self.path):
                try:
                    e = json.loads(line)
                except ValueError:
                    break  # a torn last line: the write was never acknowledged
                self._apply(e["key"], e["value"], e["version"])
        self.log = open(self.path, "a")

    def _apply(self, key, value, version):
        current = self.data.get(key)
        if current is None or version > current[1]:
            self.data[key] = (value, version)
            self.counter = max(self.counter, version[0])
            return True
        return False

    def _persist(self, key, value, version):
        self.log.write(json.dumps({"key": key, "value": value, "version": version}) + "\n")
        self.log.flush()
        os.fsync(self.log.fileno())

    def get(self, key):
        with self.lock:
            return self.data.get(key, (None, None))[0]

    def write(self, key, value, expected=None, compare=False):
        """As primary: applies a write (or cas when `compare`); returns the new version, or
        None when the compare failed."""
        with self.lock:
            if compare and self.data.get(key, (None, None))[0] != expected:
                return None
            self.counter += 1
            version = [self.counter, self.name]
            self._apply(key, value, version)
            self._persist(key, value, version)
            return version

    def replicate(self, key, value, version):
        with self.lock:
            if self._apply(key, value, version):
                self._persist(key, value, version)


class Node:
    def __init__(self, args):
        self.name, self.port, self.mode = args.name, args.port, args.mode
        self.peers = [tuple(p.split("=", 1)) for p in args.peers.split(",")]
        self.store = Store(args.data, self.name)
        self.primary = self.peers[0][0]
        if self.mode == "unsafe":
            threading.Thread(target=self.watch_primary, daemon=True).start()

    def address(self, name):
        """(host, port) of a peer; `name=host:port` in --peers overrides --port."""
        host, _, port = dict(self.peers)[name].partition(":")
        return host, int(port or self.port)

    def call(self, name, method, path, body=None):
        """A request to a peer: (status, reply). Raises OSError when it cannot connect,
        TimeoutError/other errors when the request may have arrived."""
        host, port = self.address(name)
        conn = http.client.HTTPConnection(host, port, timeout=PEER_TIMEOUT_S)
        try:
            conn.connect()
        except OSError as e:
            conn.close()
            raise ConnectionRefusedError(str(e))
        try:
            conn.request(method, path, json.dumps(body) if body is not None else None,
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"{}")
        finally:
            conn.close()

    def watch_primary(self):
        """Unsafe failover: the primary is the first node in --peers this node can reach."""
        while True:
            for name, _ in self.peers:
                if name == self.name:
                    break
                try:
                    if self.call(name, "GET", "/ping")[0] == 200:
                        break
                except Exception:
                    continue
            if name != self.primary:
                print("%s: primary is now %s (was %s)" % (self.name, name, self.primary),
                      file=sys.stderr, flush=True)
                self.primary = name
            time.sleep(PING_EVERY_S)

    def copy_to_replicas(self, key, value, version):
        reached = 1
        for name, _ in self.peers:
            if name == self.name:
                continue
            try:
                self.call(name, "POST", "/replicate", {"key": key, "value": value, "version": version})
                reached += 1
            except Exception:
                pass  # unsafe: never retried; safe: the one primary still has it
        return reached

    def handle(self, method, path, body):
        """(status, reply) for a client request, at the primary or forwarded to it."""
        if path == "/ping":
            return 200, {"name": self.name}
        if path == "/primary":
            return 200, {"primary": self.primary}
        if path == "/replicate":
            self.store.replicate(body["key"], body["value"], body["version"])
            return 200, {}
        if self.primary != self.name:
            try:
                return self.call(self.primary, method, path, body)
            except ConnectionRefusedError as e:
                return 503, {"error": "primary %s unreachable: %s" % (self.primary, e), "definite": True}
            except Exception as e:
                return 503, {"error": "forwarding to %s: %s" % (self.primary, e), "definite": False}
        kind, _, key = path.lstrip("/").partition("/")
        if kind == "kv" and method == "GET":
            return 200, {"value": self.store.get(key)}
        if kind == "kv" and method == "PUT":
            version = self.store.write(key, body["value"])
        elif kind == "cas" and method == "POST":
            version = self.store.write(key, body["new"], body["old"], compare=True)
            if version is None:
                return 200, {"swapped": False}
        else:
            return 404, {"error": "no such request %s %s" % (method, path), "definite": True}
        value = body.get("value", body.get("new"))
        if self.mode == "unsafe":
            # BUG 1: acknowledged now, copied later (once, best effort).
            threading.Thread(target=self.copy_to_replicas, args=(key, value, version)).start()
        else:
            self.copy_to_replicas(key, value, version)
        return 200, {"swapped": True} if kind == "cas" else {}


def serve(node):
    class Handler(BaseHTTPRequestHandler):
        def do(self, method):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(n)) if n else {}
                status, reply = node.handle(method, self.path, body)
            except Exception as e:
                status, reply = 500, {"error": repr(e), "definite": False}
            data = json.dumps(reply).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the caller gave up waiting

        def do_GET(self):
            self.do("GET")

        def do_PUT(self):
            self.do("PUT")

        def do_POST(self):
            self.do("POST")

        def log_message(self, *args):
            pass

    ThreadingHTTPServer.daemon_threads = True
    print("%s: tinykv (%s mode) on port %d, peers %s" % (node.name, node.mode, node.port, node.peers),
          file=sys.stderr, flush=True)
    ThreadingHTTPServer(("0.0.0.0", node.port), Handler).serve_forever()


def check(what, name, port):
    """--check ready: exit 0 once this node answers; --check primary: exit 0 if this node
    (--name) is the primary it believes in. For db.toml's readiness and is_primary commands."""
    import urllib.request
    try:
        reply = json.load(urllib.request.urlopen("http://127.0.0.1:%d/%s" % (port, "ping" if what == "ready" else "primary"), timeout=1))
    except Exception as e:
        print("tinykv --check %s: %s" % (what, e), file=sys.stderr)
        return 1
    return 0 if what == "ready" or reply.get("primary") == name else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name")
    p.add_argument("--port", type=int, default=7000)
    p.add_argument("--peers", help="name=host[:port],... every node, this one too; the first is the primary at start")
    p.add_argument("--data", default="/var/lib/tinykv")
    p.add_argument("--mode", choices=["unsafe", "safe"], default="unsafe")
    p.add_argument("--check", choices=["ready", "primary"], help="ask the running node on --port, then exit")
    args = p.parse_args()
    if args.check:
        sys.exit(check(args.check, args.name, args.port))
    if not (args.name and args.peers):
        p.error("--name and --peers are required to run a node")
    serve(Node(args))


if __name__ == "__main__":
    main()
