# Runs MariaDB in the foreground. The first start of the first node bootstraps the cluster
# (--wsrep-new-cluster); every other start joins it: a fresh joiner first waits until the
# first node answers, a restarted node (after a kill) finds whichever peers are up.
base=/var/lib/faultline/mariadb
marker=$base/started
new=""
if [ ! -f "$marker" ]; then
  if [ "$FAULTLINE_NODE" = "$FAULTLINE_FIRST_NODE" ]; then
    new=--wsrep-new-cluster
  else
    until timeout 2 mariadb -h "$FAULTLINE_FIRST_ADDRESS" -P "$FAULTLINE_PORT_MYSQL" -u root -e 'SELECT 1' >/dev/null 2>&1; do
      sleep 0.5
    done
  fi
  touch "$marker"
fi
exec /usr/sbin/mariadbd --defaults-file="$FAULTLINE_DIR/my.cnf" --user=mysql $new
