# Makes this replica the primary (failover): run it on the node to promote, e.g.
#   faultline cluster exec n2 -- sh /var/lib/faultline/db/postgres/promote.sh
# Clients with primary = "query" find it on their next connection. The old primary, if it
# comes back, is a second primary: nothing fences it (that is what a test should see).
. "$(dirname "$0")/env"
timeout 10 psql -h 127.0.0.1 -p "$FAULTLINE_PORT_POSTGRES" -U postgres -tAc 'SELECT pg_promote(true, 8)' | grep -qx t
