# Runs PostgreSQL in the foreground as the postgres user. A replica with no data yet waits
# for the primary and clones it (pg_basebackup -R writes standby.signal and the
# connection to the primary, named after this node for synchronous replication).
set -e
bin=/usr/lib/postgresql/15/bin
data=/var/lib/faultline/postgres/data
as_postgres="setpriv --reuid=postgres --regid=postgres --init-groups"
mkdir -p /var/lib/faultline/postgres
cd /var/lib/faultline/postgres
if [ ! -f "$data/PG_VERSION" ]; then
  until pg_isready -q -h "$FAULTLINE_FIRST_ADDRESS" -p "$FAULTLINE_PORT_POSTGRES"; do sleep 0.5; done
  rm -rf "$data"
  $as_postgres "$bin/pg_basebackup" -h "$FAULTLINE_FIRST_ADDRESS" -p "$FAULTLINE_PORT_POSTGRES" \
    -U postgres -D "$data" -R -X stream -c fast
  # Named after this node: synchronous_standby_names lists the replicas by these names.
  echo "primary_conninfo = 'host=$FAULTLINE_FIRST_ADDRESS port=$FAULTLINE_PORT_POSTGRES user=postgres application_name=$FAULTLINE_NODE'" \
    >> "$data/postgresql.auto.conf"
fi
exec $as_postgres "$bin/postgres" -D "$data"
