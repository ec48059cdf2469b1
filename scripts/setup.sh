#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking Sluice needs.
# Safe to run again: packages already present are left as they are.
set -euo pipefail

packages=(
    build-essential cmake ninja-build clang-format ccache
    libboost-dev libboost-system-dev libfmt-dev
    flatbuffers-compiler libflatbuffers-dev doctest-dev
    # The fuzz build: clang, libFuzzer and the sanitizer runtimes, llvm-symbolizer for reports.
    clang-16 libclang-rt-16-dev llvm-16
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all packages present"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
