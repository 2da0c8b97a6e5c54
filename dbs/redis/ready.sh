# Ready when this node serves (a primary answers PING, a replica's link is up) and its
# Sentinel knows every replica and every other Sentinel: a Sentinel that has not seen a
# replica could never fail over to it once the primary dies.
others=$((FAULTLINE_NODE_COUNT - 1))
s=$FAULTLINE_PORT_SENTINEL
[ "$(redis-cli -p "$s" sentinel replicas faultline | grep -cx name)" -ge "$others" ] || exit 1
[ "$(redis-cli -p "$s" sentinel sentinels faultline | grep -cx name)" -ge "$others" ] || exit 1
# By the node's role now, not its place in the list: after a failover (a run of a
# --test-count series) another node is the primary and the first node a replica.
if redis-cli -p "$FAULTLINE_PORT_REDIS" info replication | grep -q '^role:master'; then
  [ "$(redis-cli -p "$FAULTLINE_PORT_REDIS" ping)" = PONG ] || exit 1
  # A primary that was cut off and replaced still says master until Sentinel turns it into
  # a replica, 8 s or more after it reappears: not settled until Sentinel names it.
  named=$(redis-cli -p "$s" sentinel get-master-addr-by-name faultline | head -n 1)
  [ "$named" = "$FAULTLINE_ADDRESS" ]
else
  redis-cli -p "$FAULTLINE_PORT_REDIS" info replication | grep -q '^master_link_status:up'
fi
