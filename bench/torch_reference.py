"""The reference recipe in PyTorch (companion notebook, shared/reference/paper.md section 2.1): K instances in
one tensor, a fresh batch every step, AdamW lr 1e-3 with weight decay 0.01, batch 1024, importance-weighted MSE
averaged over batch and features per instance and summed over instances.

Used by bench/run.py; also runnable alone:
  python bench/torch_reference.py --features 20 --hidden 5 --density 1,0.3,0.1 --steps 200 --threads 2
"""
import argparse
import json
import time

import torch


def make_model(n, m, K, seed):
    g = torch.Generator().manual_seed(seed)
    W = torch.empty(K, n, m)
    torch.nn.init.xavier_normal_(W, generator=g)
    W = torch.nn.Parameter(W)
    b = torch.nn.Parameter(torch.zeros(K, n))
    return W, b


def train(n, m, density, importance_bases, steps, batch, seed, relu=True, lr=1e-3, time_steps=None):
    """importance_bases: one base per instance (I_ki = base_k^i). Returns (W, b, final losses per instance,
    seconds per step over the timed steps)."""
    torch.manual_seed(seed)
    K = len(density)
    W, b = make_model(n, m, K, seed)
    p = torch.tensor(density, dtype=torch.float32)[:, None]  # [K, 1]
    bases = torch.tensor(importance_bases, dtype=torch.float32)[:, None]  # [K, 1]
    importance = (bases ** torch.arange(n, dtype=torch.float32)[None, :])[None]  # [1, K, n]
    opt = torch.optim.AdamW([W, b], lr=lr)  # weight_decay 0.01 by default
    tail = max(1, steps // 100)
    tail_sum = torch.zeros(K)
    start = None
    time_from = 0 if time_steps is None else max(0, steps - time_steps)
    for step in range(steps):
        if step == time_from:
            start = time.perf_counter()
        x = torch.rand(batch, K, n)
        x = torch.where(torch.rand(batch, K, n) <= p, x, torch.zeros(()))
        h = torch.einsum("bkn,knm->bkm", x, W)
        out = torch.einsum("bkm,knm->bkn", h, W) + b
        if relu:
            out = torch.relu(out)
        per_instance = (importance * (x.abs() - out) ** 2).mean(dim=(0, 2))  # [K]
        loss = per_instance.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= steps - tail:
            tail_sum += per_instance.detach()
    seconds = (time.perf_counter() - start) / (steps - time_from)
    return W.detach(), b.detach(), (tail_sum / tail).tolist(), seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=5)
    ap.add_argument("--density", default="1,0.3,0.1,0.03,0.01,0.003,0.001")
    ap.add_argument("--importance", type=float, default=0.7, help="one base for every instance")
    ap.add_argument("--importance-list", default=None, help="comma list: one base per instance")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--model", default="relu")
    ap.add_argument("--time-steps", type=int, default=None, help="time only the last N steps")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    density = [float(v) for v in a.density.split(",")]
    bases = ([float(v) for v in a.importance_list.split(",")] if a.importance_list
             else [a.importance] * len(density))
    W, b, losses, sec = train(a.features, a.hidden, density, bases, a.steps, a.batch, a.seed,
                              relu=a.model == "relu", time_steps=a.time_steps)
    norms = W.norm(dim=2)
    print(json.dumps({"seconds_per_step": sec, "loss": losses, "represented": (norms > 0.5).sum(1).tolist(),
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
