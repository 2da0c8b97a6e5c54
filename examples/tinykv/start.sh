#!/bin/sh
# tinykv's start command on a node (db.toml: sh $FAULTLINE_DIR/start.sh MODE). The peers list
# is faultline's FAULTLINE_NODE_ADDRESSES ("n1=addr n2=addr ...") joined by commas; `exec`
# keeps the PID faultline supervises.
for na in $FAULTLINE_NODE_ADDRESSES; do peers="${peers:+$peers,}$na"; done
exec python3 -u "$FAULTLINE_DIR/tinykv.py" --name "$FAULTLINE_NODE" \
  --port "$FAULTLINE_PORT_CLIENT" --peers "$peers" --data /var/lib/tinykv --mode "${1:-unsafe}"
