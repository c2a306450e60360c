"""SAEs per second: tms.train_saes against a PyTorch loop of the same recipe, on the same work, in the same run.

The work: S SAEs of width d on the hidden activations h = W x (m = 20) of a trained n = 80 ReLU toy model at
density 0.03, batch 1024, a fresh batch every step, Adam lr 1e-3 (no weight decay), decoder rows at unit norm
(the gradient along each row removed before the step, the rows renormalised after).
  relu: loss = MSE(h_hat, h) + coefficient sum_l z_l, z = ReLU(W_enc^T (h - b_dec) + b_enc);
  topk: z = ReLU of each sample's k largest pre-activations, loss = MSE (the AuxK term off in both: it is 0
        until a latent has been dead for 500 steps).
The PyTorch peer trains all S SAEs in one set of [S, ...] tensors (bmm; ARENA's n_inst layout, the fastest way
PyTorch has), with its data drawn in PyTorch through the same frozen toy model. tms trains them across its
threads (one SAE per task). Each measurement runs in a fresh process, alternating tms and PyTorch, three rounds;
peak RSS is the child's.

    python bench/sae_bench.py --threads 2 --saes 16 --steps 1000 --widths 80,320
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

TOY = dict(model="relu", features=80, hidden=20, density=[0.03], importance=0.98, steps=2000, seed=0)


def child_tms(kind, S, d, coef, steps, threads):
    import tms

    toy = tms.train(**TOY, threads=threads)
    start = time.perf_counter()
    s = tms.train_saes(toy, kind=kind, widths=[d], coefficients=[coef], restarts=S, steps=steps, batch=1024,
                       aux_coefficient=0.0, eval_samples=1024, threads=threads)
    return dict(seconds=time.perf_counter() - start, engine_seconds=s.seconds, loss=float(s.loss.mean()))


def child_torch(kind, S, d, coef, steps, threads):
    import tms
    import torch

    torch.set_num_threads(threads)
    toy = tms.train(**TOY, threads=threads)
    W = torch.tensor(toy.W[0])  # [n, m]
    n, m = W.shape
    g = torch.Generator().manual_seed(0)
    W_dec = torch.randn(S, d, m, generator=g)
    W_dec /= W_dec.norm(dim=-1, keepdim=True)
    W_dec = torch.nn.Parameter(W_dec)
    W_enc = torch.nn.Parameter(W_dec.detach().transpose(1, 2).clone())
    b_enc = torch.nn.Parameter(torch.zeros(S, d))
    b_dec = torch.nn.Parameter(torch.zeros(S, m))
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=1e-3)
    p = TOY["density"][0]
    k = int(coef)
    start = time.perf_counter()
    for _ in range(steps):
        with torch.no_grad():
            u = torch.rand(1024, n, generator=g)
            x = torch.where(torch.rand(1024, n, generator=g) < p, u, torch.zeros(()))
            h = (x @ W).expand(S, 1024, m)
        hc = h - b_dec[:, None, :]
        pre = torch.bmm(hc, W_enc) + b_enc[:, None, :]
        if kind == "relu":
            z = torch.relu(pre)
        else:
            top = torch.topk(pre, k, dim=-1)
            z = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
        h_hat = torch.bmm(z, W_dec) + b_dec[:, None, :]
        loss = ((h_hat - h) ** 2).mean(dim=(1, 2))
        if kind == "relu":
            loss = loss + coef * z.sum(-1).mean(-1)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        with torch.no_grad():
            W_dec.grad -= (W_dec.grad * W_dec).sum(-1, keepdim=True) * W_dec
        opt.step()
        with torch.no_grad():
            W_dec /= W_dec.norm(dim=-1, keepdim=True)
    return dict(seconds=time.perf_counter() - start, loss=float(loss.mean()))


def run_child(which, args_list):
    out = subprocess.run([sys.executable, __file__, "--child", which, json.dumps(args_list)], capture_output=True,
                         text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child", nargs=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--saes", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--widths", default="80,320")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if a.child:
        which, payload = a.child
        fn = child_tms if which == "tms" else child_torch
        res = fn(*json.loads(payload))
        res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(res))
        return
    rows = []
    for d in [int(w) for w in a.widths.split(",")]:
        for kind, coef in (("relu", 0.03), ("topk", 4)):
            times = {"tms": [], "torch": []}
            rss = {"tms": 0.0, "torch": 0.0}
            for _ in range(a.rounds):
                for which in ("tms", "torch"):
                    r = run_child(which, [kind, a.saes, d, coef, a.steps, a.threads])
                    times[which].append(r["seconds"])
                    rss[which] = max(rss[which], r["peak_rss_mib"])
            best = {w: min(v) for w, v in times.items()}
            rate = {w: a.saes * a.steps / best[w] for w in best}
            rows.append(dict(kind=kind, width=d, saes=a.saes, steps=a.steps, threads=a.threads,
                             tms_sae_steps_per_s=rate["tms"], torch_sae_steps_per_s=rate["torch"],
                             ratio=rate["tms"] / rate["torch"], tms_seconds=best["tms"], torch_seconds=best["torch"],
                             tms_peak_rss_mib=rss["tms"], torch_peak_rss_mib=rss["torch"]))
            r = rows[-1]
            print(f"{kind:5s} d={d:4d}: tms {r['tms_sae_steps_per_s']:9.0f} SAE-steps/s ({r['tms_seconds']:.2f} s, "
                  f"{r['tms_peak_rss_mib']:.0f} MiB)  torch {r['torch_sae_steps_per_s']:9.0f} "
                  f"({r['torch_seconds']:.2f} s, {r['torch_peak_rss_mib']:.0f} MiB)  ratio {r['ratio']:.2f}x",
                  flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
