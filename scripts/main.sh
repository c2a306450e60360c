#!/usr/bin/env bash
# The main job on its built-in default: the excerpt's basic experiment (n=20, m=5, I=0.7^i), the linear model
# and the ReLU output model across densities 1 ... 0.001, written to runs/basic-*.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
./build/tms train --model linear --out runs/basic-linear
./build/tms train --model relu --out runs/basic-relu
./build/tms analyze runs/basic-linear
./build/tms analyze runs/basic-relu
