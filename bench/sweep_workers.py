"""tms sweep's throughput on a Dask cluster of 1, 2 and 4 local workers (a `dask scheduler` and `dask worker`
processes on loopback, one thread each, every shard trained on one thread), beside `--scheduler local` (no Dask:
one shard after another on all cores) and a plain `tms train` of the whole grid: models per second for the same
grid, the merge included.

Usage: python bench/sweep_workers.py [--models 16384] [--steps 2000] [--shards 16] [--workers 1,2,4] [--out FILE]
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import tms


def grid(models: int, steps: int) -> dict:
    side = max(1, int(round(math.sqrt(models / 16))))
    return dict(model="relu", features=2, hidden=1, steps=steps, restarts=16, loss_curve_points=0,
                density=[float(v) for v in np.geomspace(1.0, 0.01, side)],
                importances=[[1.0, float(r)] for r in np.geomspace(0.1, 10.0, side)])


def cluster(workers: int, work: str):
    scheduler_file = os.path.join(work, f"scheduler-{workers}.json")
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", scheduler_file], **quiet)]
    while not os.path.exists(scheduler_file):
        time.sleep(0.1)
    address = json.load(open(scheduler_file))["address"]
    procs += [subprocess.Popen(["dask", "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                                "--no-dashboard"], **quiet) for _ in range(workers)]
    from distributed import Client

    client = Client(address, timeout="30s")
    client.wait_for_workers(workers, timeout=60)
    return client, procs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=16384)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    settings = grid(a.models, a.steps)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tms-sweep-bench-") as work:
        start = time.monotonic()
        run = tms.train(**settings)
        K = run.K
        rows.append(("tms train (one process, all cores)", time.monotonic() - start))
        start = time.monotonic()
        tms.sweep(os.path.join(work, "local"), shards=a.shards, progress=False, **settings)
        rows.append((f"tms sweep --scheduler local ({a.shards} shards, all cores each)", time.monotonic() - start))
        for w in (int(v) for v in a.workers.split(",")):
            client, procs = cluster(w, work)
            try:
                start = time.monotonic()
                tms.sweep(os.path.join(work, f"dask{w}"), shards=a.shards, client=client, progress=False,
                          **{**settings, "threads": 1})
                rows.append((f"tms sweep on Dask, {w} worker{'s' if w > 1 else ''} × 1 thread ({a.shards} shards)",
                             time.monotonic() - start))
            finally:
                client.close()
                for p in procs:
                    p.kill()
                    p.wait()
    lines = [f"Sweep throughput (`python bench/sweep_workers.py --models {a.models} --steps {a.steps} --shards "
             f"{a.shards} --workers {a.workers}`, {datetime.date.today()}, {os.cpu_count()} cores): the n = 2, m = 1 "
             f"grid of {K:,} models, {a.steps:,} steps, merge included.", "",
             "| how | time | models/s |", "|---|---|---|"]
    lines += [f"| {name} | {secs:.1f} s | {K / secs:,.0f} |" for name, secs in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        open(a.out, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
