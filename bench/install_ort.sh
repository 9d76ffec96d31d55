#!/usr/bin/env bash
# Idempotently install onnxruntime-node (CPU build, bundled in the npm package)
# into build/ort for the peer-measurement harness bench/ort_run.js.
#
# Usage: bench/install_ort.sh        (from any directory)
# Silent when the pinned version is already installed; non-zero exit with a
# message on stderr on failure.
set -euo pipefail

ORT_VERSION="1.30.0"   # pinned; verified on Node 20 (linux x64, CPU EP)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="$ROOT/build/ort"
PKG="$PREFIX/node_modules/onnxruntime-node"

die() { echo "install_ort.sh: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found in PATH (Node.js >= 18 required)"
command -v npm  >/dev/null 2>&1 || die "npm not found in PATH"

# Already installed at the pinned version and loadable? Then do nothing.
installed_ok() {
  [ -f "$PKG/package.json" ] || return 1
  node -e '
    const [pkg, want] = process.argv.slice(1);
    const v = require(pkg + "/package.json").version;
    if (v !== want) process.exit(1);
    require(pkg);
  ' "$PKG" "$ORT_VERSION" >/dev/null 2>&1
}

if installed_ok; then
  exit 0
fi

mkdir -p "$PREFIX"
log="$PREFIX/install.log"
# ONNXRUNTIME_NODE_INSTALL=skip: the package's postinstall would otherwise try
# to download extra (GPU) binaries from outside the npm registry. The CPU
# runtime (libonnxruntime.so + N-API binding) is bundled in the npm tarball.
if ! ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$PREFIX" --no-audit --no-fund \
      --save-exact "onnxruntime-node@$ORT_VERSION" >"$log" 2>&1; then
  cat "$log" >&2
  die "npm install of onnxruntime-node@$ORT_VERSION into $PREFIX failed (log: $log)"
fi

if ! installed_ok; then
  cat "$log" >&2
  node -e 'require(process.argv[1])' "$PKG" >&2 || true
  die "onnxruntime-node@$ORT_VERSION installed into $PREFIX but cannot be loaded"
fi
