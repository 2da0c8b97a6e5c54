# Writes my.cnf and init.sql and creates the data directory. Every node runs the Galera
# provider with the whole cluster as its peers; init.sql runs at every start, locally
# (wsrep_on off for it): root may log in from anywhere without a password (the test network
# is trusted) and the database `faultline` exists.
set -e
base=/var/lib/faultline/mariadb
peers=""
for na in $FAULTLINE_NODE_ADDRESSES; do
  peers="$peers${peers:+,}${na#*=}"
done
mkdir -p "$base/data" "$base/run"
chown -R mysql:mysql "$base"
cat > "$FAULTLINE_DIR/my.cnf" <<CONF
# Written by faultline.
[mariadbd]
datadir = $base/data
socket = $base/run/mysqld.sock
pid-file = $base/run/mysqld.pid
bind-address = 0.0.0.0
port = $FAULTLINE_PORT_MYSQL
skip-name-resolve
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
innodb_flush_log_at_trx_commit = 1
max_connections = 300
init_file = $FAULTLINE_DIR/init.sql
wsrep_on = ON
wsrep_provider = /usr/lib/galera/libgalera_smm.so
wsrep_cluster_name = faultline
wsrep_cluster_address = gcomm://$peers
wsrep_node_address = $FAULTLINE_ADDRESS
wsrep_node_name = $FAULTLINE_NODE
wsrep_provider_options = "gmcast.listen_addr=tcp://0.0.0.0:$FAULTLINE_PORT_GALERA"
wsrep_sst_method = rsync
CONF
{
  echo "SET SESSION wsrep_on = OFF;"
  echo "SET sql_log_bin = 0;"
  echo "CREATE USER IF NOT EXISTS 'root'@'%';"
  echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
  echo "CREATE DATABASE IF NOT EXISTS faultline;"
} > "$FAULTLINE_DIR/init.sql"
mariadb-install-db --defaults-file="$FAULTLINE_DIR/my.cnf" --user=mysql \
  --auth-root-authentication-method=normal --skip-test-db >/dev/null
