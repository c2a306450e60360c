"""tms against the reference recipe in PyTorch and in JAX, side by side, on the configurations of the performance
issues: the tied models (a-e) and the models with a privileged hidden basis, relu-hidden (f) and abs (g).

For each configuration the three run alternately (--reps times each): tms through bench_step (all cores), PyTorch
through torch_reference.py and JAX through jax_reference.py, each peer at 1 and at 2 threads every repetition, the better median reported.
Prints and writes bench/results.md: median seconds per step, the ratios, tms's peak memory, the dense part's
GFLOP/s against the measured FMA peak, and (unless --no-science) the science check: final loss and represented
features per density over 5 seeds, tms against both peers.

A partial run (--peers naming one peer, or --no-tms: the peers alone, e.g. for a model tms does not train yet)
prints its timings and writes no results.md. bench/check_peers.py checks that the peers compute the same maths.

Usage: python bench/run.py [--build build] [--reps 3] [--quick] [--no-science] [--configs a,b | relu-hidden,abs]
                           [--peers torch,jax] [--no-tms]
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from typing import NamedTuple, Optional

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def logspace(base_exp, count):
    return [base_exp(i / (count - 1)) for i in range(count)]


def fmt_list(v):
    return ",".join(f"{x:.6g}" for x in v)


class Case(NamedTuple):
    name: str
    desc: str
    n: int
    m: int
    densities: list
    importances: list  # importance bases (I_i = base^i): the importance axis
    tms_steps: int
    # The peers (PyTorch and JAX) run fewer steps than tms: their step time does not depend on the training state.
    peer_steps: int
    target: float  # the ratio tms is to reach against target_peer
    dense_target: Optional[float]  # the dense part's share of the per-core FMA peak to reach
    model: str = "relu"
    restarts: int = 1
    target_peer: str = "torch"


CONFIGS = [
    Case("a", "basic: n=20, m=5, ReLU, 7 densities 1 … 0.001", 20, 5, [1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001],
         [0.7], 10000, 300, 30, None),
    Case("b", "notebook sweep: n=100, m=20, 20 densities 20^-linspace(0,1,20)", 100, 20,
         logspace(lambda t: 20 ** -t, 20), [0.01 ** (1 / 99)], 3000, 40, 15, 0.40),
    Case("c", "uniform superposition: n=400, m=30, I=1, 20 densities", 400, 30, logspace(lambda t: 20 ** -t, 20),
         [1.0], 1000, 12, 15, 0.40),
    Case("d", "phase-diagram grid: n=2, m=1, 400 instances (20 densities x 20 relative importances)", 2, 1,
         logspace(lambda t: 10 ** (-2 * t), 20), logspace(lambda t: 10 ** (-1 + 2 * t), 20), 10000, 200, 30, None),
    Case("e", "larger model: n=1000, m=100, 8 densities 10^-linspace(0,3,8)", 1000, 100,
         logspace(lambda t: 10 ** (-3 * t), 8), [0.995], 500, 8, 15, 0.40),
    # (f) runs 3000 steps, not the 10000 of the other small models: at 10000 (peers 200) it alone took about 5
    # minutes on 2 cores (a peer's step of 160 instances costs 40-80 ms), and tms's mean step at 3000 steps is
    # within 2% of the mean at 10000 (measured: 2.32-2.38 against 2.33-2.34 ms).
    Case("f", "privileged basis (E18): relu-hidden, n=10, m=5, I=0.75^i, 160 instances (8 densities 1 … 0.01 x "
         "20 restarts)", 10, 5, [1, 0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.01], [0.75], 3000, 60, 20, None,
         model="relu-hidden", restarts=20, target_peer="jax"),
    Case("g", "computation in superposition (E19-E21): abs, n=100, m=40, I=0.8^i, 7 densities 1 … 0.001", 100, 40,
         [1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001], [0.8], 3000, 100, 10, None, model="abs", target_peer="jax"),
]

# Models that learn |x| of signed inputs, uniform on [-1, 1): tms train's default for them, given to bench_step
# explicitly all the same, so that the timing never rests on where that default is applied.
SIGNED_MODELS = {"abs"}


def run_json(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def tms_cmd(build, c, steps, threads=0):
    """bench_step takes tms train's flags for the model and the instance axis (tms train --model relu-hidden -n 10
    -m 5 --density ... --restarts 20 trains the same instances)."""
    cmd = [os.path.join(build, "bench_step"), "--model", c.model, "-n", str(c.n), "-m", str(c.m), "--density",
           fmt_list(c.densities), "--importance", fmt_list(c.importances), "--restarts", str(c.restarts),
           "--steps", str(steps), "--reps", "1", "--threads", str(threads)]
    return cmd + (["--values", "signed"] if c.model in SIGNED_MODELS else [])


PEERS = {"torch": "torch_reference.py", "jax": "jax_reference.py"}  # same command line and output
PEER_NAMES = {"torch": "PyTorch", "jax": "JAX"}


def instance_count(c):
    return len(c.densities) * len(c.importances) * c.restarts


def peer_cmd(peer, c, steps, threads):
    # The peers take one list entry per instance: tms's instance axis (density outermost, then importance,
    # restarts innermost) is folded into it. A restart is a differently initialised copy, as there.
    dens = [d for d in c.densities for _ in c.importances for _ in range(c.restarts)]
    imps = [i for _ in c.densities for i in c.importances for _ in range(c.restarts)]
    return [sys.executable, os.path.join(HERE, PEERS[peer]), "--model", c.model, "--features", str(c.n), "--hidden",
            str(c.m), "--density", fmt_list(dens), "--importance-list", fmt_list(imps), "--steps", str(steps),
            "--time-steps", str(max(1, steps - max(2, steps // 5))), "--threads", str(threads)]


def machine():
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    # The peers' versions from child processes: importing them here would bloat this process, which the
    # benchmark children are forked from.
    version = {peer: subprocess.run([sys.executable, "-c", f"import {peer}; print({peer}.__version__)"],
                                    capture_output=True, text=True).stdout.strip() for peer in PEERS}
    gcc = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "torch": version["torch"],
            "jax": version["jax"], "compiler": gcc}


def fma_peak(build):
    """The machine's fp32 FMA peak on all cores: the best of three measurements (clock speeds vary)."""
    return max(run_json([os.path.join(build, "bench_step"), "--peak-only"])["fma_peak_gflops"] for _ in range(3))


def timing(build, reps, quick, configs, peers, with_tms):
    rows = []
    peak = fma_peak(build) if with_tms else None
    for c in configs:
        tms_steps, peer_steps = c.tms_steps, c.peer_steps
        if quick:
            tms_steps, peer_steps = max(20, tms_steps // 10), max(4, peer_steps // 4)
        # Each peer runs at 1 and at 2 threads in every repetition, and its better median is reported: a probe
        # before the runs once picked 1 thread for abs's JAX under momentary load, where 2 are 1.6x faster run
        # after run.
        tms_runs, last = [], None
        peer_runs = {(peer, threads): [] for peer in peers for threads in (1, 2)}
        for _ in range(reps):  # alternate, so that machine noise hits all three
            if with_tms:
                last = run_json(tms_cmd(build, c, tms_steps))
                tms_runs.append(last["seconds_per_step"])
            for peer in peers:
                for threads in (1, 2):
                    peer_runs[(peer, threads)].append(
                        run_json(peer_cmd(peer, c, peer_steps, threads))["seconds_per_step"])
        peer_threads = {peer: min((1, 2), key=lambda t: statistics.median(peer_runs[(peer, t)])) for peer in peers}
        peer_runs = {peer: peer_runs[(peer, peer_threads[peer])] for peer in peers}
        peer_ms = {peer: statistics.median(peer_runs[peer]) * 1e3 for peer in peers}
        row = dict(name=c.name, desc=c.desc, model=c.model, K=instance_count(c), n=c.n, m=c.m, peer_ms=peer_ms,
                   peer_threads=peer_threads, peer_steps=peer_steps, target=c.target, target_peer=c.target_peer,
                   dense_target=c.dense_target, tms_steps=tms_steps, peak=peak, profiled=False)
        line = [f"({c.name}) {c.model}, K={row['K']}:"]
        if with_tms:
            row["tms_ms"] = statistics.median(tms_runs) * 1e3
            row["ratio"] = {peer: peer_ms[peer] / row["tms_ms"] for peer in peers}
            row["rss"] = last["peak_rss_mib"]
            line.append(f"tms {row['tms_ms']:.3f} ms/step ({tms_steps} steps),")
        for peer in peers:
            line.append(f"{peer} {peer_ms[peer]:.2f} ms/step ({peer_threads[peer]} threads, {peer_steps} steps)" +
                        (f": {row['ratio'][peer]:.1f}x" if with_tms else "") +
                        (f" (target {c.target}x)" if peer == c.target_peer else "") + ",")
        if with_tms and last["profiled"]:
            per_core_peak = peak / last["threads"]
            row.update(profiled=True, dense_gflops=last["dense_gflops"],
                       dense_share=last["dense_gflops"] / per_core_peak, phase=last["phase_us"],
                       one_pass=last["one_pass"], x_share=last["x_share"], g_share=last["g_share"])
            # The work floor: the five products at the sparsity of x and g (the output product is always dense),
            # at 100% of the measured FMA peak on all cores; then plus sampling at its measured cost.
            # abs (untied) takes the output, dW_out += g h^T and dh = W_out^T g dense over its non-empty samples
            # (the empty ones in closed form), h = W_in x and dW_in += x dz^T at x's sparsity.
            products = (3 * last["kept_share"] + 2 * row["x_share"] if c.model == "abs"
                        else 1 + 2 * row["x_share"] + 2 * row["g_share"])
            row["products"] = products
            row["floor_ms"] = row["K"] * 2 * last["batch"] * c.n * c.m * products / (peak * 1e9) * 1e3
            row["floor_sample_ms"] = row["floor_ms"] + row["K"] * last["phase_us"]["sample"] / last["threads"] / 1e3
            line.append(f"dense part {row['dense_gflops']:.1f} GFLOP/s per core = {100 * row['dense_share']:.0f}% "
                        "of the per-core peak;")
        elif with_tms:
            line.append("no profile (no phase clock on this path);")
        if with_tms:
            line.append(f"peak RSS {row['rss']:.1f} MiB")
        rows.append(row)
        print(" ".join(line).rstrip(",;"), flush=True)
    return rows


def agrees(a, b):
    """Two samples over seeds agree when their means differ by at most twice the larger spread."""
    return abs(statistics.mean(a) - statistics.mean(b)) <= 2 * max(statistics.stdev(a), statistics.stdev(b)) + 1e-12


def science(build, seeds, steps, configs):
    """Final loss and represented features per density, tms vs PyTorch and JAX, over several seeds."""
    out = []
    for c in configs:
        name, n, m, dens, imps = c.name, c.n, c.m, c.densities, c.importances
        tms, peers = [], {peer: [] for peer in PEERS}
        for seed in range(seeds):
            # One run folder for all seeds (and earlier benchmarks): tms refuses to replace a finished run unasked.
            subprocess.run([os.path.join(build, "tms"), "train", "-n", str(n), "-m", str(m), "--density",
                            fmt_list(dens), "--importance", f"{imps[0]:.9g}", "--steps", str(steps[name]), "--seed",
                            str(seed), "--quiet", "--overwrite", "--out", f"/tmp/tms-bench-science-{name}"], check=True)
            cols = np.load(f"/tmp/tms-bench-science-{name}/instances.npz")
            tms.append((cols["loss"].tolist(), cols["represented"].tolist()))
            for peer, script in PEERS.items():
                t = run_json([sys.executable, os.path.join(HERE, script), "--features", str(n), "--hidden", str(m),
                              "--density", fmt_list(dens), "--importance", f"{imps[0]:.9g}", "--steps",
                              str(steps[name]), "--seed", str(seed)])
                peers[peer].append((t["loss"], t["represented"]))
            print(f"science ({name}) seed {seed} done", flush=True)
        rows = []
        for k, d in enumerate(dens):
            loss = {who: [s[0][k] for s in runs] for who, runs in (("tms", tms), *peers.items())}
            represented = {who: [s[1][k] for s in runs] for who, runs in (("tms", tms), *peers.items())}
            row = dict(density=d, agree={peer: agrees(loss["tms"], loss[peer]) for peer in PEERS})
            for who in loss:
                row[f"{who}_loss"] = (statistics.mean(loss[who]), statistics.stdev(loss[who]))
                row[f"{who}_rep"] = (statistics.mean(represented[who]), statistics.stdev(represented[who]))
            rows.append(row)
        out.append((name, steps[name], rows))
    return out


def sampling(build, reps=3):
    """bench_sample: each data source filling the fast kernels' tiles at the same marginal densities (n = 100,
    B = 1024, sets of 2, one thread); the median of `reps` runs per case."""
    runs = {}
    for _ in range(reps):
        out = subprocess.run([os.path.join(build, "bench_sample"), "-n", "100", "--batches", "300"],
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            j = json.loads(line)
            runs.setdefault((j["density"], j["data"]), []).append(j)
    return [dict(density=d, data=data, us=statistics.median(r["us_per_batch"] for r in rs),
                 ns=statistics.median(r["ns_per_nonzero"] for r in rs)) for (d, data), rs in runs.items()]


def write_results(path, info, rows, sci, reps, seeds, samp=()):
    L = ["# Benchmark results", "",
         f"Produced by `python bench/run.py` on {datetime.date.today()}, {reps} alternating repetitions per "
         "configuration (medians).", "",
         f"- machine: {info['cpu']}, {info['cores']} cores; {info['compiler']}",
         f"- PyTorch {info['torch']} (CPU, eager), JAX {info['jax']} (CPU, the training loop one jit-compiled "
         f"lax.scan), Python {info['python']}; tms on all cores",
         f"- measured fp32 FMA peak: {rows[0]['peak']:.0f} GFLOP/s on {info['cores']} threads", "",
         "tms time is the mean step time of a whole training run of the listed number of steps from "
         "initialisation (the earliest steps are the most expensive: later the ReLU outputs turn sparse); "
         "the peers' step time does not depend on the training state, so a window of steps after warm-up is timed (for "
         "JAX one compiled call for the window, compilation excluded). The dense part is the output product "
         "W h + b (2 B n m flops per instance-step), timed by a per-phase profile on one core and compared with "
         "the per-core share of the FMA peak (for abs over the samples its step takes through the products: it packs "
         "a sparse batch to its non-empty samples); a configuration on the reference path has none (–). A target is the ratio to reach against the peer named.", "",
         "| config | K | tms steps | tms ms/step | PyTorch ms/step (threads) | ratio | JAX ms/step (threads) "
         "| ratio | target | tms peak RSS | dense GFLOP/s/core | % of peak | target |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dt = f"{100 * r['dense_target']:.0f}%" if r["dense_target"] else "–"
        peers = " | ".join(f"{r['peer_ms'][peer]:.2f} ({r['peer_threads'][peer]}) | **{r['ratio'][peer]:.1f}×**"
                           for peer in PEERS)
        dense = (f"{r['dense_gflops']:.0f}{'¹' if r['one_pass'] else ''} | {100 * r['dense_share']:.0f}%"
                 if r["profiled"] else "– | –")
        L.append(f"| ({r['name']}) {r['desc']} | {r['K']} | {r['tms_steps']} | {r['tms_ms']:.3f} | {peers} | "
                 f"{r['target']}× {PEER_NAMES[r['target_peer']]} | {r['rss']:.0f} MiB | {dense} | {dt} |")
    if any(r["profiled"] and r["one_pass"] for r in rows):
        L += ["", "¹ Small models (m ≤ 8, n m ≤ 256) take the whole step in one pass; there the column is all "
              "five products (10 B n m flops) over the whole step, and the phase table below shows it under "
              "output."]
    L += ["", "Per instance-step phase times of tms (µs, one core): sampling, h = W x, output + loss + gradient, "
          "backward products. The instances step as training groups them (tms::training_groups): the members of a "
          "lock-step group share each step's random words, so their sampling is the conversion of the words to "
          "tiles plus a share of one generation; an instance alone generates its words straight into its tiles.",
          "", "| config | sample | h | output | backward |", "|---|---|---|---|---|"]
    for r in filter(lambda r: r["profiled"], rows):
        p = r["phase"]
        L.append(f"| ({r['name']}) | {p['sample']:.1f} | {p['h']:.1f} | {p['output']:.1f} | {p['backward']:.1f} |")
    wide = [r for r in rows if r["profiled"] and (r["dense_target"] or r["model"] == "abs")]
    if wide:
        L += ["", "Work floor of the wide configurations: the five products of a step (h = W x, the output W h + b, "
              "dh = W^T g, dW += g h^T, dW += x dh^T; 2 B n m flops each when dense) shrink with the non-zero share "
              "of x (h and x dh^T) and of g (the other two backward products); the output product is always dense. abs "
              "(untied: W_in and W_out) takes three products dense over its non-empty samples (the output, dW_out "
              "+= g h^T, dh = W_out^T g) and two at x's sparsity (h = W_in x, dW_in += x dz^T). "
              "The shares are measured on the trained weights (profile above); the timed steps start from "
              "initialisation, where g is denser, so the true floor is higher and the ceilings lower than shown. "
              "A ceiling is a peer's step over the floor: the best ratio this algorithm could reach against it on "
              "this machine at 100% of the FMA peak, without and with tms's measured sampling cost.", "",
              "| config | x non-zero | g non-zero | dense products per step | floor at peak (ms/step) | ceiling "
              "PyTorch | ceiling JAX | + sampling (ms/step) | ceiling PyTorch | ceiling JAX | target |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in wide:
        t, j = r["peer_ms"]["torch"], r["peer_ms"]["jax"]
        L.append(f"| ({r['name']}) | {100 * r['x_share']:.1f}% | {100 * r['g_share']:.1f}% | {r['products']:.2f} | "
                 f"{r['floor_ms']:.2f} | {t / r['floor_ms']:.1f}× | {j / r['floor_ms']:.1f}× | "
                 f"{r['floor_sample_ms']:.2f} | {t / r['floor_sample_ms']:.1f}× | {j / r['floor_sample_ms']:.1f}× | "
                 f"{r['target']}× {PEER_NAMES[r['target_peer']]} |")
    if samp:
        densities = sorted({r["density"] for r in samp}, reverse=True)
        cell = {(r["density"], r["data"]): r for r in samp}
        sources = ("independent", "correlated", "anticorrelated")
        L += ["", "Sampling (bench_sample, one thread): a batch source filling the tiles of B = 1024 samples of n = "
              "100 features, at the same marginal density per feature (sets of 2; anticorrelated by ARENA's rule, "
              "each feature at 1−S, so up to 1−S = 0.5); µs per batch and ns per non-zero value.", "",
              "| 1−S | " + " | ".join(f"{s} µs/batch | ns/non-zero" for s in sources) + " |",
              "|---|" + "---|---|" * len(sources)]
        for d in densities:
            L.append(f"| {d:g} | " + " | ".join(
                f"{cell[(d, s)]['us']:.1f} | {cell[(d, s)]['ns']:.2f}" if (d, s) in cell else "– | –"
                for s in sources) + " |")
    for name, steps, srows in sci:
        L += ["", f"## Science check ({name}): {steps} steps, {seeds} seeds, mean ± sd", "",
              "Agree: tms's mean loss within twice the larger spread of the peer's.", "",
              "| 1−S | tms loss | PyTorch loss | JAX loss | tms represented | PyTorch represented | JAX represented "
              "| agree (PyTorch) | agree (JAX) |", "|---|---|---|---|---|---|---|---|---|"]
        for r in srows:
            L.append(f"| {r['density']:.4g} | " +
                     " | ".join(f"{r[f'{who}_loss'][0]:.4g} ± {r[f'{who}_loss'][1]:.2g}" for who in ("tms", *PEERS)) +
                     " | " + " | ".join(f"{r[f'{who}_rep'][0]:.1f} ± {r[f'{who}_rep'][1]:.1f}"
                                        for who in ("tms", *PEERS)) + " | " +
                     " | ".join("yes" if r["agree"][peer] else "NO" for peer in PEERS) + " |")
    open(path, "w").write("\n".join(L) + "\n")


def select(names, ap):
    """Configurations by name (a, b, ...) or by model (relu, relu-hidden, abs: all of that model's)."""
    chosen = set()
    for name in names:
        matches = {c.name for c in CONFIGS if name in (c.name, c.model)}
        if not matches:
            ap.error(f"unknown configuration {name}; allowed: {','.join(c.name for c in CONFIGS)} or a model "
                     f"({','.join(sorted({c.model for c in CONFIGS}))})")
        chosen |= matches
    return [c for c in CONFIGS if c.name in chosen]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer steps (a smoke test, not for the record)")
    ap.add_argument("--no-science", action="store_true")
    ap.add_argument("--science-steps-a", type=int, default=10000)
    ap.add_argument("--science-steps-b", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--configs", default=",".join(c.name for c in CONFIGS),
                    help="comma list of the configurations to run, by name or by model (the science check runs "
                         "those of a and b)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma list: torch, jax; one alone is a partial run")
    ap.add_argument("--no-tms", action="store_true",
                    help="time the peers alone (a partial run: e.g. for a model tms does not train yet)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    a = ap.parse_args()
    configs = select(a.configs.split(","), ap)
    peers = [p for p in PEERS if p in a.peers.split(",")]  # in PEERS's order, which the tables follow
    unknown = set(a.peers.split(",")) - set(PEERS)
    if unknown or not peers:
        ap.error(f"unknown peers: {','.join(sorted(unknown))}; allowed: {','.join(PEERS)}")
    partial = a.no_tms or len(peers) < len(PEERS)
    rows = timing(a.build, a.reps, a.quick, configs, peers, not a.no_tms)
    if partial:
        print(f"partial run (tms {'not run' if a.no_tms else 'run'}, peers {','.join(peers)}): {a.out} not written")
        return
    info = machine()
    sci = [] if a.no_science else science(a.build, a.seeds, {"a": a.science_steps_a, "b": a.science_steps_b},
                                          [c for c in configs if c.name in ("a", "b")])
    samp = sampling(a.build) if not a.no_tms else []
    write_results(a.out, info, rows, sci, a.reps, a.seeds, samp)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
