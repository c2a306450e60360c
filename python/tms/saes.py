"""Sparse autoencoders trained on a toy run's hidden activations and scored against its known features.

    run = tms.train(model="relu", features=80, hidden=20, density=[0.03], importance=0.98, steps=10_000)
    saes = tms.train_saes(run, kind="topk", widths=[80, 160], coefficients=[1, 2, 4], restarts=2)
    saes.to_dataframe()          # one row per SAE: its settings, losses and ground-truth metrics
    saes.W_dec(0), saes.encode(0)

The engine (src/core/sae_trainer.hpp, model_sae.hpp, analysis_sae.hpp) trains every SAE of the grid (toy
instance x width x coefficient x restart) on fresh batches of the toy run's own data through the frozen toy
model, and scores each against the embedding rows W_i (the features' true directions) and the features that are
active in each sample. The families, their recipes and defaults are in sae_config.hpp; the metrics' definitions
in analysis_sae.hpp (docs/experiments/saes.md quotes both).
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Optional, Sequence, Union

import numpy as np

from . import _tms
from .api import Run, _as_int, _as_real, _as_reals, _as_seed, _float32_tensors, _pandas, _progress_callback, \
    config_from_dict

__all__ = ["SAEs", "train_saes", "load_saes", "sae_defaults", "SAE_KINDS", "METRICS"]

SAE_KINDS = tuple(_tms.sae_kinds())
# The per-SAE scalar metrics, in the engine's order (analysis_sae.hpp defines each).
METRICS = ("represented", "mmcs", "matched_cosine", "recovered", "mcc", "l0", "dead", "mse", "explained_variance",
           "reconstruction_bias", "precision", "recall", "absorption", "absorbed", "split")
_SETTINGS = ("kind", "instances", "widths", "coefficients", "restarts", "steps", "batch", "lr", "beta1", "beta2",
             "eps", "loss_curve_points", "resample", "resample_every", "dead_window", "resample_scale", "aux_k",
             "aux_coefficient", "initial_threshold", "bandwidth", "threshold_decay", "eval_samples", "seed",
             "threads")
_INT = {"restarts", "steps", "batch", "loss_curve_points", "resample_every", "dead_window", "aux_k", "eval_samples",
        "threads"}
_REAL = {"lr", "beta1", "beta2", "eps", "resample_scale", "aux_coefficient", "initial_threshold", "bandwidth",
         "threshold_decay"}
FORMAT_VERSION = 1


def sae_defaults() -> dict:
    """Every SAE setting's default, read from the engine's sae_config."""
    return _config_dict(_tms.SaeConfig())


def _sae_config(settings: dict) -> "_tms.SaeConfig":
    c = _tms.SaeConfig()
    for name, value in settings.items():
        if name not in _SETTINGS:
            raise TypeError(f"train_saes() got an unknown setting '{name}'; allowed: {', '.join(_SETTINGS)}")
        if value is None:
            continue
        if name in ("kind", "resample"):
            if not isinstance(value, str):
                raise ValueError(f"{name}: {value!r} is not a name")
            setattr(c, name, value)  # the engine parses and refuses an unknown name
        elif name == "instances":
            c.instances = [_as_int("instances", v) for v in np.atleast_1d(value)]
        elif name == "widths":
            c.widths = [_as_int("widths", v) for v in np.atleast_1d(value)]
        elif name == "coefficients":
            c.coefficients = _as_reals("coefficients", np.atleast_1d(value).tolist())
        elif name == "seed":
            c.seed = _as_seed(value)
        elif name in _INT:
            setattr(c, name, _as_int(name, value))
        else:
            setattr(c, name, _as_real(name, value))
    return c


def _config_dict(c: "_tms.SaeConfig") -> dict:
    return {name: (list(getattr(c, name)) if name in ("instances", "widths", "coefficients") else getattr(c, name))
            for name in _SETTINGS}


@dataclasses.dataclass
class SAEs:
    """S sparse autoencoders trained on one toy run, in grid order (toy instance, width, coefficient, restart).

    specs: arrays [S] toy_instance, width, coefficient (the L1 / L0 coefficient or k), restart;
    params: one dict per SAE of its tensors (sae_tensors: W_enc [m, d], b_enc, W_dec [d, m], b_dec, ...);
    metrics: arrays [S] (METRICS); features: arrays [S, n] per toy feature (latent: the assigned latent or -1,
    cosine, max_cosine, absorption, detectors); latents: one dict per SAE of arrays [d] (feature, precision,
    recall, frequency); loss [S] (the mean training loss over the last 1% of steps), loss_curve [S, C],
    curve_steps [C]; threshold [S] (BatchTopK's inference threshold).
    """

    config: dict
    toy: Run
    specs: dict
    params: list
    metrics: dict
    features: dict
    latents: list
    loss: np.ndarray
    loss_curve: np.ndarray
    curve_steps: np.ndarray
    threshold: np.ndarray
    resampled: np.ndarray
    seconds: float = 0.0
    threads: int = 0
    path: Optional[str] = None

    @property
    def S(self) -> int:
        return len(self.params)

    @property
    def kind(self) -> str:
        return self.config["kind"]

    def W_dec(self, s: int) -> np.ndarray:
        """SAE s's decoder [d, m]: row l is latent l's direction in the toy model's hidden space."""
        return self.params[s]["W_dec"]

    def W_enc(self, s: int) -> np.ndarray:
        """SAE s's encoder [m, d] (W_gate for the gated family)."""
        return self.params[s]["W_gate" if self.kind == "gated" else "W_enc"]

    def cosines(self, s: int) -> np.ndarray:
        """[n, d] cosine of each toy feature's direction W_i with each decoder row (0 for W_i = 0)."""
        W = np.asarray(self.toy.embedding[int(self.specs["toy_instance"][s])], dtype=np.float64)
        D = np.asarray(self.W_dec(s), dtype=np.float64)
        wn = np.linalg.norm(W, axis=1, keepdims=True)
        dn = np.linalg.norm(D, axis=1, keepdims=True)
        return (W / np.where(wn > 0, wn, 1)) @ (D / np.where(dn > 0, dn, 1)).T * (wn > 0)

    def encode(self, s: int, samples: int = 4096, seed: int = 0) -> dict:
        """SAE s on `samples` fresh samples of its toy instance (the evaluation stream of `seed`): a dict of x
        [samples, n], h [samples, m] (the toy's activations), z [samples, d] (the latents, at inference) and
        h_hat [samples, m]."""
        s = _as_int("sae", s)
        if not 0 <= s < self.S:
            raise ValueError(f"sae: {s} is out of range; allowed: 0 to {self.S - 1}")
        return _tms.sae_encode(config_from_dict(self.toy.config), self.toy._instance_specs(),
                               _float32_tensors(self.toy.weights), _sae_config(self.config),
                               int(self.specs["toy_instance"][s]), int(self.specs["width"][s]),
                               float(self.specs["coefficient"][s]), {k: np.ascontiguousarray(v, dtype=np.float32)
                                                                      for k, v in self.params[s].items()},
                               float(self.threshold[s]), _as_int("samples", samples), _as_seed(seed))

    def rows(self) -> list:
        """One dict per SAE: its settings, the toy instance's density, losses and every scalar metric."""
        out = []
        for s in range(self.S):
            k = int(self.specs["toy_instance"][s])
            row = dict(sae=s, kind=self.kind, toy_instance=k, density=float(self.toy.density[k]),
                       width=int(self.specs["width"][s]), coefficient=float(self.specs["coefficient"][s]),
                       restart=int(self.specs["restart"][s]), loss=float(self.loss[s]),
                       resampled=int(self.resampled[s]))
            for name in METRICS:
                v = self.metrics[name][s]
                row[name] = int(v) if np.issubdtype(np.asarray(v).dtype, np.integer) else float(v)
            out.append(row)
        return out

    def to_dataframe(self):
        """rows() as a pandas DataFrame. Needs pandas."""
        return _pandas().DataFrame(self.rows())

    def best(self) -> list:
        """Per (toy instance, width, coefficient), the restart with the lowest final loss: SAE indices."""
        best = {}
        for s in range(self.S):
            key = (int(self.specs["toy_instance"][s]), int(self.specs["width"][s]), float(self.specs["coefficient"][s]))
            if key not in best or self.loss[s] < self.loss[best[key]]:
                best[key] = s
        return sorted(best.values())

    def save(self, path: Union[str, os.PathLike], overwrite: bool = False) -> str:
        """Writes saes.npz (every SAE's tensors, the per-feature and per-latent arrays, losses and curves) and
        saes.json (the settings, the specs, the metrics, the toy run's folder), each to a temporary renamed
        into place, saes.json last. A folder with saes.json is refused unless overwrite."""
        path = os.fspath(path)
        if not overwrite and os.path.exists(os.path.join(path, "saes.json")):
            raise FileExistsError(f"path: '{path}' already holds saved SAEs; allowed: a new folder, or "
                                  "save(..., overwrite=True)")
        os.makedirs(path, exist_ok=True)
        arrays = {"loss": self.loss, "loss_curve": self.loss_curve, "curve_steps": self.curve_steps,
                  "threshold": self.threshold, "resampled": self.resampled}
        for s, p in enumerate(self.params):
            for name, a in p.items():
                arrays[f"sae{s}/{name}"] = a
            for name, a in self.latents[s].items():
                arrays[f"sae{s}/latent_{name}"] = a
        for name, a in self.features.items():
            arrays[f"feature_{name}"] = a
        for name, a in self.specs.items():
            arrays[f"spec_{name}"] = a
        for name, a in self.metrics.items():
            arrays[f"metric_{name}"] = a
        tmp = os.path.join(path, f"saes.npz.tmp.{os.getpid()}")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(path, "saes.npz"))
        meta = dict(format="tms-saes", format_version=FORMAT_VERSION, config=self.config, S=self.S,
                    toy_run=self.toy.path, seconds=self.seconds, threads=self.threads, rows=self.rows())
        tmp = os.path.join(path, f"saes.json.tmp.{os.getpid()}")
        with open(tmp, "w") as f:
            json.dump(meta, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(path, "saes.json"))
        self.path = path
        return path

    def __repr__(self) -> str:
        return (f"SAEs(kind={self.kind!r}, S={self.S}, widths={self.config['widths']}, "
                f"coefficients={self.config['coefficients']}, toy={self.toy.model!r} n={self.toy.n} m={self.toy.m})")


def _from_dict(config: dict, toy: Run, d: dict, path: Optional[str] = None) -> SAEs:
    return SAEs(config=config, toy=toy, specs=dict(d["specs"]), params=list(d["params"]), metrics=dict(d["metrics"]),
                features=dict(d["features"]), latents=list(d["latents"]), loss=d["final_loss"],
                loss_curve=d["curve_loss"], curve_steps=d["curve_steps"], threshold=d["threshold"],
                resampled=d["resampled"], seconds=float(d["seconds"]), threads=int(d["threads"]), path=path)


def train_saes(run: Run, *, progress: Union[bool, Callable[[float, int], Optional[bool]], None] = None,
               **settings) -> SAEs:
    """Trains a grid of SAEs on the toy run's frozen hidden activations and scores each against its features.

    The grid: instances (the toy run's instance indices; None: all) x widths x coefficients x restarts. Settings
    (defaults in sae_defaults(), from the engine): kind ("relu", "topk", "batch-topk", "jumprelu", "gated"),
    coefficients (relu, gated: the L1 coefficient; jumprelu: the L0 coefficient; topk: k; batch-topk: the mean
    k), steps, batch, lr, resample ("none", "simple", "advanced": ARENA's two variants, for relu, jumprelu and
    gated), resample_every, dead_window, resample_scale, aux_k and aux_coefficient (AuxK, topk families),
    initial_threshold and bandwidth (jumprelu), threshold_decay (batch-topk), eval_samples, seed, threads.
    progress: True for a progress line, or a callable(done, total) whose False cancels (KeyboardInterrupt).
    Bad settings raise ValueError naming the field; an unknown one TypeError."""
    if not isinstance(run, Run):
        raise TypeError(f"run: {type(run).__name__} is not a tms.Run; allowed: a trained or loaded run")
    c = _sae_config(settings)
    c.validate(run.K)
    total_steps = c.steps
    callback = _progress_callback(progress, total_steps)
    wrapped = None
    if callback is not None:
        S = len(_tms.sae_grid(c, run.K)["width"])
        wrapped = (lambda done, total: callback(done / max(1, S), total_steps))
    try:
        d = _tms.train_saes(config_from_dict(run.config), run._instance_specs(), _float32_tensors(run.weights), c,
                            wrapped)
    finally:
        if callback is not None and hasattr(callback, "close"):
            callback.close()
    return _from_dict(_config_dict(c), run, d)


def load_saes(path: Union[str, os.PathLike], run: Optional[Run] = None) -> SAEs:
    """SAEs saved by SAEs.save. The toy run is `run`, or the folder saes.json names (tms.load). A missing,
    truncated or mismatched file raises ValueError naming it."""
    from .api import load

    path = os.fspath(path)
    meta_path, npz_path = os.path.join(path, "saes.json"), os.path.join(path, "saes.npz")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"path: '{meta_path}' is not readable saved SAEs ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != "tms-saes" or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"path: '{meta_path}' is not a saes.json of format version {FORMAT_VERSION}")
    try:
        config = dict(meta["config"])
        S = int(meta["S"])
        if run is None:
            if not meta.get("toy_run"):
                raise ValueError("saes.json names no toy run folder; pass run=")
            run = load(meta["toy_run"])
        c = _sae_config(config)
        c.validate(run.K)
        with np.load(npz_path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        n = run.n
        specs = {k[5:]: a[k] for k in a if k.startswith("spec_")}
        # The SAEs are the grid the settings describe, in its order (a count, a setting or a family edited in
        # saes.json no longer matches the arrays).
        grid = _tms.sae_grid(c, run.K)
        if S != len(grid["width"]) or any(not np.array_equal(specs[name], grid[name]) for name in grid):
            raise ValueError(f"saes.npz's {len(specs.get('width', []))} SAEs are not the grid of saes.json's "
                             f"settings ({len(grid['width'])} SAEs on this run)")
        params, latents = [], []
        for s in range(S):
            d = int(specs["width"][s])
            tensors = {}
            for name, shape in _tms.sae_tensors(c.kind, run.m, d):
                arr = a[f"sae{s}/{name}"]
                if tuple(arr.shape) != tuple(shape) or arr.dtype != np.float32:
                    raise ValueError(f"'sae{s}/{name}' has shape {arr.shape}, dtype {arr.dtype}")
                tensors[name] = arr
            params.append(tensors)
            latents.append({name: a[f"sae{s}/latent_{name}"] for name in ("feature", "precision", "recall", "frequency")})
        metrics = {name: a[f"metric_{name}"] for name in METRICS}
        features = {name: a[f"feature_{name}"] for name in ("latent", "cosine", "max_cosine", "absorption", "detectors")}
        for name, arr in list(metrics.items()) + list(specs.items()):
            if arr.shape != (S,):
                raise ValueError(f"'{name}' has shape {arr.shape}; allowed: ({S},)")
        for name, arr in features.items():
            if arr.shape != (S, n):
                raise ValueError(f"'feature_{name}' has shape {arr.shape}; allowed: ({S}, {n})")
        if int(np.max(specs["toy_instance"], initial=0)) >= run.K:
            raise ValueError("the SAEs were trained on more toy instances than the run has")
    except KeyError as e:
        raise ValueError(f"path: '{path}' lacks {e}; allowed: a folder SAEs.save wrote") from None
    except (OSError, ValueError, TypeError, IndexError) as e:
        raise ValueError(f"path: '{path}' does not hold readable SAEs: {e}") from None
    return SAEs(config=config, toy=run, specs=specs, params=params, metrics=metrics, features=features,
                latents=latents, loss=a["loss"], loss_curve=a["loss_curve"], curve_steps=a["curve_steps"],
                threshold=a["threshold"], resampled=a["resampled"], seconds=float(meta.get("seconds", 0)),
                threads=int(meta.get("threads", 0)), path=path)
