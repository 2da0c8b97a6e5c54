#!/usr/bin/env python3
"""faultline's set workload against etcd, over etcd's HTTP/JSON gateway.

    faultline test --db etcd --workload set --client 'python3 examples/clients/etcd_set.py'

add puts the key "<namespace>/<element>"; read lists the keys under "<namespace>/" and returns
their elements, sorted.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcd_gateway  # noqa: E402
import faultline_client as fc  # noqa: E402


class Set:
    def __init__(self, open_message):
        self.etcd = etcd_gateway.connect(open_message)
        self.prefix = open_message["options"]["namespace"] + "/"

    def invoke(self, f, key, value):
        if f == "add":
            self.etcd.put(self.prefix + str(value), "")
            return value
        if f == "read":
            elements = []
            for k in self.etcd.keys_with_prefix(self.prefix):
                try:
                    elements.append(int(k[len(self.prefix):]))
                except ValueError:
                    raise fc.Info("key %r is no element" % k)
            return sorted(elements)
        raise fc.Fail("unknown operation %r" % f)


if __name__ == "__main__":
    fc.serve(Set)
