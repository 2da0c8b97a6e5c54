#!/usr/bin/env python3
"""faultline's register workload against the example system (kv.py), standard library only.

    faultline test --db {{dir}} --workload register --client 'python3 {{dir}}/client.py'

faultline starts one instance per Jepsen process and speaks its client protocol with it
(faultline_client.py is the loop). Each instance talks to its own node. Keys are
"<namespace>/<key>" so runs never see each other's data. What to change for your system:
`request` (how to reach it) and `invoke` (one operation). The rule that matters: raise
fc.Fail only when the operation certainly did not happen (a refused connection, a definite
error); anything uncertain (a timeout, a lost reply) is fc.Info.
"""

import http.client
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultline_client as fc  # noqa: E402


class Client:
    def __init__(self, open_message):
        options = open_message["options"]
        self.host = open_message["nodes"][open_message["node"]]
        self.port = int(options.get("port", 7000))
        self.timeout = 0.8 * float(options.get("op_timeout_s", 5))
        self.namespace = options["namespace"]

    def request(self, method, path, body=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            try:
                conn.connect()
            except OSError as e:  # nothing sent
                raise fc.Fail("connect: %s" % e)
            try:
                conn.request(method, path, json.dumps(body) if body is not None else None,
                             {"Content-Type": "application/json"})
                resp = conn.getresponse()
                status, reply = resp.status, json.loads(resp.read() or b"{}")
            except Exception as e:  # sent, no answer: unknown outcome
                raise fc.Info("%s %s: %s" % (method, path, e or type(e).__name__))
        finally:
            conn.close()
        if status != 200:
            error = reply.get("error", "HTTP %d" % status)
            raise (fc.Fail if reply.get("definite") else fc.Info)(error)
        return reply

    def invoke(self, f, key, value):
        k = "%s/%s" % (self.namespace, key)
        if f == "read":
            return self.request("GET", "/kv/" + k)["value"]
        if f == "write":
            self.request("PUT", "/kv/" + k, {"value": value})
            return value
        if f == "cas":
            old, new = value
            if not self.request("POST", "/cas/" + k, {"old": old, "new": new})["swapped"]:
                raise fc.Fail(fc.COMPARE_FAILED)
            return value
        raise fc.Fail("unknown operation %r" % f)


if __name__ == "__main__":
    fc.serve(Client)
