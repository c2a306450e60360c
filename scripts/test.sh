#!/usr/bin/env bash
# Builds everything and runs every test: GoogleTest and the end-to-end CLI checks through CTest, then the Python
# package (`pip install .`) and its pytest suite, including the report opened in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh test
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j 2
ctest --test-dir build --output-on-failure -j 2
CMAKE_BUILD_PARALLEL_LEVEL=2 "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  --no-build-isolation .
# Run from tests/python's parent with the source tree off sys.path, so the installed package is what is tested.
TMS_REQUIRE_BROWSER=1 "$PYTHON" -m pytest tests/python -q -p no:cacheprovider
