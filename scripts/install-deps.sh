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
  # The cluster's control plane (cluster/): etcd 3.4 for its tests, libcurl
  # for the client, OpenSSL for base64.
  etcd-server libcurl4-openssl-dev libssl-dev
  # Principals (docs/security.md): libsodium for argon2id token hashes
  # (crypto_pwhash_str) and keyed BLAKE2b; toml++ (header-only) for the
  # [[principal]] arrays of tables, which CLI11's config reader cannot read.
  libsodium-dev libtomlplusplus-dev
  # scripts/local-cluster.sh and bench scripts: JSON, HTTP, free ports.
  jq curl iproute2
  # The web console's browser test (tests/console/): Debian's Chromium,
  # driven headless by playwright-core from web/node_modules.
  chromium
)
# Node.js and npm fetch the console's uPlot and the test's playwright-core
# (web/package-lock.json). A machine that has node from elsewhere keeps it.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# The console's npm packages, exactly as web/package-lock.json pins them:
# installed again only when the lock file changed since the last install.
install_web() {
  local web
  web="$(cd "$(dirname "$0")/.." && pwd)/web"
  if ! cmp -s "$web/package-lock.json" "$web/node_modules/.hermod-installed-lock" 2>/dev/null; then
    echo "install-deps: npm ci in $web" >&2
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$web/package-lock.json" "$web/node_modules/.hermod-installed-lock"
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  install_web
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

# etcd-server's package enables a system etcd on 2379/2380 where systemd runs.
# hermod's tests start their own etcd on free ports with their own data
# directories, and a build machine needs no etcd of its own: stop it.
if [[ " ${missing[*]} " == *" etcd-server "* ]] && [ -d /run/systemd/system ]; then
  $sudo systemctl disable --now etcd || true
fi

install_web
