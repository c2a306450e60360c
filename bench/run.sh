#!/usr/bin/env bash
# The benchmark against the reference recipe in PyTorch and in JAX: installs its own dependencies (the build's,
# and PyTorch, JAX and optax for the CPU; CI installs neither peer), builds tms, then runs bench/run.py, which
# prints the comparison and writes bench/results.md. First bench/check_peers.py: a ratio against a peer only means
# something while the two peers compute the same maths, so a disagreement stops the benchmark.
# Extra arguments go to run.py (e.g. --quick, --no-science, --reps 5, --configs a, --configs abs --no-tms).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
python3 -m pip install -q --disable-pip-version-check torch==2.13.0 "jax[cpu]==0.10.2" optax==0.2.8
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target tms bench_step
python3 bench/check_peers.py
python3 bench/run.py "$@"
