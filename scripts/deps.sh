#!/usr/bin/env bash
# Installs what tms needs to build and test on a fresh Debian bookworm machine (run as root, or with sudo).
# Skips apt-get when every package is already there.
set -euo pipefail

apt_packages=(build-essential cmake pkg-config libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
              librandom123-dev libgtest-dev libzip-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check numpy
