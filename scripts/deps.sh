#!/usr/bin/env bash
# Installs the Debian packages trailguard needs, only those missing.
# Runs as root (the project's machines do); otherwise uses sudo if present.
set -euo pipefail

packages=(cmake make gcc pkg-config libcmocka-dev clang clang-format libsqlite3-dev sqlite3 libpq-dev
          postgresql libcurl4-openssl-dev libuv1-dev libwebsockets-dev libcjson-dev libssl-dev)
if [ "${1:-}" = "--fuzz" ]; then
  packages+=(libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js runs the ccxt conformance test; a machine may have it from
# elsewhere than Debian (with its own npm), which is as good.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
install_ccxt() {
  # The ccxt conformance test (tests/ccxt) runs the ccxt client from npm
  # against the emulator; its version is pinned in package-lock.json.
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/ccxt"
  if [ -f "$dir/package-lock.json" ] && [ ! -d "$dir/node_modules/ccxt" ] && command -v npm >/dev/null 2>&1; then
    echo "installing ccxt for the conformance test (npm ci in tests/ccxt)" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
      echo "deps: npm ci failed; the ccxt conformance test will be skipped" >&2
  fi
}

if [ ${#missing[@]} -eq 0 ]; then
  install_ccxt
  exit 0
fi

echo "installing missing Debian packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null || $sudo apt-get update
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
install_ccxt
