#!/usr/bin/env bash
# Installs the Debian packages trailguard needs, only those missing, and the
# pinned ccxt (npm) for the conformance test. Headless Chromium renders the
# diagnose HTML page in tests/test_diag_report.c; promtool (prometheus)
# checks /metrics; python3-jsonschema validates the diagnose reports.
# Runs as root (the project's machines do); otherwise uses sudo if present.
set -euo pipefail

packages=(cmake make gcc pkg-config libcmocka-dev clang clang-format libsqlite3-dev sqlite3 libpq-dev
          postgresql libcurl4-openssl-dev libuv1-dev libwebsockets-dev libcjson-dev libssl-dev
          libinih-dev libmicrohttpd-dev libsystemd-dev prometheus python3-jsonschema chromium)
if [ "${1:-}" = "--fuzz" ]; then
  packages+=(libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js runs the ccxt conformance test only; a machine may have it from
# elsewhere than Debian (with its own npm), which is as good.
optional=()
command -v node >/dev/null 2>&1 || optional+=(nodejs)
command -v npm >/dev/null 2>&1 || optional+=(npm)

sudo=""
if [ ${#missing[@]} -gt 0 ] || [ ${#optional[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 ||
      { echo "need root (or sudo) to install: ${missing[*]} ${optional[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null || $sudo apt-get update
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing missing Debian packages: ${missing[*]}" >&2
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#optional[@]} -gt 0 ]; then
  echo "installing ${optional[*]} for the ccxt conformance test" >&2
  $sudo apt-get install -y -qq --no-install-recommends "${optional[@]}" >/dev/null ||
    echo "deps: could not install ${optional[*]}; the ccxt conformance test will be skipped" >&2
fi

# The ccxt client from npm, its version pinned in tests/ccxt/package-lock.json.
ccxt_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/ccxt"
if [ -f "$ccxt_dir/package-lock.json" ] && [ ! -d "$ccxt_dir/node_modules/ccxt" ] &&
   command -v npm >/dev/null 2>&1; then
  echo "installing ccxt for the conformance test (npm ci in tests/ccxt)" >&2
  (cd "$ccxt_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    echo "deps: npm ci failed; the ccxt conformance test will be skipped" >&2
fi
exit 0
