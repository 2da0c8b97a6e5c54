#!/bin/sh
# faultline node init: run by tini as the container's main process.
# Fresh host keys per container (the image ships none), the per-cluster public key from
# $FAULTLINE_AUTHORIZED_KEY, a zero clock offset, then sshd in the foreground.
set -eu
mkdir -p /run/sshd /root/.ssh /var/lib/faultline/run /var/log/faultline
chmod 700 /root/.ssh
[ -e /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
if [ -n "${FAULTLINE_AUTHORIZED_KEY:-}" ]; then
    printf '%s\n' "$FAULTLINE_AUTHORIZED_KEY" > /root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
fi
[ -e /var/lib/faultline/clock-offset ] || echo 0 > /var/lib/faultline/clock-offset
exec /usr/sbin/sshd -D -e
