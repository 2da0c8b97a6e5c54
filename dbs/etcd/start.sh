# Runs one etcd member in the foreground; --initial-cluster lists every node (or, for a
# member added back by members.sh join, the cluster it joins). Arguments
# are passed on to etcd (etcd-no-fsync adds --unsafe-no-fsync).
url() { case "$1" in *:*) echo "http://[$1]:$2" ;; *) echo "http://$1:$2" ;; esac; }
for na in $FAULTLINE_NODE_ADDRESSES; do
  cluster="${cluster:+$cluster,}${na%%=*}=$(url "${na#*=}" "$FAULTLINE_PORT_PEER")"
done
state=new
# A member added back by members.sh join starts with the cluster as it is now.
if [ -s "$FAULTLINE_DIR/initial-cluster" ]; then
  cluster=$(cat "$FAULTLINE_DIR/initial-cluster")
  state=existing
fi
exec etcd --name "$FAULTLINE_NODE" --data-dir /var/lib/faultline/etcd \
  --listen-client-urls "http://0.0.0.0:$FAULTLINE_PORT_CLIENT" \
  --advertise-client-urls "$(url "$FAULTLINE_ADDRESS" "$FAULTLINE_PORT_CLIENT")" \
  --listen-peer-urls "http://0.0.0.0:$FAULTLINE_PORT_PEER" \
  --initial-advertise-peer-urls "$(url "$FAULTLINE_ADDRESS" "$FAULTLINE_PORT_PEER")" \
  --initial-cluster "$cluster" --initial-cluster-state "$state" \
  --initial-cluster-token faultline --logger zap "$@"
