# Exits 0 when this member is the Raft leader (its member_id equals the leader it reports),
# 1 when it is not, 2 when etcd did not answer (cannot tell).
s=$(ETCDCTL_API=3 etcdctl --endpoints="http://127.0.0.1:$FAULTLINE_PORT_CLIENT" \
  --dial-timeout=1s --command-timeout=2s endpoint status -w json) || exit 2
m=$(printf '%s' "$s" | grep -o '"member_id":[0-9]*' | head -n 1 | cut -d: -f2)
l=$(printf '%s' "$s" | grep -o '"leader":[0-9]*' | head -n 1 | cut -d: -f2)
[ -n "$m" ] && [ "$m" = "$l" ]
