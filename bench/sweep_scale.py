"""The phase-diagram grid at sweep scale (issue: a million models on one machine): the n = 2, m = 1 ReLU output
model over a grid of densities × importances of the second feature × restarts, at 10^4, 10^5 and 10^6 models,
trained by `tms train` with no loss curves (--curve-points 0). Each size runs in its own process; reported: wall
time, models per second, peak RSS (the process's, from wait4), RSS per model beyond the parameters and AdamW
state (4 floats of W and b, three copies: 48 bytes), and the run folder's size.

The grid is zfurman56's / ymgw55's: 1−S log-spaced over [0.01, 1], I_2 log-spaced over [0.1, 10] (I_1 = 1),
16 restarts; the density and importance axes are as long as the size needs (256 × 256 × 16 = 1,048,576).

Usage: python bench/sweep_scale.py [--build build] [--sizes 10000,100000,1000000] [--steps 10000] [--out FILE]
Writes a Markdown table to --out (default: prints only).
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

RESTARTS = 16
STATE_BYTES = 48  # W [2][1] and b [2]: 4 floats, times parameters, AdamW's two moments


def grid_toml(size: int, steps: int) -> tuple:
    side = max(1, int(round(math.sqrt(size / RESTARTS))))
    densities = np.geomspace(1.0, 0.01, side)
    ratios = np.geomspace(0.1, 10.0, side)
    lines = ["model = \"relu\"", "features = 2", "hidden = 1", f"steps = {steps}", f"restarts = {RESTARTS}",
             "loss_curve_points = 0",
             "density = [" + ", ".join(f"{d:.9g}" for d in densities) + "]",
             "importances = [" + ", ".join(f"[1.0, {r:.9g}]" for r in ratios) + "]"]
    return "\n".join(lines) + "\n", side * side * RESTARTS


def run_one(tms: str, size: int, steps: int, work: str) -> dict:
    text, K = grid_toml(size, steps)
    cfg = os.path.join(work, f"grid-{size}.toml")
    with open(cfg, "w") as f:
        f.write(text)
    out = os.path.join(work, f"run-{size}")
    start = time.monotonic()
    proc = subprocess.Popen([tms, "train", "--config", cfg, "--quiet", "--overwrite", "--out", out])
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    if status != 0:
        raise SystemExit(f"tms train failed for {K} models (status {status})")
    rss = usage.ru_maxrss * 1024
    files = {name: os.path.getsize(os.path.join(out, name)) for name in sorted(os.listdir(out))}
    shutil.rmtree(out)
    return dict(K=K, steps=steps, seconds=seconds, models_per_second=K / seconds, rss=rss,
                overhead=(rss / K) - STATE_BYTES, files=files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    tms = os.path.join(a.build, "tms")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tms-sweep-scale-") as work:
        for size in (int(s) for s in a.sizes.split(",")):
            r = run_one(tms, size, a.steps, work)
            rows.append(r)
            print(f"{r['K']:>9,} models × {r['steps']:,} steps: {r['seconds']:8.1f} s, {r['models_per_second']:9.1f} "
                  f"models/s, peak RSS {r['rss'] / 2**20:7.1f} MiB ({r['rss'] / r['K']:.0f} B per model, "
                  f"{r['overhead']:.0f} B beyond the state), files {sum(r['files'].values()) / 2**20:.1f} MiB",
                  flush=True)
    table = ["| models | steps | time | models/s | peak RSS | RSS per model | beyond params + AdamW | output |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        table.append(f"| {r['K']:,} | {r['steps']:,} | {r['seconds']:.1f} s | {r['models_per_second']:,.0f} | "
                     f"{r['rss'] / 2**20:.0f} MiB | {r['rss'] / r['K']:.0f} B | {r['overhead']:.0f} B | "
                     f"{sum(r['files'].values()) / 2**20:.1f} MiB |")
    text = (f"Sweep scale (`python bench/sweep_scale.py --sizes {a.sizes} --steps {a.steps}`, "
            f"{datetime.date.today()}): the n = 2, m = 1 phase-diagram grid, 16 restarts, no loss curves, all cores; "
            "RSS per model includes the process's fixed cost (about 5 MiB).\n\n" + "\n".join(table) + "\n")
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
