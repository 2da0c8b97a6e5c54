#!/bin/sh
# Runs one member in the foreground; `exec` keeps the PID faultline supervises.
# --initial-cluster lists every node, built from faultline's FAULTLINE_NODE_ADDRESSES.
url() { case "$1" in *:*) echo "http://[$1]:$2" ;; *) echo "http://$1:$2" ;; esac; }
for na in $FAULTLINE_NODE_ADDRESSES; do
  cluster="${cluster:+$cluster,}${na%%=*}=$(url "${na#*=}" "$FAULTLINE_PORT_PEER")"
done
exec etcd --name "$FAULTLINE_NODE" --data-dir "/var/lib/$FAULTLINE_DB" \
  --listen-client-urls "http://0.0.0.0:$FAULTLINE_PORT_CLIENT" \
  --advertise-client-urls "$(url "$FAULTLINE_ADDRESS" "$FAULTLINE_PORT_CLIENT")" \
  --listen-peer-urls "http://0.0.0.0:$FAULTLINE_PORT_PEER" \
  --initial-advertise-peer-urls "$(url "$FAULTLINE_ADDRESS" "$FAULTLINE_PORT_PEER")" \
  --initial-cluster "$cluster" --initial-cluster-state new \
  --initial-cluster-token "$FAULTLINE_DB" --logger zap
