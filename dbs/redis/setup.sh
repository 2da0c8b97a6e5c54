# Writes $FAULTLINE_DIR/redis.conf (every node but the first replicates the first) and sentinel.conf
# (Sentinel rewrites it as it learns; it names the replicas up front, since Sentinel would
# otherwise learn them only from the primary's INFO every 10 s and could not fail over to
# one it has not seen).
dir=/var/lib/faultline/redis
conf=$FAULTLINE_DIR
cat > "$conf/redis.conf" <<CONF
# Written by faultline.
bind 0.0.0.0
protected-mode no
port $FAULTLINE_PORT_REDIS
daemonize no
dir $dir
appendonly yes
appendfsync everysec
save ""
replica-announce-ip $FAULTLINE_ADDRESS
CONF
if [ "$FAULTLINE_NODE" != "$FAULTLINE_FIRST_NODE" ]; then
  echo "replicaof $FAULTLINE_FIRST_ADDRESS $FAULTLINE_PORT_REDIS" >> "$conf/redis.conf"
fi
cat > "$conf/sentinel.conf" <<CONF
# Written by faultline; Sentinel rewrites this file.
port $FAULTLINE_PORT_SENTINEL
bind 0.0.0.0
protected-mode no
daemonize no
dir $dir
sentinel resolve-hostnames yes
sentinel announce-ip $FAULTLINE_ADDRESS
sentinel monitor faultline $FAULTLINE_FIRST_ADDRESS $FAULTLINE_PORT_REDIS $((FAULTLINE_NODE_COUNT / 2 + 1))
sentinel down-after-milliseconds faultline 2000
sentinel failover-timeout faultline 10000
sentinel parallel-syncs faultline 1
CONF
for na in $FAULTLINE_NODE_ADDRESSES; do
  [ "${na%%=*}" = "$FAULTLINE_FIRST_NODE" ] ||
    echo "sentinel known-replica faultline ${na#*=} $FAULTLINE_PORT_REDIS" >> "$conf/sentinel.conf"
done
