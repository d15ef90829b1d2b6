#!/usr/bin/env bash
# Compiles to dist/ (npm run build) unless dist/ is newer than every source file: a start with a current build
# takes no compile step. `npm run build` stamps dist/.build-stamp when it succeeds.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=dist/.build-stamp
if [ -f "$stamp" ] && [ -z "$(find services console scripts/build-console.mjs tsconfig.json package.json package-lock.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
  exit 0
fi
echo "build-if-stale: sources changed since the last build; compiling" >&2
npm run --silent build >&2
