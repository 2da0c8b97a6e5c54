# The failover's return of an old primary (`[commands] rejoin`, run by the nemesis while the
# node is still cut off, once another node is primary): stops PostgreSQL at once and discards
# its data, so its next start (start.sh) clones the new primary and follows it. What only it
# had (acknowledged by it alone) is gone: that is the loss a test of failover should see.
. "$(dirname "$0")/env"
data=/var/lib/faultline/postgres/data
if [ -f "$data/postmaster.pid" ]; then
  setpriv --reuid=postgres --regid=postgres --init-groups \
    /usr/lib/postgresql/15/bin/pg_ctl stop -D "$data" -m immediate -w -t 20 >/dev/null || exit 1
fi
rm -rf "$data"
