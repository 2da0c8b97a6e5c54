# Writes my.cnf and init.sql and creates the data directory. Every node logs binary logs
# with GTIDs (server_id: its place in the node list); replicas are read only and replicate
# the first node. init.sql runs at every start, unlogged: root may log in from anywhere
# without a password (the test network is trusted), the database `faultline` exists, and
# a replica (re)attaches to the primary.
set -e
base=/var/lib/faultline/mariadb
id=1
i=1
for na in $FAULTLINE_NODE_ADDRESSES; do
  [ "${na%%=*}" = "$FAULTLINE_NODE" ] && id=$i
  i=$((i + 1))
done
mkdir -p "$base/data" "$base/run"
chown -R mysql:mysql "$base"
read_only=0
[ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ] || read_only=1
cat > "$FAULTLINE_DIR/my.cnf" <<CONF
# Written by faultline.
[mariadbd]
datadir = $base/data
socket = $base/run/mysqld.sock
pid-file = $base/run/mysqld.pid
bind-address = 0.0.0.0
port = $FAULTLINE_PORT_MYSQL
skip-name-resolve
server_id = $id
log_bin = $base/data/binlog
binlog_format = ROW
log_slave_updates = ON
read_only = $read_only
innodb_flush_log_at_trx_commit = 1
sync_binlog = 1
max_connections = 300
init_file = $FAULTLINE_DIR/init.sql
CONF
{
  echo "SET sql_log_bin = 0;"
  echo "CREATE USER IF NOT EXISTS 'root'@'%';"
  echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
  echo "CREATE DATABASE IF NOT EXISTS faultline;"
  if [ "$read_only" = 1 ]; then
    echo "STOP SLAVE;"
    echo "CHANGE MASTER TO MASTER_HOST='$FAULTLINE_FIRST_ADDRESS', MASTER_PORT=$FAULTLINE_PORT_MYSQL, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;"
    echo "START SLAVE;"
  fi
} > "$FAULTLINE_DIR/init.sql"
mariadb-install-db --defaults-file="$FAULTLINE_DIR/my.cnf" --user=mysql \
  --auth-root-authentication-method=normal --skip-test-db >/dev/null
