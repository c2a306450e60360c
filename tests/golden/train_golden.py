"""The end-to-end golden of the training loop: PyTorch trains the runs of train_golden_configs.hpp from the
same initial weights on the same batches as tms::train, and writes the final weights to train_golden.json,
which tests/core/test_train_golden.cpp compares tms::train against (max |dW|, |db| < 1e-5).

The oracle is written here from the paper and the companion notebook only, not from tms's code:
  model    h = W x, x' = W^T h + b (the linear model) or ReLU(W^T h + b) (the ReLU output model), with
           W [K, n, m] (the notebook's layout) or ARENA's W [K, m, n] for the arena preset;
  loss     per instance the mean over batch and features of I_i (x_i - x'_i)^2, summed over instances
           (each instance's gradient is its own mean's);
  optimizer torch.optim.AdamW(lr, betas, eps, weight_decay) over W and b (reference preset, decay 0 too),
           torch.optim.Adam (arena preset), single-tensor path (foreach=False);
  schedule the notebook's: lr at 0-based step t of T is lr * f(t, T) with f = 1 (constant), 1 - t/T
           (linear), cos(pi/2 t/(T - 1)) (cosine), set before each opt.step().
tms's dump_train_inputs supplies only what is random: each instance's initial W and b (init_params, as the
trainer calls it) and every batch x (the reference sampler, checked there against the fast step's own).

Regenerate (needs torch; neither CI nor the C++ test does):
    cmake -S . -B build-tests -DCMAKE_BUILD_TYPE=Release
    cmake --build build-tests --target dump_train_inputs
    python tests/golden/train_golden.py --dump build-tests/tests/dump_train_inputs
The C++ test checks the golden's configurations against train_golden_configs.hpp and its initial weights
against train()'s, so a change to either that the golden does not follow fails there, asking for this.
"""
import argparse
import json
import math
import os
import subprocess
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def lr_factor(schedule, t, steps):
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return 1 - t / steps
    if schedule == "cosine":
        return math.cos(0.5 * math.pi * t / (steps - 1))
    raise ValueError(schedule)


def train(cfg, W0, b0, X):
    """W0 [K, n, m], b0 [K, n], X [K, steps, B, n] (float32) -> the final W [K, n, m], b [K, n]."""
    arena = cfg["preset"] == "arena"
    relu = cfg["model"] == "relu"
    I = torch.tensor(np.array([inst["importance"] for inst in cfg["instances"]], dtype=np.float32))  # [K, n]
    # ARENA keeps W as [K, m, n]; the notebook as [K, n, m].
    W = torch.nn.Parameter(torch.tensor(W0.transpose(0, 2, 1).copy() if arena else W0))
    b = torch.nn.Parameter(torch.tensor(b0))
    betas = (cfg["beta1"], cfg["beta2"])
    if arena:
        assert cfg["weight_decay"] == 0
        opt = torch.optim.Adam([W, b], lr=cfg["lr"], betas=betas, eps=cfg["eps"], foreach=False)
    else:
        opt = torch.optim.AdamW([W, b], lr=cfg["lr"], betas=betas, eps=cfg["eps"],
                                weight_decay=cfg["weight_decay"], foreach=False)
    steps = cfg["steps"]
    for t in range(steps):
        for group in opt.param_groups:
            group["lr"] = cfg["lr"] * lr_factor(cfg["schedule"], t, steps)
        x = torch.tensor(X[:, t])  # [K, B, n]
        if arena:
            h = torch.einsum("kbn,kmn->kbm", x, W)
            out = torch.einsum("kbm,kmn->kbn", h, W) + b[:, None, :]
        else:
            h = torch.einsum("kbn,knm->kbm", x, W)
            out = torch.einsum("kbm,knm->kbn", h, W) + b[:, None, :]
        if relu:
            out = torch.relu(out)
        loss = (I[:, None, :] * (x - out) ** 2).mean(dim=(1, 2)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    W_final = W.detach().numpy()
    return (W_final.transpose(0, 2, 1) if arena else W_final), b.detach().numpy()


def floats(a):
    # %.9g round-trips float32 exactly.
    return [float(f"{v:.9g}") for v in np.asarray(a, dtype=np.float32).ravel().tolist()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dump", default=os.path.join("build-tests", "tests", "dump_train_inputs"),
                    help="the dump_train_inputs program (built by the tests' CMake)")
    ap.add_argument("--out", default=os.path.join(HERE, "train_golden.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([args.dump, tmp], check=True)
        with open(os.path.join(tmp, "manifest.json")) as f:
            manifest = json.load(f)
        runs = []
        for cfg in manifest:
            name, K, n, m, B, steps = (cfg[k] for k in ("name", "K", "n", "m", "batch", "steps"))
            load = lambda suffix, shape: np.fromfile(os.path.join(tmp, f"{name}.{suffix}.bin"),
                                                     dtype="<f4").reshape(shape)
            W0, b0 = load("W0", (K, n, m)), load("b0", (K, n))
            X = load("x", (K, steps, B, n))
            W, b = train(cfg, W0, b0, X)
            runs.append({"name": name,
                         "config": {k: cfg[k] for k in ("preset", "model", "n", "m", "batch", "steps", "K", "lr",
                                                        "schedule", "beta1", "beta2", "eps", "weight_decay",
                                                        "init", "relative_density")},
                         "density": [inst["density"] for inst in cfg["instances"]],
                         "sampling": [inst["sampling"] for inst in cfg["instances"]],
                         "W0": floats(W0), "b0": floats(b0), "W": floats(W), "b": floats(b)})
            print(f"{name}: K={K} n={n} m={m} B={B}, max |W - W0| = {np.abs(W - W0).max():.3g}")
    golden = {"about": "tests/golden/train_golden.py: torch.optim.AdamW / Adam on tms's initial weights and "
                       "batches; W [K][n][m] and b [K][n] flattened, float32 as %.9g",
              "torch": torch.__version__, "runs": runs}
    with open(args.out, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
