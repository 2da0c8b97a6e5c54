# redis.conf: every node but the first replicates the first.
cat > "$FAULTLINE_DIR/redis.conf" <<CONF
bind 0.0.0.0
protected-mode no
port $FAULTLINE_PORT_REDIS
dir /var/lib/redis-replicas
appendonly yes
replica-announce-ip $FAULTLINE_ADDRESS
CONF
[ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ] ||
  echo "replicaof $FAULTLINE_FIRST_ADDRESS $FAULTLINE_PORT_REDIS" >> "$FAULTLINE_DIR/redis.conf"
