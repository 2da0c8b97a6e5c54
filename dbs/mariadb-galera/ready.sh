# Ready when this node is in the primary component, synced, and sees every node.
v() {
  timeout 2 mariadb -h 127.0.0.1 -P "$FAULTLINE_PORT_MYSQL" -u root -N \
    -e "SHOW GLOBAL STATUS LIKE '$1'" | cut -f2
}
[ "$(v wsrep_ready)" = ON ] && [ "$(v wsrep_local_state_comment)" = Synced ] &&
  [ "$(v wsrep_cluster_size)" = "$FAULTLINE_NODE_COUNT" ]
