"""A/B timing of two tms builds on the same work, alternating runs (so drift in the machine's load hits both):
the check that a refactor costs no speed.

    python3 bench/ab.py OLD_TMS NEW_TMS [--reps 5]

Each configuration is the basic sweep or one of the bench's shapes; the output is each build's median wall
time and new/old. Both builds get the same arguments, threads and output folders in a temporary directory.
"""
import argparse
import statistics
import subprocess
import tempfile
import time

CONFIGS = {
    "basic n20 m5 (7 densities)": ["-n", "20", "-m", "5", "--steps", "3000"],
    "n2 m1 phase grid (20 densities x 20 restarts)": [
        "-n", "2", "-m", "1", "--density", ",".join(f"{10 ** (-2 * i / 19):.6g}" for i in range(20)),
        "--restarts", "20", "--steps", "2000"],
    "n400 m30 (6 densities)": ["-n", "400", "-m", "30", "--importance", "1",
                                "--density", "1,0.3,0.1,0.03,0.01,0.003", "--steps", "300"],
    "relu-hidden n10 m5 (8 densities x 20 restarts)": [
        "--model", "relu-hidden", "-n", "10", "-m", "5", "--importance", "0.75",
        "--density", "1,0.5,0.3,0.2,0.1,0.05,0.03,0.01", "--restarts", "20", "--steps", "1000"],
}


def wall(tms: str, args: list, out: str) -> float:
    start = time.perf_counter()
    subprocess.run([tms, "train", *args, "--quiet", "--overwrite", "--out", out], check=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in CONFIGS.items():
            times = {"old": [], "new": []}
            for rep in range(a.reps):
                order = ("old", "new") if rep % 2 == 0 else ("new", "old")
                for which in order:
                    times[which].append(wall(getattr(a, which), args, f"{tmp}/{which}"))
            old, new = statistics.median(times["old"]), statistics.median(times["new"])
            print(f"{name}: old {old:.3f} s, new {new:.3f} s, new/old {new / old:.3f}", flush=True)


if __name__ == "__main__":
    main()
