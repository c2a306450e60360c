"""Superposition in a privileged basis (paper E18): the ReLU hidden-layer model h = ReLU(W x), x' = ReLU(Wᵀh + b)
with n = 10 features (I_i = 0.75^i) in m = 5 neurons, against the same grid of the ReLU output model (the paper's
"linear-hidden" comparison: h = W x, no ReLU on the neurons).

The neuron measurements (top share, features per neuron, primary feature, the monosemantic / polysemantic / dead
counts and their thresholds, tms.science's monosemantic_share and dead_neuron_norm) and the names of the paper's
solutions (privileged_regime: represented features and monosemantic neurons -> a regime) are the engine's
(src/core/analysis_neurons.hpp), quoted here through the binding. What lives here is the paper's table of where
each regime appears (the 1−S ranges it prints), the reduction of a sweep to one summary per density, and the
analysis the findings and figures share.
"""
from __future__ import annotations

import collections
import dataclasses
import math
from typing import List, Optional, Tuple

import numpy as np

from . import _tms

__all__ = ["PAPER_REGIMES", "PrivilegedSweep", "expected_regime", "regime_counts", "neurons", "neuron_order",
           "analyse", "N_FEATURES", "M_NEURONS", "OTHER"]

N_FEATURES, M_NEURONS = 10, 5  # the sizes the paper's regimes are named for (E18)

# The regimes the engine names (privileged_regime), each with the (represented, monosemantic) pair it is named
# for, read off the engine's own function over every pair n = 10, m = 5 allows.
_NAMED: dict = collections.defaultdict(list)
for _rep in range(N_FEATURES + 1):
    for _mono in range(M_NEURONS + 1):
        _NAMED[_tms.privileged_regime(N_FEATURES, M_NEURONS, _rep, _mono)].append((_rep, _mono))
OTHER = "other"
assert OTHER in _NAMED, "privileged_regime: no pair is named 'other'"

# The paper's table (E18, "Regimes", approximate 1−S ranges as printed), densest first: (regime, low, high). A
# density belongs to the first row with low <= 1−S <= high, so the shared edge 0.5 goes to "all monosemantic"
# (printed "≥ ~0.5"). Two rows are printed as one value ("0.15 (narrow)", "0.12"); densities between the printed
# ranges (e.g. 0.1) have no expected regime and are not counted.
PAPER_REGIMES: Tuple[Tuple[str, float, float], ...] = (
    ("all monosemantic neurons", 0.5, 1.0),
    ("three features in two neurons", 0.2, 0.5),
    ("five features in three neurons", 0.15, 0.15),
    ("six features in four neurons", 0.12, 0.12),
    ("eight features in five neurons", 0.05, 0.08),
    ("features are pairs of neurons", 0.0, 0.04),
)
PAPER_RANGES = {name: ("≥ ~0.5" if lo == 0.5 else "≤ ~0.04" if lo == 0.0 else f"~{lo:g}" if lo == hi
                       else f"~{lo:g} – {hi:g}") for name, lo, hi in PAPER_REGIMES}
for _name, _, _ in PAPER_REGIMES:  # every row of the paper's table is a regime the engine names
    assert _name in _NAMED and _name != OTHER, f"privileged_regime does not name '{_name}'"


def regime_counts(name: str) -> Tuple[int, int]:
    """The (represented features, monosemantic neurons) the engine names `name` for (n = 10, m = 5). Raises
    ValueError for 'other' or a name the engine does not give."""
    pairs = _NAMED.get(name, [])
    if name == OTHER or len(pairs) != 1:
        raise ValueError(f"regime: '{name}' is not one named solution; allowed: "
                         + ", ".join(n for n in _NAMED if n != OTHER))
    return pairs[0]


def expected_regime(density: float) -> Optional[str]:
    """The regime the paper's table names at this 1−S, or None between its printed ranges."""
    for name, lo, hi in PAPER_REGIMES:
        if lo - 1e-9 <= density <= hi + 1e-9:
            return name
    return None


def neurons(W) -> "_tms.NeuronMetrics":
    """The engine's measure_neurons of one W [n, m] (row i = feature i's weights into the m neurons)."""
    return _tms.measure_neurons(np.ascontiguousarray(W, dtype=np.float32))


def neuron_order(W, importance) -> np.ndarray:
    """The neurons sorted by the importance of their primary feature (most important first; among features of
    equal importance by feature, so that a feature's neurons sit together; then by the second feature's
    importance), dead neurons last."""
    nm = neurons(W)
    imp = np.asarray(importance, dtype=np.float64)

    def key(j):
        p, s = nm.primary[j], nm.secondary[j]
        return (p < 0, -imp[p] if p >= 0 else 0.0, p, -imp[s] if s >= 0 else 0.0, j)

    return np.array(sorted(range(len(nm.norm)), key=key), dtype=np.int64)


@dataclasses.dataclass
class PrivilegedSweep:
    """One summary per density (densest first) of the lowest-loss restart of each model."""

    density: np.ndarray  # [D], descending
    hidden: object  # the relu-hidden Run's best restarts, in the order of `density`
    linear: Optional[object]  # the relu (linear-hidden) Run's best restarts at the same densities, or None
    regime: List[str]  # [D] privileged_regime of the best relu-hidden model
    expected: List[Optional[str]]  # [D] the paper's regime at that 1−S (None between printed ranges)
    represented: np.ndarray  # [D] represented features of the best relu-hidden model
    monosemantic: np.ndarray  # [D] its monosemantic neurons
    polysemantic: np.ndarray  # [D]
    dead: np.ndarray  # [D]
    top_share: np.ndarray  # [D, m] per neuron (the engine's order)
    features: np.ndarray  # [D, m] features per neuron (the engine's participation ratio; 0 for a dead neuron)
    linear_top_share: Optional[np.ndarray]  # [D, m] for the linear-hidden model
    linear_monosemantic: Optional[np.ndarray]  # [D]
    restart_regimes: List[dict]  # [D] regime -> number of relu-hidden restarts in it (all restarts)
    restarts: int

    @property
    def features_per_live_neuron(self) -> np.ndarray:
        """[D] the mean features per neuron over the live neurons (NaN when every neuron is dead)."""
        live = self.features > 0
        total = np.where(live, self.features, 0.0).sum(axis=1)
        count = live.sum(axis=1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    @property
    def agree(self) -> List[Optional[bool]]:
        """Per density: whether the regime found is the paper's (None where the paper names none)."""
        return [None if e is None else r == e for r, e in zip(self.regime, self.expected)]

    def instance(self, density: float) -> Optional[int]:
        for j, d in enumerate(self.density):
            if math.isclose(float(d), density, rel_tol=1e-9):
                return j
        return None


def _best_by_density(run) -> Tuple[object, np.ndarray]:
    """The run's lowest-loss restart per density, densest first."""
    best = run.best_restarts()
    order = sorted(range(best.K), key=lambda k: (-float(best.density[k]), k))
    best = best.select(np.array(order, dtype=np.int64))
    return best, np.asarray(best.density, dtype=np.float64)


def analyse(hidden_run, linear_run=None) -> PrivilegedSweep:
    """Reduces a relu-hidden sweep (every restart of every density) and, optionally, the relu sweep of the same
    grid to one summary per density: the lowest-loss restart's regime, counts and top shares."""
    if hidden_run.model != "relu-hidden":
        raise ValueError(f"hidden_run: a '{hidden_run.model}' run; allowed: a 'relu-hidden' run")
    best, density = _best_by_density(hidden_run)
    n, m = best.n, best.m
    metrics = [neurons(best.W[k]) for k in range(best.K)]
    represented = np.asarray(best.represented, dtype=np.int64)
    mono = np.array([nm.monosemantic for nm in metrics], dtype=np.int64)
    regime = [_tms.privileged_regime(n, m, int(r), int(c)) for r, c in zip(represented, mono)]
    sized = (n, m) == (N_FEATURES, M_NEURONS)
    expected = [expected_regime(float(d)) if sized else None for d in density]
    counts = []
    for d in density:
        ks = [k for k in range(hidden_run.K) if math.isclose(float(hidden_run.density[k]), float(d), rel_tol=1e-9)]
        c: dict = collections.Counter()
        for k in ks:
            c[_tms.privileged_regime(n, m, int(hidden_run.represented[k]), neurons(hidden_run.W[k]).monosemantic)] += 1
        counts.append(dict(c.most_common()))
    lin = lin_top = lin_mono = None
    if linear_run is not None:
        lin, lin_density = _best_by_density(linear_run)
        if lin_density.shape != density.shape or not np.allclose(lin_density, density):
            raise ValueError("linear_run: its densities are not the relu-hidden run's")
        lin_metrics = [neurons(lin.W[k]) for k in range(lin.K)]
        lin_top = np.array([nm.top_share for nm in lin_metrics], dtype=np.float64)
        lin_mono = np.array([nm.monosemantic for nm in lin_metrics], dtype=np.int64)
    restarts = int(hidden_run.config.get("restarts", 1))
    return PrivilegedSweep(density=density, hidden=best, linear=lin, regime=regime, expected=expected,
                           represented=represented, monosemantic=mono,
                           polysemantic=np.array([nm.polysemantic for nm in metrics], dtype=np.int64),
                           dead=np.array([nm.dead for nm in metrics], dtype=np.int64),
                           top_share=np.array([nm.top_share for nm in metrics], dtype=np.float64),
                           features=np.array([nm.features for nm in metrics], dtype=np.float64),
                           linear_top_share=lin_top, linear_monosemantic=lin_mono, restart_regimes=counts,
                           restarts=restarts)
