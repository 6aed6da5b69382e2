#!/usr/bin/env bash
# Installs the Debian 12 packages hermod builds, tests and benchmarks with.
# Installs only what is missing, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libuv1-dev liblmdb-dev lmdb-utils
  libflatbuffers-dev flatbuffers-compiler
  libcli11-dev libspdlog-dev libhttp-parser-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libhiredis-dev
  libxxhash-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
