#!/usr/bin/env bash
# Runs Node.js 24 with the given arguments: the machine's node when it is 24+, else the copy that
# scripts/install-node.sh puts in .tools/node (from the npm registry). npm scripts start the service through
# this, so `npm start` and `npm test` work on a machine whose system Node is older.
set -euo pipefail
bin_dir="$(bash "$(dirname "$0")/install-node.sh")"
exec "$bin_dir/node" "$@"
