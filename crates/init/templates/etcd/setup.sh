#!/bin/sh
# Runs once on every node before the daemons start, as root, with faultline's environment
# (FAULTLINE_NODE, FAULTLINE_ADDRESS, FAULTLINE_PORT_*, ...; docs/db-definition.md).
# etcd needs nothing here: its configuration is on its command line (start.sh).
set -e
mkdir -p "/var/lib/$FAULTLINE_DB"
{{package_setup}}
