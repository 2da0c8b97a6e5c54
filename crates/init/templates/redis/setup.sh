#!/bin/sh
# Runs once on every node before the daemons start, as root, with faultline's environment
# (FAULTLINE_NODE, FAULTLINE_ADDRESS, FAULTLINE_PORT_*, ...; docs/db-definition.md).
# Writes redis.conf: every node but the first replicates the first.
set -e
mkdir -p "/var/lib/$FAULTLINE_DB"
cat > "$FAULTLINE_DIR/redis.conf" <<CONF
bind 0.0.0.0
protected-mode no
port $FAULTLINE_PORT_REDIS
dir /var/lib/$FAULTLINE_DB
appendonly yes
replica-announce-ip $FAULTLINE_ADDRESS
CONF
[ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ] ||
  echo "replicaof $FAULTLINE_FIRST_ADDRESS $FAULTLINE_PORT_REDIS" >> "$FAULTLINE_DIR/redis.conf"
{{package_setup}}
