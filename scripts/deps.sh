#!/usr/bin/env bash
# Installs what tms needs on a fresh Debian bookworm machine (run as root, or with sudo): the C++ libraries and
# tools from apt and the Python packages from PyPI. Skips apt-get when every package is already there.
#
#   source scripts/deps.sh main   what the main job needs: the engine's build and the package's dependencies
#   source scripts/deps.sh test   also GoogleTest, Chromium (the report's browser test) and the test packages
#
# Sourced by scripts/main.sh and scripts/test.sh, it also sets PYTHON: the interpreter the package is installed
# into. That is the active virtual environment or python3 itself, unless python3 is an externally managed
# system Python (Debian's), in which case it is .venv/bin/python (created here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
deps_for="${1:-test}"

apt_packages=(build-essential cmake pkg-config libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
              librandom123-dev libzip-dev zlib1g-dev python3 python3-dev python3-venv python3-pip
              fonts-dejavu-core)
pip_packages=("scikit-build-core>=0.10" "nanobind>=2.0" numpy matplotlib)
if [ "$deps_for" = test ]; then
  apt_packages+=(libgtest-dev chromium openssl)
  # pandas, tqdm and Dask are optional for users (tables, progress bars, tms sweep on a cluster); the tests
  # cover them (the sweep tests start a Dask scheduler and workers on loopback).
  pip_packages+=(pytest pytest-timeout pillow pandas tqdm "dask[distributed]")
fi
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=python3
if python3 - <<'PY'
import os, sys, sysconfig
in_venv = sys.prefix != sys.base_prefix
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
sys.exit(0 if managed and not in_venv else 1)
PY
then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  PYTHON="$PWD/.venv/bin/python"
fi
# Build requirements (the package is installed with --no-build-isolation), and for tests the test packages.
"$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore "${pip_packages[@]}"
export PYTHON
