# Ready when this node serves: the primary accepts connections and (with synchronous
# replication) sees the quorum of replicas streaming; a replica is in recovery, streaming
# from the primary.
q() { timeout 2 psql -h 127.0.0.1 -p "$FAULTLINE_PORT_POSTGRES" -U postgres -tAc "$1"; }
if [ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ]; then
  [ "$(q 'SELECT pg_is_in_recovery()')" = f ] || exit 1
  [ "$(q "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" -ge $((FAULTLINE_NODE_COUNT - 1)) ]
else
  [ "$(q 'SELECT pg_is_in_recovery()')" = t ] || exit 1
  [ "$(q "SELECT status FROM pg_stat_wal_receiver")" = streaming ]
fi
