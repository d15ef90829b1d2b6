#!/usr/bin/env bash
# Without a Docker engine, checks what the Dockerfile's runtime stage would hold: the same build steps (npm ci
# --ignore-scripts, tsc, npm prune --omit=dev) in a scratch copy, then only package.json, node_modules and dist/,
# run as the image runs them (migrate, then the ingress with tracing on). Catches a runtime import of a dev
# dependency, a missing file in dist/, or a start command that no longer works.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$(bash "$root/scripts/install-node.sh"):$PATH"
work="$(mktemp -d)"
db="webhooks_image_check_$$"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" postgres >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/build" "$work/runtime"
cp -r "$root/package.json" "$root/package-lock.json" "$root/tsconfig.json" "$root/services" "$root/scripts" "$root/console" "$work/build/"
(cd "$work/build" && npm ci --ignore-scripts --no-audit --no-fund --silent && npm run build --silent && npm prune --omit=dev --ignore-scripts --silent)
cp -r "$work/build/package.json" "$work/build/node_modules" "$work/build/dist" "$work/runtime/"
cd "$work/runtime"

# The image's CMD, read from the Dockerfile so this check cannot drift from it.
mapfile -t cmd < <(node -e '
  const text = require("fs").readFileSync(process.argv[1], "utf8");
  const all = [...text.matchAll(/^CMD (\[.*\])$/gm)];
  for (const arg of JSON.parse(all.at(-1)[1])) console.log(arg);' "$root/Dockerfile")

export DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$db" OTEL_SDK_DISABLED=false LOG_LEVEL=warn
node dist/services/migrate.js
port=$((20000 + RANDOM % 20000))
SERVICE_ROLE=ingress PORT=$port STRIPE_WEBHOOK_SECRET=whsec_image_check node "${cmd[@]}" &
pid=$!
for _ in $(seq 1 60); do
  if curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; then
    status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/webhooks/stripe" -H 'content-type: application/json' -d '{}')
    [ "$status" = 401 ] || { echo "runtime image check: unsigned webhook got $status, expected 401" >&2; exit 1; }
    # The console ships in dist/console: its page, and every asset the page names.
    page=$(curl -sf "http://127.0.0.1:$port/console") || { echo "runtime image check: GET /console failed" >&2; exit 1; }
    assets=$(printf '%s' "$page" | grep -o 'console/assets/[^"]*' || true)
    [ -n "$assets" ] || { echo "runtime image check: the console page names no assets" >&2; exit 1; }
    for asset in $assets; do
      curl -sf -o /dev/null "http://127.0.0.1:$port/$asset" || { echo "runtime image check: $asset is missing" >&2; exit 1; }
    done
    echo "runtime image check: production dependencies run migrate, the ingress and its console (node ${cmd[*]})"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || { echo "runtime image check: the service exited" >&2; exit 1; }
  sleep 0.5
done
echo "runtime image check: the service did not become ready" >&2
exit 1
