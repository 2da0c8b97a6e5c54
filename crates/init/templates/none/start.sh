#!/bin/sh
# The daemon's start command on a node: the first node keeps the data, the others forward to
# it. `exec` keeps the PID faultline supervises; -u so its log is written as it goes.
if [ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ]; then
  exec python3 -u "$FAULTLINE_DIR/kv.py" --port "$FAULTLINE_PORT_CLIENT"
fi
case "$FAULTLINE_FIRST_ADDRESS" in *:*) first="[$FAULTLINE_FIRST_ADDRESS]" ;; *) first="$FAULTLINE_FIRST_ADDRESS" ;; esac
exec python3 -u "$FAULTLINE_DIR/kv.py" --port "$FAULTLINE_PORT_CLIENT" \
  --forward "$first:$FAULTLINE_PORT_CLIENT"
