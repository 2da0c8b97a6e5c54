#!/usr/bin/env python3
"""faultline's register workload against etcd, over etcd's HTTP/JSON gateway.

    faultline test --db etcd --workload register --client 'python3 examples/clients/etcd_register.py'

read returns the key's integer (null when absent), write puts it, cas [old, new] is one etcd
transaction comparing the value; a failed compare is `fail` with "compare-failed".
Keys are "<namespace>/<key>", so every run starts from empty registers.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcd_gateway  # noqa: E402
import faultline_client as fc  # noqa: E402


class Register:
    def __init__(self, open_message):
        self.etcd = etcd_gateway.connect(open_message)
        self.namespace = open_message["options"]["namespace"]

    def invoke(self, f, key, value):
        k = "%s/%s" % (self.namespace, key)
        if f == "read":
            stored = self.etcd.get(k)
            try:
                return None if stored is None else int(stored)
            except ValueError:
                raise fc.Info("key %s holds %r, not an integer" % (k, stored))
        if f == "write":
            self.etcd.put(k, str(value))
            return value
        if f == "cas":
            old, new = value
            if not self.etcd.cas(k, str(old), str(new)):
                raise fc.Fail(fc.COMPARE_FAILED)
            return value
        raise fc.Fail("unknown operation %r" % f)


if __name__ == "__main__":
    fc.serve(Register)
