"""The reference recipe in PyTorch (companion notebook, shared/reference/paper.md section 2.1): K instances in
one tensor, a fresh batch every step, AdamW lr 1e-3 with weight decay 0.01, batch 1024, importance-weighted MSE
averaged over batch and features per instance and summed over instances.

Models (--model), W [K, n, m] with row i = feature i's weights into the m hidden neurons:
  linear        x' = W^T W x + b
  relu          x' = ReLU(W^T W x + b)
  relu-hidden   x' = ReLU(W^T ReLU(W x) + b)                  (paper E18, privileged basis)
  abs           y' = ReLU(W_out ReLU(W_in x) + b), target |x|  (paper E19-E21, computation in superposition;
                W_in and W_out both [K, n, m], untied; values signed, uniform on [-1, 1))

Used by bench/run.py and bench/check_peers.py; also runnable alone:
  python bench/torch_reference.py --features 20 --hidden 5 --density 1,0.3,0.1 --steps 200 --threads 2
"""
import argparse
import json
import time

import torch

MODELS = ("linear", "relu", "relu-hidden", "abs")


def signed_values(model):
    """The abs model computes |x|, which only differs from x on signed inputs."""
    return model == "abs"


def make_params(model, n, m, K, seed):
    """xavier_normal_ on each stacked [K, n, m] tensor (fan_in n m, fan_out K m: std sqrt(2 / (m (n + K))), as
    tms's reference init); the untied model draws W_in, then W_out, from the same generator."""
    g = torch.Generator().manual_seed(seed)
    names = ("W_in", "W_out") if model == "abs" else ("W",)
    params = {}
    for name in names:
        W = torch.empty(K, n, m)
        torch.nn.init.xavier_normal_(W, generator=g)
        params[name] = torch.nn.Parameter(W)
    params["b"] = torch.nn.Parameter(torch.zeros(K, n))
    return params


def sample(batch, p, K, n, signed):
    """x [batch, K, n]: feature i of instance k is active with probability p[k] (p [K, 1]), its value uniform on
    [0, 1), or on [-1, 1) when signed."""
    x = torch.rand(batch, K, n)
    if signed:
        x = 2 * x - 1
    return torch.where(torch.rand(batch, K, n) <= p, x, torch.zeros(()))


def forward(model, params, x):
    """x [batch, K, n] -> the model's output [batch, K, n]."""
    b = params["b"]
    if model == "abs":
        h = torch.relu(torch.einsum("bkn,knm->bkm", x, params["W_in"]))
        return torch.relu(torch.einsum("bkm,knm->bkn", h, params["W_out"]) + b)
    W = params["W"]
    h = torch.einsum("bkn,knm->bkm", x, W)
    if model == "relu-hidden":
        h = torch.relu(h)
    out = torch.einsum("bkm,knm->bkn", h, W) + b
    return out if model == "linear" else torch.relu(out)


def per_instance_loss(model, params, x, importance):
    """[K]: mean over batch and features of I_i (target - output)^2; importance [1, K, n]. The target is x, or
    |x| for the abs model (the others' inputs are non-negative, where the two agree)."""
    target = x.abs() if model == "abs" else x
    return (importance * (target - forward(model, params, x)) ** 2).mean(dim=(0, 2))


def train(n, m, density, importance_bases, steps, batch, seed, model="relu", lr=1e-3, time_steps=None):
    """importance_bases: one base per instance (I_ki = base_k^i). Returns (params, final losses per instance,
    seconds per step over the timed steps)."""
    torch.manual_seed(seed)
    K = len(density)
    params = make_params(model, n, m, K, seed)
    p = torch.tensor(density, dtype=torch.float32)[:, None]  # [K, 1]
    bases = torch.tensor(importance_bases, dtype=torch.float32)[:, None]  # [K, 1]
    importance = (bases ** torch.arange(n, dtype=torch.float32)[None, :])[None]  # [1, K, n]
    opt = torch.optim.AdamW(list(params.values()), lr=lr)  # weight_decay 0.01 by default
    signed = signed_values(model)
    tail = max(1, steps // 100)
    tail_sum = torch.zeros(K)
    start = None
    time_from = 0 if time_steps is None else max(0, steps - time_steps)
    for step in range(steps):
        if step == time_from:
            start = time.perf_counter()
        x = sample(batch, p, K, n, signed)
        per_instance = per_instance_loss(model, params, x, importance)  # [K]
        loss = per_instance.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= steps - tail:
            tail_sum += per_instance.detach()
    seconds = (time.perf_counter() - start) / (steps - time_from)
    return {k: v.detach() for k, v in params.items()}, (tail_sum / tail).tolist(), seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=5)
    ap.add_argument("--density", default="1,0.3,0.1,0.03,0.01,0.003,0.001", help="comma list: one per instance")
    ap.add_argument("--importance", type=float, default=0.7, help="one base for every instance")
    ap.add_argument("--importance-list", default=None, help="comma list: one base per instance")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--model", default="relu", choices=MODELS)
    ap.add_argument("--time-steps", type=int, default=None, help="time only the last N steps")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    density = [float(v) for v in a.density.split(",")]
    bases = ([float(v) for v in a.importance_list.split(",")] if a.importance_list
             else [a.importance] * len(density))
    params, losses, sec = train(a.features, a.hidden, density, bases, a.steps, a.batch, a.seed, model=a.model,
                                time_steps=a.time_steps)
    # Represented: feature i's weights into the hidden layer have norm above 0.5 (W_in for the untied model).
    norms = params["W_in" if a.model == "abs" else "W"].norm(dim=2)
    print(json.dumps({"seconds_per_step": sec, "loss": losses, "represented": (norms > 0.5).sum(1).tolist(),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
