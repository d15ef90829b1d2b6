#!/usr/bin/env bash
# Runs the service in one role as `node` itself: this script execs node, so the PID a process manager (systemd,
# supervisord, a container runtime) started is node's, and its SIGTERM drains the service. `npm start` runs this
# too, but npm does not pass SIGTERM on to its child: under a process manager, run this script, not npm.
#
#   scripts/start.sh [all|ingress|worker]     (default: $SERVICE_ROLE, else all)
#
# Builds dist/ first only when the sources changed since the last build (scripts/build-if-stale.sh). Two roles run
# side by side on one machine from the README's commands: the worker listens on 3001 unless PORT is set in the
# environment (the ingress and the all-in-one process keep PORT's default, 3000).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
role="${1:-${SERVICE_ROLE:-all}}"
case "$role" in
  all | ingress | worker) ;;
  *) echo "scripts/start.sh: role must be all, ingress or worker (got '$role')" >&2; exit 64 ;;
esac
bash "$root/scripts/build-if-stale.sh"
if [ "$role" = worker ] && [ -z "${PORT:-}" ]; then export PORT=3001; fi
export SERVICE_ROLE="$role"
node_bin="$(bash "$root/scripts/install-node.sh")"
cd "$root"
exec "$node_bin/node" --max-semi-space-size=16 --max-old-space-size=256 \
  --import ./dist/services/shared/telemetry/instrumentation.js dist/services/main.js
