#!/usr/bin/env bash
# Installs what postbackd needs on a fresh Debian 12 machine (run as root), and starts a
# journald when none is running, so the tests can read back what the daemon logs.
# Safe to run again: packages already present are kept, a running journald is left alone.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

packages=(libcurl4-openssl-dev libsystemd-dev libhiredis-dev redis-server pkg-config systemd nginx-light wrk iproute2 curl python3 openssl libssl-dev)
# `scripts/setup.sh --packaging`: also the tools of scripts/package.sh (dpkg-deb, dpkg-shlibdeps,
# lintian), scripts/systemd-boot-test.sh (debootstrap, systemd-nspawn) and promtool (prometheus).
packaging_packages=(dpkg-dev lintian debootstrap systemd-container prometheus)
if [ "${1:-}" = --packaging ]; then packages+=("${packaging_packages[@]}"); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -x "$here/.ci/start-journald.sh" ]; then
  bash "$here/.ci/start-journald.sh"
fi
echo "setup: ready"
