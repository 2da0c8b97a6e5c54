# The failover's promotion (`[commands] promote`, which the nemesis runs on the replica
# furthest ahead when a partition isolates the primary; by hand:
#   faultline cluster exec n2 -- sh /var/lib/faultline/db/postgres/promote.sh).
# Promotes this replica, then points every other replica it reaches at it (primary_conninfo
# reloads without a restart; they follow its new timeline). Clients with primary = "query"
# find it on their next connection. The old primary, cut off, is a second primary to whoever
# still reaches it until `rejoin.sh` retires it: nothing else fences it.
. "$(dirname "$0")/env"
q() { timeout 2 psql -h "$1" -p "$FAULTLINE_PORT_POSTGRES" -U postgres -tAc "$2" 2>/dev/null; }
timeout 10 psql -h 127.0.0.1 -p "$FAULTLINE_PORT_POSTGRES" -U postgres -tAc 'SELECT pg_promote(true, 8)' | grep -qx t || exit 1
me=""
for na in $FAULTLINE_NODE_ADDRESSES; do
  [ "${na%%=*}" = "$FAULTLINE_NODE" ] && me=${na#*=}
done
for na in $FAULTLINE_NODE_ADDRESSES; do
  n=${na%%=*}
  a=${na#*=}
  [ "$n" = "$FAULTLINE_NODE" ] && continue
  [ "$(q "$a" 'SELECT pg_is_in_recovery()')" = t ] || continue
  q "$a" "ALTER SYSTEM SET primary_conninfo = 'host=$me port=$FAULTLINE_PORT_POSTGRES user=postgres application_name=$n'" >/dev/null
  q "$a" 'SELECT pg_reload_conf()' >/dev/null
done
exit 0
