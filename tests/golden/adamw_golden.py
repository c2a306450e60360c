"""Produces the AdamW reference numbers in tests/core/test_adamw.cpp with torch.optim.AdamW.

Run: python tests/golden/adamw_golden.py  (needs torch; the C++ test does not)."""
import torch

grads = [[0.5, -0.3, 0.0, 2.0], [-0.1, 0.4, 1e-4, -2.0], [0.25, 0.25, -3.0, 0.0], [1.0, -1.0, 0.5, 0.5],
         [0.0, 0.3, -0.2, 1.5]]
for wd, schedule in [(0.01, "constant"), (0.0, "constant"), (0.01, "cosine")]:
    p = torch.nn.Parameter(torch.tensor([1.0, -0.5, 0.25, 0.0], dtype=torch.float32))
    opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd, foreach=False)
    steps = len(grads)
    for t, g in enumerate(grads):
        if schedule == "cosine":
            import math
            opt.param_groups[0]["lr"] = 1e-2 * math.cos(0.5 * math.pi * t / (steps - 1))
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
    print(f"wd={wd} schedule={schedule}:", ", ".join(f"{v:.9g}f" for v in p.detach().tolist()))
