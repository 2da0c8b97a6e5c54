#!/bin/sh
# Serving, and on a replica the link to the primary is up.
[ "$(timeout 1 redis-cli -p "$FAULTLINE_PORT_REDIS" ping)" = PONG ] || exit 1
[ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ] ||
  timeout 1 redis-cli -p "$FAULTLINE_PORT_REDIS" info replication | grep -q '^master_link_status:up'
