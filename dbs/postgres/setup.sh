# Writes the PostgreSQL configuration. $1: "async" (streaming replicas, acknowledged by the
# primary alone) or "sync" (a commit waits until a quorum of replicas has applied it: with
# the primary, a majority of the nodes). The first node gets a fresh cluster (initdb); the
# others clone it when their daemon first starts (start.sh), since the primary must be up.
set -e
mode=${1:-async}
bin=/usr/lib/postgresql/15/bin
base=/var/lib/faultline/postgres
mkdir -p "$base"
chown postgres:postgres "$base"
chmod 700 "$base"
# The postgres user must be able to stand in its working directory.
cd "$base"
[ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ] || exit 0
setpriv --reuid=postgres --regid=postgres --init-groups \
  "$bin/initdb" -D "$base/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
# Every node is named: after a failover another node is the primary, and a node never
# streams from itself, so "k of these" means k of the replicas wherever the primary is.
standbys=""
for na in $FAULTLINE_NODE_ADDRESSES; do
  standbys="$standbys${standbys:+,}\"${na%%=*}\""
done
quorum=$((FAULTLINE_NODE_COUNT / 2))
cat >> "$base/data/postgresql.conf" <<CONF
# Written by faultline.
listen_addresses = '*'
port = $FAULTLINE_PORT_POSTGRES
max_connections = 300
shared_buffers = 128MB
wal_level = replica
max_wal_senders = 10
wal_keep_size = 256MB
hot_standby = on
hot_standby_feedback = on
fsync = on
log_min_messages = warning
CONF
if [ "$mode" = sync ] && [ "$quorum" -ge 1 ]; then
  cat >> "$base/data/postgresql.conf" <<CONF
synchronous_commit = remote_apply
synchronous_standby_names = 'ANY $quorum ($standbys)'
CONF
fi
cat >> "$base/data/pg_hba.conf" <<CONF
# Written by faultline: the test network trusts everyone.
host all all 0.0.0.0/0 trust
host all all ::/0 trust
host replication all 0.0.0.0/0 trust
host replication all ::/0 trust
CONF
