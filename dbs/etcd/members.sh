# `members.sh leave` removes this node from the etcd cluster; `members.sh join` adds it back
# as a new member (its data was wiped) and leaves the cluster it must start with in
# $FAULTLINE_DIR/initial-cluster, which start.sh then uses with --initial-cluster-state
# existing. Both go through the members in $FAULTLINE_MEMBER_ADDRESSES (the cluster after
# the change) and print the member names etcd lists afterwards.
set -e
url() { case "$1" in *:*) echo "http://[$1]:$2" ;; *) echo "http://$1:$2" ;; esac; }
eps=""
for na in $FAULTLINE_MEMBER_ADDRESSES; do
  [ "${na%%=*}" = "$FAULTLINE_NODE" ] && continue
  eps="${eps:+$eps,}$(url "${na#*=}" "$FAULTLINE_PORT_CLIENT")"
done
ctl() { ETCDCTL_API=3 etcdctl --endpoints="$eps" --dial-timeout=2s --command-timeout=10s "$@"; }
peer=$(url "$FAULTLINE_ADDRESS" "$FAULTLINE_PORT_PEER")
# The member ids with this node's name or peer URL (an unstarted member has no name), or
# with `unstarted`, only those never started.
mine() {
  ctl member list | awk -F', ' -v n="$FAULTLINE_NODE" -v p="$peer" -v u="$1" \
    '($3 == n || $4 == p) && (u == "" || $3 == "") { print $1 }'
}
case "$1" in
  leave)
    ids=$(mine)
    [ -n "$ids" ] || { echo "$FAULTLINE_NODE is not an etcd member" >&2; exit 1; }
    for id in $ids; do ctl member remove "$id" >&2; done
    ;;
  join)
    # A member left over from an earlier join that never started is replaced; a started
    # one with this name means the node never left, and member add fails.
    for id in $(mine unstarted); do ctl member remove "$id" >&2; done
    out=$(ctl member add "$FAULTLINE_NODE" --peer-urls="$peer")
    printf '%s\n' "$out" | sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p' > "$FAULTLINE_DIR/initial-cluster"
    [ -s "$FAULTLINE_DIR/initial-cluster" ] || { echo "etcdctl member add printed no ETCD_INITIAL_CLUSTER: $out" >&2; exit 1; }
    ;;
  *) echo "usage: members.sh leave|join" >&2; exit 2 ;;
esac
printf 'etcd members: %s\n' "$(ctl member list | awk -F', ' '{ print ($3 == "" ? "(unstarted)" : $3) }' | sort | tr '\n' ' ')"
