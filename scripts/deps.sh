#!/usr/bin/env bash
# Installs the Debian packages slimbench needs to build, test and run. Needs root (apt-get).
# Usage: scripts/deps.sh [build|test|bench|fuzz]   (test and bench include the levels before
# them; fuzz is build plus clang's libFuzzer, sanitizer and OpenMP runtimes)
set -eu
level=${1:-build}
pkgs_build="gcc make pkg-config libncurses-dev libcsv-dev libprotobuf-c-dev protobuf-c-compiler
            libonnx-dev zlib1g-dev dataset-fashion-mnist"
pkgs_test="libcriterion-dev libonnx-testdata tmux clang libclang-rt-14-dev"
pkgs_bench="python3-torch python3-torchvision python3-onnx"
pkgs_fuzz="clang libclang-rt-14-dev libomp-14-dev"
want=$pkgs_build
[ "$level" = test ] && want="$want $pkgs_test"
[ "$level" = bench ] && want="$want $pkgs_test $pkgs_bench"
[ "$level" = fuzz ] && want="$want $pkgs_fuzz"

missing=()
# Node.js runs ONNX Runtime (the reference engine); any install providing node and npm will do.
if [ "$level" != build ] && [ "$level" != fuzz ] && ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "slimbench: missing Debian packages: ${missing[*]}" >&2
    echo "  run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "slimbench: installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
