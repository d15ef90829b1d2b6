#!/usr/bin/env bash
# Runs the service in one role as `node` itself: this script execs node, so the PID a process manager (systemd,
# supervisord, a container runtime) started is node's, and its SIGTERM drains the service. `npm start` runs this
# too, but npm does not pass SIGTERM on to its child: under a process manager, run this script, not npm.
#
#   scripts/start.sh [all|ingress|worker]
#
# The role: the argument; without one, SERVICE_ROLE from the environment, else from the .env file the service reads
# (.env in the working directory, or DOTENV_CONFIG_PATH's), else all.
#
# It runs in the caller's working directory (no cd): a process manager's WorkingDirectory= holds the configuration,
# and relative paths in it (ROUTES_FILE=./routes.yaml, PROVIDERS_FILE, DOTENV_CONFIG_PATH, .env) are read from there,
# as with node itself. The npm scripts run in the repository (npm's doing), so they read the repository's .env. `npm start` passes `all` (and start:ingress / start:worker their
# role), so a SERVICE_ROLE in .env changes what this script runs, never what `npm start` runs.
#
# Builds dist/ first only when the sources changed since the last build (scripts/build-if-stale.sh). Two roles run
# side by side on one machine from the README's commands: the worker listens on 3001 unless PORT is set (in the
# environment or .env; the ingress and the all-in-one process keep PORT's default, 3000).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# The last NAME=value line of the .env file, unquoted (dotenv's syntax, as far as a role or a port needs it).
dotenv_value() {
  local file="${DOTENV_CONFIG_PATH:-.env}"
  [ -r "$file" ] || return 0
  sed -n -E "s/^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=[[:space:]]*(\"([^\"]*)\"|'([^']*)'|([^#[:space:]]*)).*$/\3\4\5/p" "$file" | tail -n 1
}

role="${1:-${SERVICE_ROLE:-$(dotenv_value SERVICE_ROLE)}}"
# Blanks around it are ignored, as the service's configuration ignores them (SERVICE_ROLE=" worker" is worker).
role="$(printf '%s' "$role" | sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//')"
role="${role:-all}"
case "$role" in
  all | ingress | worker) ;;
  *) echo "scripts/start.sh: role must be all, ingress or worker (got '$role')" >&2; exit 64 ;;
esac
bash "$root/scripts/build-if-stale.sh"
if [ "$role" = worker ] && [ -z "${PORT:-}" ] && [ -z "$(dotenv_value PORT)" ]; then export PORT=3001; fi
export SERVICE_ROLE="$role"
node_bin="$(bash "$root/scripts/install-node.sh")"
# --import takes a module specifier, which is a URL: a path given as is stops at a '#' in the repository's path (read
# as a fragment) and fails on a '%' (read as an escape), so the start failed with ERR_MODULE_NOT_FOUND for a
# repository in /srv/app#2 or /opt/100%. Node's own pathToFileURL escapes it; the entry point is a path, not a URL.
instrumentation_url="$("$node_bin/node" -p 'require("node:url").pathToFileURL(process.argv[1]).href' "$root/dist/services/shared/telemetry/instrumentation.js")"
exec "$node_bin/node" --max-semi-space-size=16 --max-old-space-size=256 \
  --import "$instrumentation_url" "$root/dist/services/main.js"
