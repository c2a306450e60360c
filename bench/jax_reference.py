"""The reference recipe in JAX, written the way a JAX user makes it fast: the same model, data and optimiser as
torch_reference.py (K instances in one tensor, a fresh batch every step, AdamW lr 1e-3 with weight decay 0.01,
batch 1024, importance-weighted MSE averaged over batch and features per instance and summed over instances), but
the whole training loop is one jit-compiled jax.lax.scan over steps, with the batch drawn by jax.random inside
it. Same command line, models (torch_reference.py's docstring) and output as torch_reference.py, so
bench/run.py treats the two peers alike.

Used by bench/run.py and bench/check_peers.py; also runnable alone:
  python bench/jax_reference.py --features 20 --hidden 5 --density 1,0.3,0.1 --steps 200 --threads 2
"""
import argparse
import json
import os
import time

import numpy as np


def pin_threads(threads):
    """JAX has no thread-count setting: its CPU client sizes its thread pool by the process's CPU affinity (the
    jax maintainers' advice in jax-ml/jax#1539), so --threads N restricts the affinity to N of the allowed CPUs.
    The older recipe, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1", does not
    keep jax 0.10 on one core (measured: n = 100, m = 20, 20 instances ran on both) and adds nothing to the
    affinity, so it is not used. Must happen before jax is imported; returns the thread count the client sees."""
    cpus = sorted(os.sched_getaffinity(0))
    if threads:
        cpus = cpus[:threads]
        os.sched_setaffinity(0, cpus)
    os.environ["JAX_PLATFORMS"] = "cpu"
    return len(cpus)


MODELS = ("linear", "relu", "relu-hidden", "abs")

# The model functions below import jax where they run: pin_threads must come before the first import.


def signed_values(model):
    """The abs model computes |x|, which only differs from x on signed inputs."""
    return model == "abs"


def init_params(model, key, K, n, m):
    """PyTorch's xavier_normal_ on each stacked [K, n, m] tensor: fan_in n m, fan_out K m, so std
    sqrt(2 / (m (n + K))), as tms's reference init; the untied model draws W_in and W_out independently."""
    import jax
    import jax.numpy as jnp

    std = (2 / (m * (n + K))) ** 0.5
    names = ("W_in", "W_out") if model == "abs" else ("W",)
    # A tied model's W is the draw of the key itself; the untied model splits it in two.
    keys = jax.random.split(key, len(names)) if len(names) > 1 else [key]
    params = {name: jax.random.normal(k, (K, n, m)) * std for name, k in zip(names, keys)}
    params["b"] = jnp.zeros((K, n))
    return params


def sample(k_coin, k_value, p, K, batch, n, signed):
    """x [K, batch, n]: feature i of instance k is active with probability p[k] (p [K, 1, 1]), its value uniform
    on [0, 1), or on [-1, 1) when signed."""
    import jax
    import jax.numpy as jnp

    lo = -1.0 if signed else 0.0
    values = jax.random.uniform(k_value, (K, batch, n), minval=lo, maxval=1.0)
    return jnp.where(jax.random.uniform(k_coin, (K, batch, n)) <= p, values, 0.0)


def forward(model, params, x):
    """x [K, batch, n] -> the model's output [K, batch, n]."""
    import jax
    import jax.numpy as jnp

    b = params["b"][:, None, :]
    if model == "abs":
        h = jax.nn.relu(jnp.einsum("kbn,knm->kbm", x, params["W_in"]))
        return jax.nn.relu(jnp.einsum("kbm,knm->kbn", h, params["W_out"]) + b)
    W = params["W"]
    h = jnp.einsum("kbn,knm->kbm", x, W)
    if model == "relu-hidden":
        h = jax.nn.relu(h)
    out = jnp.einsum("kbm,knm->kbn", h, W) + b
    return out if model == "linear" else jax.nn.relu(out)


def per_instance_loss(model, params, x, importance):
    """[K]: mean over batch and features of I_i (target - output)^2; importance [K, 1, n]. The target is x, or
    |x| for the abs model (the others' inputs are non-negative, where the two agree)."""
    import jax.numpy as jnp

    target = jnp.abs(x) if model == "abs" else x
    return jnp.mean(importance * (target - forward(model, params, x)) ** 2, axis=(1, 2))


def train(n, m, density, importance_bases, steps, batch, seed, model="relu", lr=1e-3, time_steps=None):
    """importance_bases: one base per instance (I_ki = base_k^i). Returns (params, final losses per instance,
    seconds per step over the timed steps)."""
    import jax  # only here: pin_threads must have run first
    import jax.numpy as jnp
    import optax

    K = len(density)
    init_key, data_key = jax.random.split(jax.random.key(seed))
    params = init_params(model, init_key, K, n, m)
    p = jnp.asarray(density, jnp.float32)[:, None, None]  # [K, 1, 1]
    bases = jnp.asarray(importance_bases, jnp.float32)[:, None]
    importance = (bases ** jnp.arange(n, dtype=jnp.float32)[None, :])[:, None, :]  # [K, 1, n]
    signed = signed_values(model)
    # PyTorch's AdamW defaults; like it, optax.adamw decays every parameter (the weights and b).
    opt = optax.adamw(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01)

    def loss_fn(params, x):
        per_instance = per_instance_loss(model, params, x, importance)  # [K]
        return per_instance.sum(), per_instance

    def step(carry, t):
        params, opt_state = carry
        # The step's batch from its own key (not a key carried through the loop), so that splitting the run into
        # a warm-up and a timed call draws the same batches as one call would.
        k_coin, k_value = jax.random.split(jax.random.fold_in(data_key, t))
        x = sample(k_coin, k_value, p, K, batch, n, signed)
        (_, per_instance), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x)
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), per_instance

    @jax.jit
    def run(carry, ts):
        return jax.lax.scan(step, carry, ts)

    time_from = 0 if time_steps is None else max(0, steps - time_steps)
    carry = (params, opt.init(params))
    warm_ts, timed_ts = jnp.arange(time_from), jnp.arange(time_from, steps)
    # Both calls compiled ahead (a scan's length is part of its shape), so the timing holds no compilation; the
    # untimed warm-up steps are the ones torch_reference.py leaves out of its timing.
    timed_run = run.lower(carry, timed_ts).compile()
    losses = []
    if time_from:
        carry, warm_losses = jax.block_until_ready(run.lower(carry, warm_ts).compile()(carry, warm_ts))
        losses.append(np.asarray(warm_losses))
    start = time.perf_counter()
    carry, timed_losses = timed_run(carry, timed_ts)
    jax.block_until_ready((carry, timed_losses))
    seconds = (time.perf_counter() - start) / (steps - time_from)
    losses.append(np.asarray(timed_losses))
    tail = max(1, steps // 100)
    params = {k: np.asarray(v) for k, v in carry[0].items()}
    return params, np.concatenate(losses)[-tail:].mean(0).tolist(), seconds


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
    threads = pin_threads(a.threads)
    density = [float(v) for v in a.density.split(",")]
    bases = ([float(v) for v in a.importance_list.split(",")] if a.importance_list
             else [a.importance] * len(density))
    params, losses, sec = train(a.features, a.hidden, density, bases, a.steps, a.batch, a.seed, model=a.model,
                                time_steps=a.time_steps)
    # Represented: feature i's weights into the hidden layer have norm above 0.5 (W_in for the untied model).
    norms = np.linalg.norm(params["W_in" if a.model == "abs" else "W"], axis=2)
    print(json.dumps({"seconds_per_step": sec, "loss": losses, "represented": (norms > 0.5).sum(1).tolist(),
                      "threads": threads}))


if __name__ == "__main__":
    main()