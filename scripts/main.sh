#!/usr/bin/env bash
# The main job: builds the C++ program and the Python package (`pip install .`: `import tms` and the `tms`
# command), then reproduces the excerpt's basic experiment (n=20, m=5, I=0.7^i; the linear and the ReLU output
# model at 1-S = 1 ... 0.001) into tms-output/basic: run folders, the paper's figures and report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j 2
CMAKE_BUILD_PARALLEL_LEVEL=2 "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  --no-build-isolation .
"$PYTHON" -m tms reproduce basic --out tms-output/basic
echo "Open the report: file://$PWD/tms-output/basic/report.html"
