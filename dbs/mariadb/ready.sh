# Ready when this node serves: the primary answers and is writable; a replica answers and
# both its replication threads run.
q() { timeout 2 mariadb -h 127.0.0.1 -P "$FAULTLINE_PORT_MYSQL" -u root "$@"; }
if [ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ]; then
  [ "$(q -N -e 'SELECT @@global.read_only')" = 0 ]
else
  # With column names (no -N): \G prints each field as "Name: value".
  status=$(q -e 'SHOW SLAVE STATUS\G') || exit 1
  echo "$status" | grep -q 'Slave_IO_Running: Yes' && echo "$status" | grep -q 'Slave_SQL_Running: Yes'
fi
