"""Checks that the two peers compute the same maths, so that a ratio against either compares like with like.

For each model, at the shape of its benchmark configuration, on the same fixed weights and batch:
  - the per-instance losses and the gradients of their sum, from torch_reference.py and jax_reference.py, agree
    per instance in float32, as the benchmark runs them (gradients to --tol relative, losses to --loss-tol:
    PyTorch's float32 mean over the batch and features rounds to about 1e-5 relative on these 10^4-10^5
    terms, against 1e-7 for JAX's), and to 1e-10 in float64, where rounding cannot hide a difference in the
    maths;
  - both losses agree with a float64 NumPy transcription of the model's definition (an independent reading of
    the weight layouts: row i of W, W_in and W_out belongs to feature or output i);
  - each peer's sampler gives the instance's density of active features and values uniform on [0, 1), or on
    [-1, 1) for abs, and its init the reference std sqrt(2 / (m (n + K))), within 5 standard errors.
Exits 1 on any disagreement.

Usage: python bench/check_peers.py [--tol 1e-5] [--loss-tol 5e-5] [--models relu-hidden,abs]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jax_reference  # noqa: E402
import torch_reference  # noqa: E402

jax_reference.pin_threads(0)  # sets the CPU platform; must precede the first jax import
import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64 on request only: float32 inputs stay float32
import jax.numpy as jnp  # noqa: E402
import torch  # noqa: E402

# model: (n, m, densities, importance bases), the instances of its benchmark configuration in bench/run.py.
SHAPES = {
    "linear": (20, 5, [1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001], [0.7]),
    "relu": (20, 5, [1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001], [0.7]),
    "relu-hidden": (10, 5, [d for d in (1, 0.5, 0.3, 0.2, 0.1, 0.05, 0.03, 0.01) for _ in range(20)], [0.75]),
    "abs": (100, 40, [1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001], [0.8]),
}
BATCH = 1024


def fixed_inputs(model, seed=0):
    """Weights of a trained model's scale (rows of norm about 1, b of either sign, so every ReLU is both on and
    off), per-instance importances and one batch, as float64 NumPy arrays; x [batch, K, n]."""
    n, m, dens, bases = SHAPES[model]
    K = len(dens)
    rng = np.random.default_rng(seed)
    names = ("W_in", "W_out") if model == "abs" else ("W",)
    params = {name: rng.normal(0, m ** -0.5, (K, n, m)) for name in names}
    params["b"] = rng.normal(-0.05, 0.1, (K, n))
    base = np.resize(np.asarray(bases, float), K) * rng.uniform(0.97, 1.0, K)  # distinct per instance
    importance = base[:, None] ** np.arange(n)[None, :]  # [K, n]
    p = np.asarray(dens, float)[None, :, None]
    values = rng.uniform(-1.0 if torch_reference.signed_values(model) else 0.0, 1.0, (BATCH, K, n))
    x = np.where(rng.random((BATCH, K, n)) < p, values, 0.0)
    return params, importance, x


def numpy_loss(model, params, importance, x):
    """The definition, written out: h_sj = sum_i x_si W[i, j]; output_i = sum_j W[i, j] h_sj + b_i (W_out for
    abs); loss_k = mean over s, i of I_i (target_si - output_si)^2."""
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    W_in, W_out = (params["W_in"], params["W_out"]) if model == "abs" else (params["W"], params["W"])
    h = np.einsum("ski,kij->skj", x, W_in)
    if model in ("relu-hidden", "abs"):
        h = relu(h)
    out = np.einsum("skj,kij->ski", h, W_out) + params["b"][None]
    if model != "linear":
        out = relu(out)
    target = np.abs(x) if model == "abs" else x
    return (importance[None] * (target - out) ** 2).mean(axis=(0, 2))


def torch_loss_and_grad(model, params, importance, x, dtype):
    tp = {k: torch.tensor(v, dtype=dtype, requires_grad=True) for k, v in params.items()}
    per_instance = torch_reference.per_instance_loss(model, tp, torch.tensor(x, dtype=dtype),
                                                     torch.tensor(importance, dtype=dtype)[None])
    per_instance.sum().backward()
    return per_instance.detach().numpy(), {k: v.grad.numpy() for k, v in tp.items()}


def jax_loss_and_grad(model, params, importance, x, dtype):
    def total(jp):
        per_instance = jax_reference.per_instance_loss(model, jp, jnp.asarray(x.transpose(1, 0, 2), dtype),
                                                       jnp.asarray(importance, dtype)[:, None, :])
        return per_instance.sum(), per_instance

    jp = {k: jnp.asarray(v, dtype) for k, v in params.items()}
    (_, per_instance), grads = jax.value_and_grad(total, has_aux=True)(jp)
    return np.asarray(per_instance), {k: np.asarray(v) for k, v in grads.items()}


def worst_relative(a, b):
    """The largest over instances of |a_k - b_k| / |a_k| (norms over each instance's slice)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    axes = tuple(range(1, a.ndim))
    diff = np.sqrt((((a - b) ** 2).sum(axis=axes)) if axes else (a - b) ** 2)
    size = np.sqrt(((a ** 2).sum(axis=axes)) if axes else a ** 2)
    return float((diff / np.maximum(size, 1e-300)).max())


def check_maths(model, tol, loss_tol):
    params, importance, x = fixed_inputs(model)
    exact = numpy_loss(model, params, importance, x)
    failures = []
    for dtype_name, torch_dtype, jax_dtype, grad_limit, loss_limit in (
            ("float32", torch.float32, jnp.float32, tol, loss_tol),
            ("float64", torch.float64, jnp.float64, 1e-10, 1e-10)):
        lt, gt = torch_loss_and_grad(model, params, importance, x, torch_dtype)
        lj, gj = jax_loss_and_grad(model, params, importance, x, jax_dtype)
        errors = {"loss torch/jax": (worst_relative(lt, lj), loss_limit),
                  "loss torch/numpy": (worst_relative(exact, lt), loss_limit),
                  "loss jax/numpy": (worst_relative(exact, lj), loss_limit)}
        errors.update({f"d{k} torch/jax": (worst_relative(gt[k], gj[k]), grad_limit) for k in params})
        print(f"{model:12s} {dtype_name}: worst relative difference per instance (limits: loss {loss_limit:g}, "
              f"gradients {grad_limit:g}): " + ", ".join(f"{what} {e:.2g}" for what, (e, _) in errors.items()))
        failures += [f"{model} {dtype_name}: {what} {e:.2g} over {limit:g}"
                     for what, (e, limit) in errors.items() if not e <= limit]
    return failures


def within(value, expected, se, what):
    return [] if abs(value - expected) <= 5 * se + 1e-12 else [f"{what}: {value:.6g}, expected {expected:.6g}"]


def check_sampling_and_init(model):
    """Each peer's batch and init against the distribution they are meant to draw."""
    n, m, dens, _ = SHAPES[model]
    K, batch = len(dens), 4096
    signed = torch_reference.signed_values(model)
    torch.manual_seed(1)
    xt = torch_reference.sample(batch, torch.tensor(dens, dtype=torch.float32)[:, None], K, n, signed).numpy()
    k_coin, k_value = jax.random.split(jax.random.key(1))
    xj = np.asarray(jax_reference.sample(k_coin, k_value, jnp.asarray(dens, jnp.float32)[:, None, None], K, batch,
                                         n, signed)).transpose(1, 0, 2)
    failures = []
    lo = -1.0 if signed else 0.0
    for peer, x in (("torch", xt), ("jax", xj)):
        for k, d in enumerate(dens):
            xk = x[:, k, :]
            active = xk[xk != 0]
            failures += within(active.size / xk.size, d, np.sqrt(d * (1 - d) / xk.size), f"{model} {peer} "
                               f"instance {k}: active share")
            if active.size and not (active.min() >= lo and active.max() < 1):
                failures.append(f"{model} {peer} instance {k}: values outside [{lo:g}, 1)")
        active = x[x != 0]
        # Uniform on [lo, 1): mean (1 + lo) / 2, sd (1 - lo) / sqrt(12).
        failures += within(active.mean(), (1 + lo) / 2, (1 - lo) / np.sqrt(12 * active.size),
                           f"{model} {peer}: mean active value")
    std = (2 / (m * (n + K))) ** 0.5
    jparams = jax_reference.init_params(model, jax.random.key(0), K, n, m)
    for peer, params in (("torch", {k: v.detach().numpy() for k, v in
                                    torch_reference.make_params(model, n, m, K, 0).items()}),
                         ("jax", {k: np.asarray(v) for k, v in jparams.items()})):
        for name, W in params.items():
            if name == "b":
                failures += [] if not np.any(W) else [f"{model} {peer}: b not zero at init"]
            else:
                failures += within(W.std(), std, std / np.sqrt(2 * W.size), f"{model} {peer}: {name} init std")
    status = "ok" if not failures else f"{len(failures)} failures"
    print(f"{model:12s} sampling (active share per instance, value range and mean) and init std: {status}")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tol", type=float, default=1e-5, help="float32 limit on the gradients' relative difference")
    ap.add_argument("--loss-tol", type=float, default=5e-5, help="float32 limit on the losses' relative difference")
    ap.add_argument("--models", default=",".join(SHAPES))
    a = ap.parse_args()
    failures = []
    for model in a.models.split(","):
        if model not in SHAPES:
            ap.error(f"unknown model {model}; allowed: {','.join(SHAPES)}")
        failures += check_maths(model, a.tol, a.loss_tol) + check_sampling_and_init(model)
    for f in failures:
        print("FAIL", f)
    print("peers agree" if not failures else f"{len(failures)} disagreements")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
