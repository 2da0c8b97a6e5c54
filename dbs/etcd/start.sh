# Runs one etcd member in the foreground; --initial-cluster lists every node. Arguments
# are passed on to etcd (etcd-no-fsync adds --unsafe-no-fsync).
url() { case "$1" in *:*) echo "http://[$1]:$2" ;; *) echo "http://$1:$2" ;; esac; }
for na in $FAULTLINE_NODE_ADDRESSES; do
  cluster="${cluster:+$cluster,}${na%%=*}=$(url "${na#*=}" "$FAULTLINE_PORT_PEER")"
done
exec etcd --name "$FAULTLINE_NODE" --data-dir /var/lib/faultline/etcd \
  --listen-client-urls "http://0.0.0.0:$FAULTLINE_PORT_CLIENT" \
  --advertise-client-urls "$(url "$FAULTLINE_ADDRESS" "$FAULTLINE_PORT_CLIENT")" \
  --listen-peer-urls "http://0.0.0.0:$FAULTLINE_PORT_PEER" \
  --initial-advertise-peer-urls "$(url "$FAULTLINE_ADDRESS" "$FAULTLINE_PORT_PEER")" \
  --initial-cluster "$cluster" --initial-cluster-state new \
  --initial-cluster-token faultline --logger zap "$@"
