#!/usr/bin/env bash
# The benchmark against the PyTorch reference recipe: installs its own dependencies (the build's, and PyTorch for
# the CPU), builds tms, then runs bench/run.py, which prints the comparison and writes bench/results.md.
# Extra arguments go to run.py (e.g. --quick, --no-science, --reps 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
python3 -m pip install -q --disable-pip-version-check torch==2.13.0
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target tms bench_step
python3 bench/run.py "$@"
