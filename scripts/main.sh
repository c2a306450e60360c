#!/usr/bin/env bash
# The main job: builds the engine once, as the Python package (`pip install .`: the C++ core as the extension
# tms._tms, `import tms` and the `tms` command; no test suite, no benchmarks), then reproduces the excerpt's basic
# experiment (n=20, m=5, I=0.7^i; the linear and the ReLU output model at 1-S = 1 ... 0.001) into
# tms-output/basic: run folders, the paper's figures and report.html. Run again, it replaces that output.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh main
CMAKE_BUILD_PARALLEL_LEVEL=2 "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore \
  --no-build-isolation .
"$PYTHON" -m tms reproduce basic --out tms-output/basic --overwrite
echo "Open the report: file://$PWD/tms-output/basic/report.html"
