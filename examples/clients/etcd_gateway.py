"""A minimal etcd v3 client over etcd's HTTP/JSON gateway (the calls faultline's built-in Rust
client makes), standard library only, with errors sorted the way a history needs them:
`Fail` when the request certainly did not take effect, `Info` when it may have.
"""

import base64
import http.client
import json
import socket

import faultline_client as fc

# gRPC codes etcd returns only before proposing a request: the request did not happen.
DEFINITE_GRPC_CODES = {3, 5, 6, 7, 8, 9, 11, 12, 16}


def b64(s):
    return base64.b64encode(s.encode()).decode()


def unb64(s):
    return base64.b64decode(s or "").decode()


def prefix_end(prefix):
    """The first key after every key starting with `prefix` (etcd's range_end)."""
    b = bytearray(prefix.encode())
    while b and b[-1] == 0xFF:
        b.pop()
    if not b:
        b = bytearray(b"\0")
    else:
        b[-1] += 1
    return base64.b64encode(bytes(b)).decode()


class Gateway:
    """One etcd member at host:port."""

    def __init__(self, host, port, timeout_s, serializable_reads=False):
        self.host, self.port, self.timeout = host, port, timeout_s
        self.serializable = serializable_reads

    def call(self, path, body):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            try:
                conn.connect()
            except OSError as e:  # never reached etcd
                raise fc.Fail("connect: %s" % e)
            try:
                conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                resp = conn.getresponse()
                status, text = resp.status, resp.read().decode(errors="replace")
            except (OSError, http.client.HTTPException, socket.timeout) as e:
                raise fc.Info("%s: %s" % (path, e or type(e).__name__))
        finally:
            conn.close()
        try:
            reply = json.loads(text)
        except ValueError:
            raise fc.Info("%s: HTTP %d: unreadable reply %r" % (path, status, text[:200]))
        error = reply.get("error") or reply.get("message")
        if error and (status != 200 or "code" in reply):
            code = int(reply.get("code", 2))
            raise (fc.Fail if code in DEFINITE_GRPC_CODES else fc.Info)(error)
        if status != 200:
            raise fc.Info("%s: HTTP %d" % (path, status))
        return reply

    def get(self, key):
        """The value of `key`, or None when absent."""
        body = {"key": b64(key)}
        if self.serializable:
            body["serializable"] = True
        kvs = self.call("/v3/kv/range", body).get("kvs") or []
        return unb64(kvs[0].get("value")) if kvs else None

    def put(self, key, value):
        self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})

    def cas(self, key, expected, new):
        """Sets key to new if its value is expected; False if the compare failed."""
        reply = self.call("/v3/kv/txn", {
            "compare": [{"key": b64(key), "result": "EQUAL", "target": "VALUE",
                         "value": b64(expected)}],
            "success": [{"request_put": {"key": b64(key), "value": b64(new)}}],
        })
        return bool(reply.get("succeeded"))

    def keys_with_prefix(self, prefix):
        body = {"key": b64(prefix), "range_end": prefix_end(prefix)}
        if self.serializable:
            body["serializable"] = True
        return [unb64(kv["key"]) for kv in self.call("/v3/kv/range", body).get("kvs") or []]


def connect(open_message):
    """A Gateway to this instance's node, from the open message's options: `port` (default
    2379), `serializable_reads`, `op_timeout_s` (the HTTP timeout is 80% of it, so the
    client answers `info` itself before faultline's op timeout)."""
    options = open_message["options"]
    host = open_message["nodes"][open_message["node"]]
    timeout = 0.8 * float(options.get("op_timeout_s", 5))
    return Gateway(host, int(options.get("port", 2379)), timeout,
                   bool(options.get("serializable_reads", False)))
