# Runs PostgreSQL in the foreground as the postgres user. A replica with no data yet (or an
# old primary that rejoin.sh retired) waits for the primary and clones it (pg_basebackup -R
# writes standby.signal and the connection to the primary, named after this node for
# synchronous replication).
set -e
bin=/usr/lib/postgresql/15/bin
data=/var/lib/faultline/postgres/data
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"
mkdir -p /var/lib/faultline/postgres
cd /var/lib/faultline/postgres
# The primary: the other node that answers and is not in recovery (the first node at the
# cluster's start; after a failover, the promoted one).
primary() {
  for na in $FAULTLINE_NODE_ADDRESSES; do
    [ "${na%%=*}" = "$FAULTLINE_NODE" ] && continue
    a=${na#*=}
    r=$(timeout 2 psql -h "$a" -p "$FAULTLINE_PORT_POSTGRES" -U postgres -tAc 'SELECT pg_is_in_recovery()' 2>/dev/null || true)
    [ "$r" = f ] && { echo "$a"; return 0; }
  done
  return 0
}
if [ ! -f "$data/PG_VERSION" ]; then
  from=$(primary)
  until [ -n "$from" ]; do sleep 0.5; from=$(primary); done
  rm -rf "$data"
  $as_postgres "$bin/pg_basebackup" -h "$from" -p "$FAULTLINE_PORT_POSTGRES" \
    -U postgres -D "$data" -R -X stream -c fast
  # Named after this node: synchronous_standby_names lists the replicas by these names.
  echo "primary_conninfo = 'host=$from port=$FAULTLINE_PORT_POSTGRES user=postgres application_name=$FAULTLINE_NODE'" \
    >> "$data/postgresql.auto.conf"
fi
exec $as_postgres "$bin/postgres" -D "$data"
