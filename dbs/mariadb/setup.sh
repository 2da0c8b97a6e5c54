# Writes my.cnf and init.sql and creates the data directory. $1: "replicas" (the default:
# every node logs binary logs with GTIDs, server_id its place in the node list; the others
# are read only and replicate the first node) or "galera" (every node runs the Galera
# provider with the whole cluster as its peers; `mariadb-galera`). init.sql runs at every
# start, unlogged and (Galera) unreplicated: root may log in from anywhere without a
# password (the test network is trusted), the database `faultline` exists, and a replica
# (re)attaches to the primary.
set -e
mode=${1:-replicas}
base=/var/lib/faultline/mariadb
id=1
i=1
peers=""
for na in $FAULTLINE_NODE_ADDRESSES; do
  [ "${na%%=*}" = "$FAULTLINE_NODE" ] && id=$i
  i=$((i + 1))
  peers="$peers${peers:+,}${na#*=}"
done
mkdir -p "$base/data" "$base/run"
chown -R mysql:mysql "$base"
read_only=0
[ "$mode" = galera ] || [ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ] || read_only=1
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
innodb_flush_log_at_trx_commit = 1
max_connections = 300
init_file = $FAULTLINE_DIR/init.sql
CONF
if [ "$mode" = galera ]; then
  cat >> "$FAULTLINE_DIR/my.cnf" <<CONF
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
wsrep_on = ON
wsrep_provider = /usr/lib/galera/libgalera_smm.so
wsrep_cluster_name = faultline
wsrep_cluster_address = gcomm://$peers
wsrep_node_address = $FAULTLINE_ADDRESS
wsrep_node_name = $FAULTLINE_NODE
wsrep_provider_options = "gmcast.listen_addr=tcp://0.0.0.0:$FAULTLINE_PORT_GALERA"
wsrep_sst_method = rsync
CONF
else
  cat >> "$FAULTLINE_DIR/my.cnf" <<CONF
server_id = $id
log_bin = $base/data/binlog
log_slave_updates = ON
read_only = $read_only
sync_binlog = 1
CONF
fi
{
  [ "$mode" = galera ] && echo "SET SESSION wsrep_on = OFF;"
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
