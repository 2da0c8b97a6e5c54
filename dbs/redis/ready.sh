# Ready when this node serves (the primary answers PING, a replica's link is up) and its
# Sentinel knows every replica and every other Sentinel: a Sentinel that has not seen a
# replica could never fail over to it once the primary dies.
others=$((FAULTLINE_NODE_COUNT - 1))
s=$FAULTLINE_PORT_SENTINEL
[ "$(redis-cli -p "$s" sentinel replicas faultline | grep -cx name)" -ge "$others" ] || exit 1
[ "$(redis-cli -p "$s" sentinel sentinels faultline | grep -cx name)" -ge "$others" ] || exit 1
if [ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ]; then
  [ "$(redis-cli -p "$FAULTLINE_PORT_REDIS" ping)" = PONG ]
else
  redis-cli -p "$FAULTLINE_PORT_REDIS" info replication | grep -q '^master_link_status:up'
fi
