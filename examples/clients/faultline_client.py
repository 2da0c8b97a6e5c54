"""faultline's client protocol (version 1) for clients written in Python, standard library only.

faultline runs one instance of your program per Jepsen process and talks to it in JSON Lines on
stdin and stdout (docs/client-protocol.md). This module is the loop; you write what connects to
your database and carries out one operation:

    import faultline_client as fc

    class MyClient:
        def __init__(self, open_message):      # raise to refuse: faultline gets "error"
            ...
        def invoke(self, f, key, value):       # return the value for "ok";
            ...                                # raise fc.Fail (certainly not done) or
                                               # fc.Info (unknown outcome) otherwise
    fc.serve(MyClient)

Anything else a client raises while invoking is answered as "info": a bug in a client must
never turn an operation that may have happened into one that did not. Print diagnostics to
stderr: faultline copies them into the run's log.
"""

import json
import sys

PROTOCOL = 1

# The error of a cas whose compare definitely failed.
COMPARE_FAILED = "compare-failed"


class Fail(Exception):
    """The operation certainly did not take effect."""


class Info(Exception):
    """The operation may or may not have taken effect."""


def _send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve(open_client, stdin=None):
    """Answers faultline's messages on stdin until `close` or the end of stdin."""
    client = None
    for line in stdin or sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        kind = message.get("type")
        if kind == "open":
            if message.get("protocol") != PROTOCOL:
                _send({"type": "error", "error": "protocol %r, expected %d"
                       % (message.get("protocol"), PROTOCOL)})
                continue
            try:
                client = open_client(message)
            except Exception as e:  # refused: faultline fails the op and tries a new instance
                _send({"type": "error", "error": "%s: %s" % (type(e).__name__, e)})
                continue
            _send({"type": "open_ok"})
        elif kind == "invoke":
            id_ = message["id"]
            try:
                value = client.invoke(message["f"], message.get("key"), message.get("value"))
                _send({"type": "ok", "id": id_, "value": value})
            except Fail as e:
                _send({"type": "fail", "id": id_, "error": str(e)})
            except Info as e:
                _send({"type": "info", "id": id_, "error": str(e)})
            except Exception as e:
                print("invoke %d (%s) raised %r" % (id_, message["f"], e), file=sys.stderr, flush=True)
                _send({"type": "info", "id": id_, "error": "%s: %s" % (type(e).__name__, e)})
        elif kind == "close":
            break
