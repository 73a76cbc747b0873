#!/bin/sh
# Runs the service jar; JAVA_OPTS carries JVM flags. exec: the JVM is PID 1 and gets SIGTERM.
set -eu
# shellcheck disable=SC2086
exec java ${JAVA_OPTS:-} -jar /opt/distill/distill-service.jar "$@"
