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
import warnings
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _tms

__all__ = ["Run", "train", "load", "merge", "make_config", "preset_names", "defaults", "model_tensors"]

Number = Union[int, float]


def preset_names() -> list:
    """The named recipes: "reference" (the companion notebook) and "arena"."""
    return list(_tms.preset_names())


def defaults(preset: str = "reference") -> dict:
    """The preset's resolved configuration, as metrics.json records it."""
    return json.loads(_tms.config_to_json(_tms.preset_config(preset)))


def model_tensors(model: str = "relu", features: int = 20, hidden: int = 5, hidden_bias: bool = False) -> list:
    """A model's parameters as the engine declares them (model_tensors.hpp): [(name, shape per instance)], in
    the order of Run.weights and weights.npz (where each has the instance axis K in front)."""
    kind = _tms.parse_model(str(model), "model")
    return [(name, tuple(shape)) for name, shape in
            _tms.model_tensors(kind, _as_int("features", features), _as_int("hidden", hidden), bool(hidden_bias))]


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
    l1: Optional[float] = None,
    values: Optional[str] = None,
    hidden_bias: Optional[bool] = None,
    data: Optional[str] = None,
    set_size: Optional[int] = None,
    density_of: Optional[str] = None,
    init: Optional[str] = None,
    init_scale: Optional[float] = None,
    adversarial_samples: Optional[int] = None,
    adversarial_training: Optional[float] = None,
    loss_curve_points: Optional[int] = None,
    shard: Union[str, Sequence[int], None] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
) -> "_tms.TrainConfig":
    """A validated C++ train_config: the preset's defaults, overridden by every argument that is not None.

    importance is one importance vector: a base (I_i = base**i) or n explicit weights. importances is the
    importance axis (a list whose entries are bases or lists), as in a TOML file. density is 1 - S: a number or
    a list, one instance per value. relative_density: n per-feature multipliers (paper E10): feature i of an
    instance with density p has density min(1, p relative_density[i]); an empty list means all 1. values:
    "uniform" ([0, 1)) or "signed" ([-1, 1)); unset, the model's own (signed for abs, as `tms train`).
    hidden_bias: a bias inside the hidden ReLU (relu-hidden, abs). data: "independent" (the default),
    "correlated" or "anticorrelated" features in sets of set_size consecutive features (default 2); density_of:
    for sets, whether 1 - S is the probability that a set is active ("set", the paper's) or that each feature
    is ("feature", ARENA's). init_scale: a factor on the init's standard deviation. adversarial_samples: N > 0
    writes each instance's adversarial vulnerability (E16, as Run.adversarial(N, seed)) into instances.npz.
    adversarial_training: f > 0 trains on attacked inputs (E17): each sample moved by the analytic attack on a
    random feature, at f × the batch's mean input norm, the loss taken against the clean sample (linear and relu
    models). loss_curve_points: the loss curve's points per instance (200; 0: none, for large sweeps). shard:
    "I/N" or (I, N), train shard I of N of the instance axis (each instance the same model as in the whole
    run; tms.merge joins the shards). Raises ValueError with the engine's message for a value out of range.
    """
    config = _tms.preset_config(preset)
    if model is not None:
        config.model = _tms.parse_model(str(model), "model")
    if schedule is not None:
        config.schedule = _tms.parse_schedule(str(schedule), "schedule")
    if init is not None:
        config.init = _tms.parse_init(str(init), "init")
    config.values = (_tms.parse_values(str(values), "values") if values is not None
                     else _tms.default_values(config.model))
    if hidden_bias is not None:
        if not isinstance(hidden_bias, (bool, np.bool_)):
            raise TypeError("hidden_bias: expected True or False")
        config.hidden_bias = bool(hidden_bias)
    if data is not None:
        config.data = _tms.parse_data(str(data), "data")
    if density_of is not None:
        config.density_of = _tms.parse_set_density(str(density_of), "density_of")
    _tms.check_set_options(config, set_size is not None, density_of is not None)
    given = dict(features=features, hidden=hidden, restarts=restarts, steps=steps, batch=batch, threads=threads,
                 set_size=set_size, adversarial_samples=adversarial_samples, loss_curve_points=loss_curve_points)
    for field, value in given.items():
        if value is not None:
            setattr(config, field, _as_int(field, value))
    given = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay, l1=l1, init_scale=init_scale,
                 adversarial_training=adversarial_training)
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
    if shard is not None:
        config.shard_index, config.shard_count = _as_shard(shard)
    config.validate()
    return config


def _as_shard(shard) -> tuple:
    if isinstance(shard, str):
        parts = shard.split("/")
        if len(parts) == 2 and all(p.strip().lstrip("-").isdigit() for p in parts):
            return int(parts[0]), int(parts[1])
        raise ValueError(f"shard: '{shard}' is not I/N; allowed: shard I of N, 0 <= I < N (e.g. \"0/4\")")
    if isinstance(shard, (tuple, list)) and len(shard) == 2:
        return _as_int("shard", shard[0]), _as_int("shard", shard[1])
    raise TypeError("shard: expected \"I/N\" or (I, N)")


def config_from_dict(d: dict) -> "_tms.TrainConfig":
    """The train_config that metrics.json's "config" (or Run.config) describes, read by the engine's strict
    reader (every key, its type and range). Raises ValueError naming the key."""
    return _tms.config_from_json(json.dumps(d))


# Names a notebook user coming from the companion notebook or ARENA tries, and the tms setting for each.
_HINTS = {
    "sparsity": "density, with density = 1 - S (sparsity S = 0.9 is density=0.1)",
    "feature_sparsity": "density, with density = 1 - S (sparsity S = 0.9 is density=0.1)",
    "S": "density, with density = 1 - S (sparsity S = 0.9 is density=0.1)",
    "feature_probability": "density (the probability that a feature is active, 1 - S)",
    "feature_prob": "density (the probability that a feature is active, 1 - S)",
    "n_features": "features (n)",
    "n_hidden": "hidden (m)",
    "n_instances": "density, importances and restarts (K = |density| x |importances| x restarts)",
    "num_features": "features (n)",
    "num_hidden": "hidden (m)",
    "d_hidden": "hidden (m)",
    "feature_importance": "importance (a base, I_i = base**i, or n weights)",
    "importance_base": "importance (a base, I_i = base**i, or n weights)",
    "n_steps": "steps",
    "num_steps": "steps",
    "batch_size": "batch",
    "learning_rate": "lr",
    "relu": 'model ("relu" or "linear")',
}


def _unknown_setting(name: str, where: str = "train()") -> TypeError:
    hint = _HINTS.get(name)
    if hint is None:
        return TypeError(f"{where} got an unexpected keyword argument '{name}'; allowed: "
                         + ", ".join(sorted(_SETTINGS)))
    return TypeError(f"{where} got an unexpected keyword argument '{name}'; the tms setting is {hint}")


_SETTINGS = frozenset(inspect.signature(make_config).parameters)


@dataclasses.dataclass(eq=False, repr=False)
class Run:
    """A trained run: K instances (density outermost, then importance, restarts innermost), in arrays.

    Shapes: K instances, n features, m hidden dimensions, P loss-curve points. The model's tensors (the
    engine's table, tms.model_tensors) are in `weights` and are attributes too: run.W [K, n, m] (W[k, i] is
    the paper's W_i) and run.b [K, n] of the tied models; run.W_in, run.W_out [K, n, m] and run.b of abs;
    run.b_hidden [K, m] with a hidden bias. run.embedding is the one whose rows are the features' directions
    in the hidden space (W, or W_in), which the measurements below read.
    """

    config: dict  # the resolved configuration, as in metrics.json
    weights: dict  # name -> [K, shape...] float32, the model's tensors in the table's order
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
    # The expected loss split (the engine's reported_loss_split, metrics.hpp), in the training loss's
    # normalisation, each [K]: linear: feature_benefit, interference, bias, expected_loss (exact). ReLU output:
    # feature_benefit, interference, bias, one_sparse_loss: the inputs with at most one active feature only
    # (paper §4.2), a lower bound near the loss as S -> 1 and near 0 at density 1. None for a ReLU run with
    # per-feature relative densities.
    loss_decomposition: Optional[dict]
    seconds: float = 0.0  # training time
    threads: int = 0
    init_std: float = 0.0
    steps_done: int = 0  # config["steps"], or fewer when a callback stopped training
    first_step: int = 0  # the data stream's first step (an init_from run continues its source's stream)
    init_from: Optional[str] = None  # the run folder (or "a Run in memory") this run started from
    path: Optional[str] = None  # the run folder it was loaded from or saved to
    # Weight snapshots (train(..., snapshots=...)): the steps [S], every tensor [S, K, shape...] (also as
    # run.snapshot_W, snapshot_b, ...) and the loss of that step's batch [S, K] (NaN for step 0). None when
    # none were asked for. Saved as snapshots.npz.
    snapshot_steps: Optional[np.ndarray] = None
    snapshot_weights: Optional[dict] = None
    snapshot_loss: Optional[np.ndarray] = None

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails: the tensors by name (run.W, run.W_in, run.snapshot_W ...).
        if name in ("weights", "snapshot_weights") or name.startswith("__"):
            raise AttributeError(name)
        if name in self.weights:
            return self.weights[name]
        if name.startswith("snapshot_") and name[len("snapshot_"):] in self.weights:
            return None if self.snapshot_weights is None else self.snapshot_weights[name[len("snapshot_"):]]
        if name in _TENSOR_NAMES:
            raise AttributeError(f"a {self.config['model']} run has no tensor '{name}'; its tensors are "
                                 + ", ".join(self.weights))
        raise AttributeError(f"'Run' object has no attribute '{name}'")

    def __setattr__(self, name: str, value) -> None:
        # run.W = ... replaces the tensor in `weights` (what evaluate, save and the measurements read), never
        # a stray attribute beside it.
        weights = self.__dict__.get("weights")
        if weights is not None and name in weights and name not in _RUN_FIELDS:
            weights[name] = value
        else:
            object.__setattr__(self, name, value)

    @property
    def K(self) -> int:
        return int(self.density.shape[0])

    @property
    def n(self) -> int:
        return int(self.importance.shape[1])

    @property
    def m(self) -> int:
        return int(self.config["hidden"])

    @property
    def model(self) -> str:
        """"linear", "relu", "relu-hidden" or "abs"."""
        return self.config["model"]

    @property
    def embedding(self) -> np.ndarray:
        """[K, n, m] the tensor whose row i is feature i's direction in the hidden space: W, or W_in of abs."""
        return self.weights[_tms.model_embedding(_tms.parse_model(self.model, "model"))]

    def gram(self, k: int = 0) -> np.ndarray:
        """WᵀW of instance k as the paper draws it (W_inᵀW_in for abs): [n, n], entry (i, j) = W_i . W_j."""
        return _tms.gram(np.ascontiguousarray(self.embedding[k]))

    def select(self, indices) -> "Run":
        """The run restricted to some instances, with NumPy's indexing semantics on the instance axis: an int
        (negative counts from the end), a slice, a boolean mask of length K, or an integer array. The
        configuration is kept as it was; the result always keeps the instance axis."""
        idx = _instance_indices(indices, self.K)
        fields = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "weights":
                v = {key: a[idx] for key, a in v.items()}
            elif f.name == "snapshot_weights" and v is not None:
                v = {key: a[:, idx] for key, a in v.items()}
            elif f.name == "snapshot_loss" and v is not None:
                v = v[:, idx]
            elif isinstance(v, np.ndarray) and f.name not in ("curve_steps", "snapshot_steps"):
                v = v[idx]
            elif f.name == "loss_decomposition" and v is not None:
                v = {key: a[idx] for key, a in v.items()}
            fields[f.name] = v
        fields["path"] = None
        return Run(**fields)

    def _instance_specs(self) -> list:
        """The run's own instances for the engine (a selection of a run has fewer than its configuration
        describes): each one's density and importance."""
        out = []
        for k in range(self.K):
            inst = _tms.InstanceSpec()
            inst.density = float(self.density[k])
            inst.importance = [float(v) for v in self.importance[k]]
            out.append(inst)
        return out

    def evaluate(self, samples: int = 100_000, seed: int = 0) -> np.ndarray:
        """Each instance's loss [K] on `samples` fresh samples of its own distribution (density, importance,
        relative densities), by the training loss's definition, computed by the engine. The samples come from
        an evaluation stream of `seed` that no training run draws from, shared by all instances."""
        config = config_from_dict(self.config)
        return _tms.evaluate_loss(config, self._instance_specs(), _float32_tensors(self.weights), _as_int("samples", samples),
                                  _as_seed(seed))

    def adversarial(self, samples: int = 100_000, seed: int = 0, relative_norm: Optional[float] = None) -> dict:
        """Paper E16, by the engine (analysis_adversarial.hpp), per instance of a linear or relu run: the analytic
        optimal L2 attack on every feature (the input moved by ±λ (WᵀW)_i/‖(WᵀW)_i‖, λ = relative_norm × the mean
        input norm, the paper's 0.1 by default), the worst one taken, on `samples` samples of the evaluation
        stream of `seed` (those of Run.evaluate). A dict of [K] arrays: input_norm, attack_norm, clean and
        attacked losses, feature and sign of the worst attack, the reference model's (the m most important
        features on orthonormal directions, the rest dropped) reference_clean and reference_attacked, the
        vulnerability (L' − L)/(L'_0 − L_0), and features_per_dimension ‖W‖_F²/m."""
        config = config_from_dict(self.config)
        instances = self._instance_specs()
        norm = _tms.adversarial_relative_norm if relative_norm is None else _as_real("relative_norm", relative_norm)
        out = _tms.adversarial_vulnerability(config, instances, _float32_tensors(self.weights),
                                             _as_int("samples", samples), _as_seed(seed), norm)
        out["feature"] = out["feature"].astype(np.int64)
        out["sign"] = out["sign"].astype(np.int64)
        return out

    def to_dataframe(self):
        """One row per instance (pandas): density, importance index, restart, loss, the measurements and the
        loss split. Needs pandas."""
        pd = _pandas()
        return pd.DataFrame(self.rows())

    def features_dataframe(self):
        """The long per-feature table (pandas): one row per (instance, feature), with the instance's density
        and restart, the feature i (numbered from 0, as in the arrays: I_i = base**i), its importance, ||W_i||,
        superposition, D_i and b_i. Needs pandas."""
        pd = _pandas()
        K, n = self.K, self.n
        return pd.DataFrame({
            "instance": np.repeat(np.arange(K), n),
            "density": np.repeat(self.density, n),
            "importance_index": np.repeat(self.importance_index, n),
            "restart": np.repeat(self.restart, n),
            "feature": np.tile(np.arange(n), K),
            "importance": self.importance.reshape(-1).astype(np.float64),
            "norm": self.norms.reshape(-1),
            "superposition": self.superposition.reshape(-1),
            "dimensionality": self.dimensionality.reshape(-1),
            "bias": self.b.reshape(-1).astype(np.float64),
        })

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

    def save(self, path: Union[str, os.PathLike], overwrite: bool = False) -> str:
        """Writes the run folder `tms train` writes (weights.npz, snapshots.npz when there are snapshots,
        metrics.json) with the engine's writer. A folder that already holds a finished run is refused
        (FileExistsError) unless overwrite=True; a folder another run is writing is refused (ValueError)."""
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
        r.set_weights(config, _float32_tensors(self.weights))
        r.final_loss = [float(v) for v in self.loss]
        r.curve_step = [int(s) for s in self.curve_steps]
        r.curve_loss = np.ascontiguousarray(self.loss_curve, dtype=np.float64)
        r.init_std, r.threads, r.seconds = float(self.init_std), int(self.threads), float(self.seconds)
        r.steps_done, r.first_step = int(self.steps_done or self.config["steps"]), int(self.first_step)
        if self.snapshot_steps is not None:
            r.snapshot_step = [int(s) for s in self.snapshot_steps]
            r.set_snapshots(config, _float32_tensors(self.snapshot_weights))
            r.snapshot_loss = np.ascontiguousarray(self.snapshot_loss, dtype=np.float64)
        if not overwrite and os.path.isfile(os.path.join(path, "metrics.json")):
            raise FileExistsError(f"path: '{path}' already holds a finished run; allowed: a new folder, or "
                                  "save(..., overwrite=True) to replace it")
        _tms.write_run(path, config, r, bool(overwrite), self.init_from or "")
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


_RUN_FIELDS = frozenset(f.name for f in dataclasses.fields(Run))

# Every tensor name of any model (for a clear error when a run lacks one).
_TENSOR_NAMES = frozenset(name for kind in ("linear", "relu", "relu-hidden", "abs")
                          for name, _ in _tms.model_tensors(_tms.parse_model(kind, "model"), 1, 1,
                                                             kind in ("relu-hidden", "abs")))


def _float32_tensors(weights: dict) -> dict:
    return {key: np.ascontiguousarray(a, dtype=np.float32) for key, a in weights.items()}


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


def _decompose(model: str, W, b, importance, density, relative_density=None, values: str = "uniform",
               data: str = "independent") -> Optional[dict]:
    """The loss split of every instance, by the engine (metrics.hpp: reported_loss_split): see Run."""
    relative = [float(v) for v in relative_density] if relative_density is not None else []
    out = None
    for k in range(W.shape[0]):
        t = _tms.reported_loss_split(model, np.ascontiguousarray(W[k]), np.ascontiguousarray(b[k]),
                                     np.ascontiguousarray(importance[k], dtype=np.float32), float(density[k]),
                                     relative, values, data)
        if t is None:
            return None
        if out is None:
            out = {key: np.zeros(W.shape[0]) for key in t}
        for key, v in t.items():
            out[key][k] = v
    return out


def _instance_indices(indices, K: int) -> np.ndarray:
    """NumPy's indexing of one axis of length K, as an integer array (always 1-D)."""
    if isinstance(indices, slice):
        return np.arange(K)[indices]
    if isinstance(indices, (bool, np.bool_)):
        raise TypeError("indices: a single boolean is not an instance index")
    if isinstance(indices, numbers.Integral):
        k = int(indices)
        if not -K <= k < K:
            raise IndexError(f"indices: instance {k} is out of range for {K} instances")
        return np.array([k % K], dtype=np.int64)
    array = np.asarray(indices)
    if array.dtype == np.bool_:
        if array.shape != (K,):
            raise IndexError(f"indices: a boolean mask of shape {array.shape}; allowed: shape ({K},)")
        return np.flatnonzero(array)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(array.dtype, np.integer) or array.ndim != 1:
        raise TypeError("indices: expected an int, a slice, a boolean mask or a 1-D integer array")
    if array.min() < -K or array.max() >= K:
        raise IndexError(f"indices: out of range for {K} instances")
    return np.where(array < 0, array + K, array).astype(np.int64)


def _pandas():
    try:
        import pandas
    except ImportError as e:  # an optional dependency
        raise ImportError("tables need pandas: pip install pandas") from e
    return pandas


def _assemble(config: dict, weights: dict, density, importance, density_index, importance_index, restart,
              stream_seed, loss, loss_curve, curve_steps, seconds, threads, init_std, steps_done, first_step,
              init_from=None, path=None, snapshots=None) -> Run:
    snapshots = snapshots or {}
    embedding = weights[_tms.model_embedding(_tms.parse_model(config["model"], "model"))]
    return Run(config=config, weights=weights, density=density, importance=importance,
               density_index=density_index, importance_index=importance_index, restart=restart,
               stream_seed=stream_seed, loss=loss, loss_curve=loss_curve, curve_steps=curve_steps,
               **_measure(embedding),
               loss_decomposition=_decompose(config["model"], embedding, weights["b"], importance, density,
                                             config.get("relative_density") or None, config["values"],
                                             config.get("data", "independent")),
               seconds=seconds, threads=threads, init_std=init_std, steps_done=steps_done, first_step=first_step,
               init_from=init_from, path=path, **snapshots)


class _ProgressLine:
    """A progress line on stderr, like the command line's (training steps, not instance-steps)."""

    def __init__(self):
        self.start = time.monotonic()

    def __call__(self, done: float, total: int) -> bool:
        secs = time.monotonic() - self.start
        rate = done / secs if secs > 0 else 0
        eta = (total - done) / rate if rate > 0 else 0
        sys.stderr.write(f"\r  {100.0 * done / max(total, 1):5.1f}%  step {done:.0f} of {total}  "
                         f"{rate:.3g} steps/s  ETA {eta:.0f} s   ")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
        return True


class _TqdmProgress:
    """progress=True with tqdm installed: a tqdm bar over the training steps."""

    def __init__(self, tqdm, total: int):
        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True)
        self.shown = 0

    def __call__(self, done: float, total: int) -> bool:
        step = int(done)
        if step > self.shown:
            self.bar.update(step - self.shown)
            self.shown = step
        return True

    def close(self):
        self.bar.close()


def _progress_callback(progress, steps: int):
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return _ProgressLine()
        return _TqdmProgress(tqdm, steps)
    return progress or None


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


def sample(*, samples: int = 1024, seed: int = 0, **settings) -> np.ndarray:
    """The inputs x [K, samples, n] (float32) of the data a run with these settings trains on: each instance's
    batches from the engine's data source (density, relative densities, correlated or anticorrelated sets,
    values), exactly the samples Run.evaluate(samples, seed) scores. settings: those of tms.train (the model
    and optimiser settings are accepted and play no part). Raises ValueError for a setting out of range."""
    for name in settings:
        if name not in _SETTINGS:
            raise _unknown_setting(name, "sample()")
    config = make_config(**settings)
    return _tms.sample_inputs(config, _as_int("samples", samples), _as_seed(seed))


def train(*, progress: Union[bool, Callable[[float, int], Optional[bool]], None] = None,
          snapshots: Union[int, Sequence[int], None] = None, init_from: Union["Run", str, os.PathLike, None] = None,
          callback: Optional[Callable[[int, np.ndarray], Optional[bool]]] = None, callback_every: int = 100,
          **settings) -> Run:
    """Trains K toy models and returns their weights, loss curves and measurements as NumPy arrays.

    Settings are those of make_config (and of `tms train`): preset, model ("linear", "relu", "relu-hidden" or
    "abs"), features,
    hidden, importance, importances, density, relative_density, restarts, steps, batch, lr, schedule, beta1,
    beta2, eps, weight_decay, l1, values, hidden_bias, init, seed, threads. Unset ones take the preset's defaults. The same settings and
    seed give the same bits as `tms train`.

    progress: True draws a progress bar (tqdm when installed, else a line on stderr); a
    callable(steps_done, steps_total), in training steps, is called about every 100 ms and may return False to
    cancel (KeyboardInterrupt). Training runs without the GIL; Ctrl-C raises KeyboardInterrupt.
    Raises ValueError (bad settings) or RuntimeError (e.g. a loss that turned NaN) with the engine's message.

    snapshots: also keep every instance's weights after some steps (learning dynamics): an int N for step 0 and
    about N log-spaced steps, or a list of steps. They land in run.snapshot_steps, run.snapshot_weights (every
    tensor [S, K, shape...], also as run.snapshot_W ...), snapshot_loss; the training itself (and so the final weights) is unchanged.

    init_from: a Run or a run folder to start from (its final weights; the same model, n, m and instances),
    e.g. to train longer. AdamW's moments start from zero, and batches continue the earlier run's data stream
    (run.first_step), so no batch is seen twice. Unset settings are taken from that run, not the preset.

    callback: f(step, loss) every `callback_every` steps (and after the last), loss [K] each instance's mean
    training loss since the previous call. Returning False stops training; the Run is returned as it stands,
    with run.steps_done the steps done (its loss is then the mean over the last callback window).

        run = tms.train(model="relu", features=20, hidden=5, importance=0.7, density=[1, 0.1, 0.01],
                        steps=10_000, seed=0)
        run.W.shape  # (3, 20, 5)
    """
    unknown = sorted(set(settings) - _SETTINGS)
    if unknown:
        raise _unknown_setting(unknown[0])
    source = None
    if init_from is not None:
        source = init_from if isinstance(init_from, Run) else load(init_from)
        base = dict(source.config)
        base.pop("optimizer", None)  # derived from weight_decay, not a setting
        if "importance" in base:
            base["importances"] = base.pop("importance")
        if "importance" in settings or "importances" in settings:
            base.pop("importances", None)
        settings = {**base, **settings}
    config = make_config(**settings)
    for line in config.warnings():
        warnings.warn(line, stacklevel=2)
    kwargs = {}
    init_label = None
    if source is not None:
        if (source.model, source.n, source.m, source.K) != (_tms.model_name(config.model), config.features,
                                                              config.hidden, config.instance_count()):
            raise ValueError(f"init_from: a {source.model} run of K={source.K}, n={source.n}, m={source.m}; "
                             f"allowed: the same model and sizes as this run")
        if list(source.weights) != [name for name, _ in _tms.model_tensors(config.model, config.features,
                                                                           config.hidden, config.hidden_bias)]:
            raise ValueError(f"init_from: a run with tensors {', '.join(source.weights)}; allowed: the tensors of "
                             "this run's model (the same hidden_bias)")
        kwargs = dict(init=_float32_tensors(source.weights),
                      first_step=int(source.first_step) + int(source.steps_done or source.config["steps"]))
        init_label = source.path or "a Run in memory"
    if callback is not None:
        kwargs.update(callback_every=_as_int("callback_every", callback_every), on_step=callback)
    on_progress = _progress_callback(progress, config.steps)
    try:
        result = _tms.train(config, on_progress, snapshot_schedule(snapshots, config.steps), **kwargs)
    finally:
        if isinstance(on_progress, _TqdmProgress):
            on_progress.close()
    return _from_result(config, result, init_label)


def _from_result(config: "_tms.TrainConfig", r: "_tms.TrainResult", init_from: Optional[str] = None) -> Run:
    insts = r.instances
    return _assemble(
        config=json.loads(_tms.config_to_json(config)),
        weights=r.weights,
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
        steps_done=int(r.steps_done),
        first_step=int(r.first_step),
        init_from=init_from,
        snapshots=_snapshots_of(r),
    )


def _snapshots_of(r: "_tms.TrainResult") -> Optional[dict]:
    if not len(r.snapshot_step):
        return None
    return dict(snapshot_steps=np.array(r.snapshot_step, dtype=np.int64), snapshot_weights=r.snapshots,
                snapshot_loss=r.snapshot_loss)


def merge(out: Union[str, os.PathLike], shards: Sequence[Union[str, os.PathLike]], overwrite: bool = False) -> Run:
    """Joins the run folders of a grid's shards (tms.train(..., shard="I/N").save(...) or `tms train --shard
    I/N`, every I once, any order) into one run folder at `out`, the grid's own run, and returns it loaded.
    Raises ValueError (one line) when the folders are not every shard of one grid, or out holds a finished run
    and overwrite is not set."""
    _tms.merge_runs(os.fspath(out), [os.fspath(s) for s in shards], bool(overwrite))
    return load(out)


def load(path: Union[str, os.PathLike]) -> Run:
    """The run in a folder written by `tms train`, tms.train(...).save() or `tms reproduce`.

    The engine's reader checks the whole folder first (metrics.json's keys, types and lengths against its
    configuration, the weights' size and CRC-32 against those metrics.json recorded, the arrays' shapes,
    finite weights); the measurements are then recomputed from W by the engine. Raises ValueError with one
    line for a folder that holds no finished run, or a broken one (a parent folder of runs: it names them).
    """
    path = os.fspath(path)
    text, arrays = _tms.read_run(path)
    doc = json.loads(text)
    config = doc["config"]
    columns = arrays["instances"]  # instances.npz, checked by the engine's reader
    run = doc["run"]
    snapshots = None
    if "snapshot_steps" in arrays:
        snapshots = dict(snapshot_steps=arrays["snapshot_steps"], snapshot_weights=arrays["snapshots"],
                         snapshot_loss=arrays["snapshot_loss"])
    return _assemble(
        config=config,
        weights=arrays["weights"],
        density=arrays["density"],
        importance=arrays["importance"],
        density_index=columns["density_index"],
        importance_index=columns["importance_index"],
        restart=arrays["restart"],
        stream_seed=columns["stream_seed"],
        loss=columns["loss"],
        loss_curve=columns["loss_curve"],
        curve_steps=np.array(doc["curve_steps"], dtype=np.int64),
        seconds=float(run["seconds"]),
        threads=int(run["threads"]),
        init_std=float(run["init_std"]),
        steps_done=int(run["steps_done"]),
        first_step=int(run["first_step"]),
        init_from=run.get("init_from"),
        path=path,
        snapshots=snapshots,
    )
