#!/bin/sh
# Runs once on every node before the daemons start, as root, with faultline's environment
# (FAULTLINE_NODE, FAULTLINE_ADDRESS, FAULTLINE_PORT_*, ...; docs/db-definition.md).
# The example system keeps its data in memory and needs nothing here.
set -e
mkdir -p "/var/lib/$FAULTLINE_DB"
{{package_setup}}
