"""tms.train, tms.load and the Run they return: the C++ engine with NumPy in and out.

Defaults are the C++ train_config's (a preset), never retyped here: an argument left as None keeps the preset's
value. Every number is computed by the engine; this module only converts arguments and arrays.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import numbers
import os
import sys
import time
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _tms

__all__ = ["Run", "train", "load", "make_config", "preset_names", "defaults"]

Number = Union[int, float]
_INT_FIELDS = ("features", "hidden", "restarts", "steps", "batch", "threads")
_REAL_FIELDS = ("lr", "beta1", "beta2", "eps", "weight_decay")


def preset_names() -> list:
    """The named recipes: "reference" (the companion notebook) and "arena"."""
    return list(_tms.preset_names())


def defaults(preset: str = "reference") -> dict:
    """The preset's resolved configuration, as metrics.json records it."""
    return json.loads(_tms.config_to_json(_tms.preset_config(preset)))


def _as_int(field: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{field}: expected an integer, got {type(value).__name__}")
    if isinstance(value, numbers.Integral):
        v = int(value)
    elif math.isfinite(value) and float(value).is_integer():
        v = int(value)
    else:
        raise ValueError(f"{field}: {value!r} is not an integer")
    if not -(2**31) <= v < 2**31:
        raise ValueError(f"{field}: {v} is too large")
    return v


def _as_seed(value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"seed: expected an integer, got {type(value).__name__}")
    if not isinstance(value, numbers.Integral) and not (math.isfinite(value) and float(value).is_integer()):
        raise ValueError(f"seed: {value!r} is not an integer")
    v = int(value)
    if v < 0:
        raise ValueError(f"seed: {v} is negative; allowed: an integer >= 0")
    if v >= 2**64:
        raise ValueError(f"seed: {v} is too large; allowed: below 2^64")
    return v


def _as_real(field: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{field}: expected a number, got {type(value).__name__}")
    return float(value)


def _as_reals(field: str, values) -> list:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{field}: expected numbers, got {type(values).__name__}")
    array = np.asarray(values)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.bool_)):
        raise TypeError(f"{field}: expected a number or a flat list of numbers")
    return [float(v) for v in array]


def _importance_spec(field: str, value) -> "_tms.ImportanceSpec":
    spec = _tms.ImportanceSpec()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        spec.base = float(value)
    else:
        spec.values = _as_reals(field, value)
    return spec


def make_config(
    *,
    preset: str = "reference",
    model: Optional[str] = None,
    features: Optional[int] = None,
    hidden: Optional[int] = None,
    importance: Union[Number, Sequence[Number], None] = None,
    importances: Optional[Sequence] = None,
    density: Union[Number, Sequence[Number], None] = None,
    relative_density: Optional[Sequence[Number]] = None,
    restarts: Optional[int] = None,
    steps: Optional[int] = None,
    batch: Optional[int] = None,
    lr: Optional[float] = None,
    schedule: Optional[str] = None,
    beta1: Optional[float] = None,
    beta2: Optional[float] = None,
    eps: Optional[float] = None,
    weight_decay: Optional[float] = None,
    init: Optional[str] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
) -> "_tms.TrainConfig":
    """A validated C++ train_config: the preset's defaults, overridden by every argument that is not None.

    importance is one importance vector: a base (I_i = base**i) or n explicit weights. importances is the
    importance axis (a list whose entries are bases or lists), as in a TOML file. density is 1 - S: a number or
    a list, one instance per value. relative_density: n per-feature multipliers (paper E10): feature i of an
    instance with density p has density min(1, p relative_density[i]); an empty list means all 1. Raises
    ValueError with the engine's message for a value out of range.
    """
    config = _tms.preset_config(preset)
    if model is not None:
        config.model = _tms.parse_model(str(model), "model")
    if schedule is not None:
        config.schedule = _tms.parse_schedule(str(schedule), "schedule")
    if init is not None:
        config.init = _tms.parse_init(str(init), "init")
    given = dict(features=features, hidden=hidden, restarts=restarts, steps=steps, batch=batch, threads=threads)
    for field, value in given.items():
        if value is not None:
            setattr(config, field, _as_int(field, value))
    given = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)
    for field, value in given.items():
        if value is not None:
            setattr(config, field, _as_real(field, value))
    if density is not None:
        if isinstance(density, numbers.Real) and not isinstance(density, bool):
            config.density = [float(density)]
        else:
            config.density = _as_reals("density", density)
    if relative_density is not None:
        if isinstance(relative_density, numbers.Real) and not isinstance(relative_density, bool):
            raise TypeError("relative_density: expected a list of n numbers, one per feature")
        config.relative_density = _as_reals("relative_density", relative_density)
    if importance is not None and importances is not None:
        raise TypeError("give importance (one vector) or importances (the axis), not both")
    if importance is not None:
        config.importance = [_importance_spec("importance", importance)]
    if importances is not None:
        if isinstance(importances, (numbers.Real, str, bytes)):
            raise TypeError("importances: expected a list of bases or lists")
        config.importance = [_importance_spec("importances", v) for v in importances]
    if seed is not None:
        config.seed = _as_seed(seed)
    config.validate()
    return config


def config_from_dict(d: dict) -> "_tms.TrainConfig":
    """The train_config that metrics.json's "config" (or Run.config) describes."""
    importances = [v for v in d.get("importance", [])]
    keys = ("model", "features", "hidden", "density", "relative_density", "restarts", "steps", "batch", "lr", "schedule", "beta1",
            "beta2", "eps", "weight_decay", "init", "seed", "threads")
    config = make_config(preset=d.get("preset", "reference"), importances=importances or None,
                         **{k: d[k] for k in keys if k in d})
    return config


_SETTINGS = frozenset(inspect.signature(make_config).parameters)
SNAPSHOTS_FILE = "snapshots.npz"  # beside weights.npz when the run has weight snapshots


@dataclasses.dataclass(eq=False, repr=False)
class Run:
    """A trained run: K instances (density outermost, then importance, restarts innermost), in arrays.

    Shapes: K instances, n features, m hidden dimensions, P loss-curve points. W[k, i] is the paper's W_i.
    """

    config: dict  # the resolved configuration, as in metrics.json
    W: np.ndarray  # [K, n, m] float32
    b: np.ndarray  # [K, n] float32
    density: np.ndarray  # [K] float64, 1 - S
    importance: np.ndarray  # [K, n] float32
    density_index: np.ndarray  # [K] int64, into config["density"]
    importance_index: np.ndarray  # [K] int64, into config["importance"]
    restart: np.ndarray  # [K] int64
    stream_seed: np.ndarray  # [K] uint64: seed + restart
    loss: np.ndarray  # [K] float64, mean over the last 1% of steps
    loss_curve: np.ndarray  # [K, P] float64, mean loss over each window
    curve_steps: np.ndarray  # [P] int64, steps completed at the end of each window
    norms: np.ndarray  # [K, n] ||W_i||
    superposition: np.ndarray  # [K, n] sum_{j != i} (W^_i . W_j)^2
    dimensionality: np.ndarray  # [K, n] D_i
    frobenius_sq: np.ndarray  # [K] ||W||_F^2
    dims_per_feature: np.ndarray  # [K] m / ||W||_F^2
    represented: np.ndarray  # [K] int64, #{i : ||W_i|| > represented_norm}
    # The expected loss split (see _decompose), in the training loss's normalisation: feature_benefit,
    # interference, bias, total [K]. Linear: exact. ReLU output: the 0- and 1-sparse inputs only (paper §4.2);
    # None for a ReLU run with per-feature relative densities.
    loss_decomposition: Optional[dict]
    seconds: float = 0.0  # training time
    threads: int = 0
    init_std: float = 0.0
    path: Optional[str] = None  # the run folder it was loaded from or saved to
    # Weight snapshots (train(..., snapshots=...)): the steps [S], W [S, K, n, m], b [S, K, n] and the loss of
    # that step's batch [S, K] (NaN for step 0). None when none were asked for. Saved as snapshots.npz.
    snapshot_steps: Optional[np.ndarray] = None
    snapshot_W: Optional[np.ndarray] = None
    snapshot_b: Optional[np.ndarray] = None
    snapshot_loss: Optional[np.ndarray] = None

    @property
    def K(self) -> int:
        return int(self.W.shape[0])

    @property
    def n(self) -> int:
        return int(self.W.shape[1])

    @property
    def m(self) -> int:
        return int(self.W.shape[2])

    @property
    def model(self) -> str:
        """"linear" or "relu"."""
        return self.config["model"]

    def gram(self, k: int = 0) -> np.ndarray:
        """WᵀW of instance k as the paper draws it: [n, n], entry (i, j) = W_i . W_j."""
        return _tms.gram(np.ascontiguousarray(self.W[k]))

    def select(self, indices) -> "Run":
        """The run restricted to the given instances (the configuration is kept as it was)."""
        idx = np.asarray(indices, dtype=np.int64)
        fields = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("snapshot_W", "snapshot_b", "snapshot_loss") and v is not None:
                v = v[:, idx]
            elif isinstance(v, np.ndarray) and f.name not in ("curve_steps", "snapshot_steps"):
                v = v[idx]
            elif f.name == "loss_decomposition" and v is not None:
                v = {key: a[idx] for key, a in v.items()}
            fields[f.name] = v
        fields["path"] = None
        return Run(**fields)

    def best_restart_indices(self) -> list:
        """Per (density, importance), the instance whose restart reached the lowest final loss."""
        best = {}
        for k in range(self.K):
            key = (int(self.density_index[k]), int(self.importance_index[k]))
            loss = self.loss[k] if np.isfinite(self.loss[k]) else np.inf
            if key not in best or loss < best[key][0]:
                best[key] = (loss, k)
        return sorted(k for _, k in best.values())

    def best_restarts(self) -> "Run":
        """One instance per (density, importance): the restart with the lowest final loss (the paper's
        "fitting each model multiple times and taking the solution with the lowest loss")."""
        return self.select(self.best_restart_indices())

    def save(self, path: Union[str, os.PathLike]) -> str:
        """Writes weights.npz and metrics.json with the engine's writer (the same folder `tms train` writes)."""
        path = os.fspath(path)
        config = config_from_dict(self.config)
        r = _tms.TrainResult()
        r.n, r.m = self.n, self.m
        instances = []
        for k in range(self.K):
            inst = _tms.InstanceSpec()
            inst.density = float(self.density[k])
            inst.importance = [float(v) for v in self.importance[k]]
            inst.density_index = int(self.density_index[k])
            inst.importance_index = int(self.importance_index[k])
            inst.restart = int(self.restart[k])
            instances.append(inst)
        r.instances = instances
        r.stream_seed = [int(s) for s in self.stream_seed]
        r.W = np.ascontiguousarray(self.W, dtype=np.float32)
        r.b = np.ascontiguousarray(self.b, dtype=np.float32)
        r.final_loss = [float(v) for v in self.loss]
        r.curve_step = [int(s) for s in self.curve_steps]
        r.curve_loss = np.ascontiguousarray(self.loss_curve, dtype=np.float64)
        r.init_std, r.threads, r.seconds = float(self.init_std), int(self.threads), float(self.seconds)
        _tms.prepare_run_dir(path)
        if self.snapshot_steps is not None:
            tmp = os.path.join(path, "snapshots.tmp.npz")
            np.savez_compressed(tmp, step=self.snapshot_steps, W=self.snapshot_W, b=self.snapshot_b,
                                loss=self.snapshot_loss)
            os.replace(tmp, os.path.join(path, SNAPSHOTS_FILE))
        _tms.write_run(path, config, r)
        self.path = path
        return path

    def rows(self) -> list:
        """One dict per instance with the scalar measurements (what `tms analyze` prints)."""
        out = []
        for k in range(self.K):
            norms = self.norms[k]
            rep = norms > _tms.represented_norm
            row = {
                "instance": k,
                "density": float(self.density[k]),
                "importance_index": int(self.importance_index[k]),
                "restart": int(self.restart[k]),
                "loss": float(self.loss[k]),
                "frobenius_sq": float(self.frobenius_sq[k]),
                "dims_per_feature": float(self.dims_per_feature[k]),
                "represented": int(self.represented[k]),
                "superposition_represented": float(self.superposition[k][rep].mean()) if rep.any() else 0.0,
            }
            if self.loss_decomposition is not None:
                for key, a in self.loss_decomposition.items():
                    row[key] = float(a[k])
            out.append(row)
        return out

    def __repr__(self) -> str:
        where = f", path={self.path!r}" if self.path else ""
        return (f"Run(model={self.model!r}, K={self.K}, n={self.n}, m={self.m}, steps={self.config['steps']}, "
                f"density={[float(d) for d in self.density]}, represented={self.represented.tolist()}{where})")


def _measure(W: np.ndarray) -> dict:
    K, n, _ = W.shape
    out = {key: np.zeros((K, n)) for key in ("norms", "superposition", "dimensionality")}
    out.update(frobenius_sq=np.zeros(K), dims_per_feature=np.zeros(K), represented=np.zeros(K, dtype=np.int64))
    for k in range(K):
        mt = _tms.measure(np.ascontiguousarray(W[k]))
        out["norms"][k] = mt.norms
        out["superposition"][k] = mt.superposition
        out["dimensionality"][k] = mt.dimensionality
        out["frobenius_sq"][k] = mt.frobenius_sq
        out["dims_per_feature"][k] = mt.dims_per_feature
        out["represented"][k] = mt.represented
    return out


def _decompose(model: str, W, b, importance, density, relative_density=None) -> Optional[dict]:
    """The expected loss split into feature benefit (not attained), interference and a bias term, averaged over
    the n features like the training loss (so comparable with Run.loss).

    linear: exact (metrics.hpp): total is the expected training loss.
    relu:   the paper's sparsity decomposition (§4.2, analysis_loss.hpp) keeps the inputs with at most one active
            feature: feature_benefit = (1-S) S^(n-1) x sum_i I_i int (x - ReLU(|W_i|^2 x + b_i))^2 dx,
            interference = (1-S) S^(n-1) x the sum over pairs i != j, bias = S^n x sum_i I_i ReLU(b_i)^2, each / n.
            total is then a lower bound on the expected loss, close to it when S -> 1 (the rest is O((1-S)^2)).
    With per-feature relative densities (paper E10) the linear split uses each feature's density; the ReLU split
    assumes one density for all features, so it is left out (None) for such runs.
    """
    if relative_density is not None and model != "linear":
        return None
    keys = ("feature_benefit", "interference", "bias", "total")
    K, n = W.shape[0], W.shape[1]
    out = {key: np.zeros(K) for key in keys}
    for k in range(K):
        args = (np.ascontiguousarray(W[k]), np.ascontiguousarray(b[k]),
                np.ascontiguousarray(importance[k], dtype=np.float32), float(density[k]))
        if model == "linear":
            if relative_density is not None:
                per_feature = np.minimum(1.0, float(density[k]) * np.asarray(relative_density, dtype=np.float64))
                args = args[:3] + (np.ascontiguousarray(per_feature),)
            t = _tms.linear_loss_decomposition(*args)
            for key in keys:
                out[key][k] = getattr(t, key)
        else:
            t = _tms.relu_loss_decomposition(*args)
            p = float(density[k])
            one = p * (1.0 - p) ** (n - 1)
            out["feature_benefit"][k] = one * t.feature_benefit / n
            out["interference"][k] = one * t.interference / n
            out["bias"][k] = (1.0 - p) ** n * t.l0 / n
            out["total"][k] = t.expected_one_sparse / n
    return out


def _assemble(config: dict, W, b, density, importance, density_index, importance_index, restart, stream_seed,
              loss, loss_curve, curve_steps, seconds, threads, init_std, path=None, snapshots=None) -> Run:
    snapshots = snapshots or {}
    return Run(config=config, W=W, b=b, density=density, importance=importance, density_index=density_index,
               importance_index=importance_index, restart=restart, stream_seed=stream_seed, loss=loss,
               loss_curve=loss_curve, curve_steps=curve_steps, **_measure(W),
               loss_decomposition=_decompose(config["model"], W, b, importance, density,
                                            config.get("relative_density") or None),
              seconds=seconds,
               threads=threads, init_std=init_std, path=path, **snapshots)


class _ProgressLine:
    """A progress line on stderr, like the command line's."""

    def __init__(self):
        self.start = time.monotonic()

    def __call__(self, done: int, total: int) -> bool:
        secs = time.monotonic() - self.start
        rate = done / secs if secs > 0 else 0
        eta = (total - done) / rate if rate > 0 else 0
        sys.stderr.write(f"\r  {100.0 * done / max(total, 1):5.1f}%  {rate:.3g} model-steps/s  ETA {eta:.0f} s   ")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()
        return True


def snapshot_schedule(snapshots, steps: int) -> list:
    """The steps train(snapshots=...) records: an int N gives step 0 and about N log-spaced steps in [1, steps]
    (log_spaced_steps); a list is taken as it is (each in [0, steps])."""
    if snapshots is None:
        return []
    if isinstance(snapshots, numbers.Integral) and not isinstance(snapshots, bool):
        if snapshots < 1:
            raise ValueError(f"snapshots: {snapshots} is not a positive count")
        return [0] + [int(s) for s in _tms.log_spaced_steps(int(steps), int(snapshots))]
    if isinstance(snapshots, (str, bytes, bool)) or isinstance(snapshots, numbers.Real):
        raise TypeError("snapshots: expected a count or a list of steps")
    return [_as_int("snapshots", s) for s in snapshots]


def train(*, progress: Union[bool, Callable[[int, int], Optional[bool]], None] = None,
          snapshots: Union[int, Sequence[int], None] = None, **settings) -> Run:
    """Trains K toy models and returns their weights, loss curves and measurements as NumPy arrays.

    Settings are those of make_config (and of `tms train`): preset, model ("linear" or "relu"), features,
    hidden, importance, importances, density, relative_density, restarts, steps, batch, lr, schedule, beta1,
    beta2, eps, weight_decay, init, seed, threads. Unset ones take the preset's defaults. The same settings and
    seed give the same bits as `tms train`.

    progress: True draws a progress line on stderr; a callable(steps_done, steps_total) is called about every
    100 ms and may return False to stop. Training runs without the GIL; Ctrl-C raises KeyboardInterrupt.
    Raises ValueError (bad settings) or RuntimeError (e.g. a loss that turned NaN) with the engine's message.

    snapshots: also keep every instance's weights after some steps (learning dynamics): an int N for step 0 and
    about N log-spaced steps, or a list of steps. They land in run.snapshot_steps, snapshot_W [S, K, n, m],
    snapshot_b, snapshot_loss; the training itself (and so the final weights) is unchanged.

        run = tms.train(model="relu", features=20, hidden=5, importance=0.7, density=[1, 0.1, 0.01],
                        steps=10_000, seed=0)
        run.W.shape  # (3, 20, 5)
    """
    unknown = sorted(set(settings) - _SETTINGS)
    if unknown:
        raise TypeError(f"train() got an unexpected keyword argument '{unknown[0]}'")
    config = make_config(**settings)
    callback = _ProgressLine() if progress is True else (progress or None)
    result = _tms.train(config, callback, snapshot_schedule(snapshots, config.steps))
    return _from_result(config, result)


def _from_result(config: "_tms.TrainConfig", r: "_tms.TrainResult") -> Run:
    insts = r.instances
    return _assemble(
        config=json.loads(_tms.config_to_json(config)),
        W=r.W,
        b=r.b,
        density=np.array([i.density for i in insts], dtype=np.float64),
        importance=np.array([i.importance for i in insts], dtype=np.float32).reshape(len(insts), r.n),
        density_index=np.array([i.density_index for i in insts], dtype=np.int64),
        importance_index=np.array([i.importance_index for i in insts], dtype=np.int64),
        restart=np.array([i.restart for i in insts], dtype=np.int64),
        stream_seed=np.array(r.stream_seed, dtype=np.uint64),
        loss=np.array(r.final_loss, dtype=np.float64),
        loss_curve=r.curve_loss,
        curve_steps=np.array(r.curve_step, dtype=np.int64),
        seconds=float(r.seconds),
        threads=int(r.threads),
        init_std=float(r.init_std),
        snapshots=_snapshots_of(r),
    )


def _snapshots_of(r: "_tms.TrainResult") -> Optional[dict]:
    if not len(r.snapshot_step):
        return None
    return dict(snapshot_steps=np.array(r.snapshot_step, dtype=np.int64), snapshot_W=r.snapshot_W,
                snapshot_b=r.snapshot_b, snapshot_loss=r.snapshot_loss)


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def load(path: Union[str, os.PathLike]) -> Run:
    """The run in a folder written by `tms train`, tms.train(...).save() or `tms reproduce`.

    Arrays come from weights.npz, the configuration and loss curves from metrics.json, and the measurements are
    recomputed from W by the engine. Raises ValueError with the engine's message for a folder that holds no
    finished run.
    """
    path = os.fspath(path)
    doc = json.loads(_tms.read_metrics(path))
    npz = os.path.join(path, "weights.npz")
    if not os.path.exists(npz):
        raise ValueError(f"run: '{path}' holds metrics.json but no weights.npz")
    with np.load(npz) as z:
        arrays = {key: z[key] for key in z.files}
    config = doc["config"]
    insts = doc["instances"]
    density = arrays["density"].astype(np.float64)
    density_list = [float(d) for d in config["density"]]
    density_index = np.array([density_list.index(float(d)) if float(d) in density_list else -1 for d in density],
                             dtype=np.int64)
    run = doc.get("run", {})
    snapshots = None
    if os.path.exists(os.path.join(path, SNAPSHOTS_FILE)):
        with np.load(os.path.join(path, SNAPSHOTS_FILE)) as z:
            snapshots = dict(snapshot_steps=z["step"].astype(np.int64), snapshot_W=z["W"], snapshot_b=z["b"],
                             snapshot_loss=z["loss"])
    return _assemble(
        config=config,
        W=arrays["W"].astype(np.float32, copy=False),
        b=arrays["b"].astype(np.float32, copy=False),
        density=density,
        importance=arrays["importance"].astype(np.float32, copy=False),
        density_index=density_index,
        importance_index=np.array([i["importance_index"] for i in insts], dtype=np.int64),
        restart=arrays["restart"].astype(np.int64, copy=False),
        stream_seed=np.array([i["stream_seed"] for i in insts], dtype=np.uint64),
        loss=np.array([_num(i["loss"]) for i in insts], dtype=np.float64),
        loss_curve=np.array([[_num(v) for v in i["loss_curve"]] for i in insts], dtype=np.float64).reshape(
            len(insts), len(doc["curve_steps"])),
        curve_steps=np.array(doc["curve_steps"], dtype=np.int64),
        seconds=float(run.get("seconds", 0.0)),
        threads=int(run.get("threads", 0)),
        init_std=float(run.get("init_std", 0.0)),
        path=path,
        snapshots=snapshots,
    )
