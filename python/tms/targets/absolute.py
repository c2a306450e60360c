"""The absolute-value model's neurons, shared by abs-small (E19) and computation (E20, E21); not a target itself.

The model: h = ReLU(W_in x), y' = ReLU(W_out h + b), untied, no hidden bias, target |x|, signed inputs (x_i = 0
with probability S, else U[-1, 1)). Every measurement is the engine's (src/core/analysis_neurons.hpp, through the
binding): measure_neurons on W_in (neuron j's input weights are column j; monosemantic when one feature holds at
least science.monosemantic_share of its squared weight), measure_abs_sides (the positive- and negative-side
neurons of each feature and their gains: the E19 pairs), abs_one_hot_outputs (the features the model computes)
and asymmetric_neurons (the E21 motif). What lives here is the reduction of a run to one model per density and
the footnote-15 rescaling the figures draw with.
"""
from __future__ import annotations

import dataclasses
from typing import List

import numpy as np

from .. import _tms, science
from .common import engine_settings, train_single

__all__ = ["AbsModel", "measure", "best_by_density", "analyse", "rescaled", "HIGHLY_POLYSEMANTIC"]

# The paper's words for a polysemantic neuron, as a judging tolerance on the engine's top share (max_i W_ij² /
# ‖w_j‖², polysemantic below science.monosemantic_share): "highly polysemantic" when no feature holds half of the
# neuron's squared weight, "slightly polysemantic" (a primary feature with secondary ones, E20 claim 3) otherwise.
HIGHLY_POLYSEMANTIC = 0.5


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


@dataclasses.dataclass
class AbsModel:
    """The measurements of one abs model (one instance)."""

    density: float
    loss: float
    importance: np.ndarray  # [n]
    neurons: object  # _tms.NeuronMetrics of W_in
    sides: object  # _tms.AbsSides
    outputs: object  # _tms.AbsOutputs
    asymmetric: list  # [_tms.AsymmetricNeuron], every asymmetric neuron (the motif: .motif)
    represented: int  # ‖W_in,i‖ > science.represented_norm
    superposition: np.ndarray  # [n] of W_in's rows

    @property
    def m(self) -> int:
        return len(self.neurons.norm)

    @property
    def live(self) -> int:
        return self.m - int(self.neurons.dead)

    @property
    def monosemantic(self) -> int:
        return int(self.neurons.monosemantic)

    @property
    def polysemantic(self) -> int:
        return int(self.neurons.polysemantic)

    def live_neurons(self) -> List[int]:
        return [j for j in range(self.m) if self.neurons.primary[j] >= 0]

    def polysemantic_neurons(self) -> List[int]:
        return [j for j in self.live_neurons() if self.neurons.top_share[j] < science.monosemantic_share]

    def monosemantic_neurons(self) -> List[int]:
        return [j for j in self.live_neurons() if self.neurons.top_share[j] >= science.monosemantic_share]

    @property
    def highly_polysemantic(self) -> int:
        """Live neurons whose top share is below HIGHLY_POLYSEMANTIC."""
        return sum(1 for j in self.live_neurons() if self.neurons.top_share[j] < HIGHLY_POLYSEMANTIC)

    @property
    def slightly_polysemantic(self) -> int:
        """Polysemantic neurons with a primary feature (top share at least HIGHLY_POLYSEMANTIC)."""
        return self.polysemantic - self.highly_polysemantic

    @property
    def features_per_neuron(self) -> float:
        """The mean participation ratio ‖w_j‖⁴ / Σ_i W_ij⁴ of the live neurons (NaN when none is live)."""
        live = [self.neurons.features[j] for j in self.live_neurons()]
        return float(np.mean(live)) if live else float("nan")

    @property
    def pairs(self) -> int:
        return int(self.sides.pairs)

    @property
    def monosemantic_pairs(self) -> int:
        return int(self.sides.monosemantic_pairs)

    @property
    def computed(self) -> int:
        return int(self.outputs.computed)

    def computed_features(self) -> List[int]:
        o = self.outputs
        t = science.abs_computed_output
        return [i for i in range(len(o.positive)) if o.positive[i] >= t and o.negative[i] >= t]

    def computed_in_superposition(self) -> int:
        """Computed features without a monosemantic neuron pair of their own: their |x_i| comes through
        neurons shared with other features."""
        return sum(1 for i in self.computed_features() if not self.sides.monosemantic_pair[i])

    def motifs(self, opposite_signs: bool = True) -> list:
        """The E21 motif (asymmetric neurons that compute both features, with an inhibitor): those with
        opposite-sign input weights (the paper's form) or those with equal signs."""
        return [t for t in self.asymmetric if t.motif and bool(t.opposite_signs) == opposite_signs]

    def one_sided(self) -> list:
        """Asymmetric, inhibited neurons that compute only the weak feature (the strong one only interferes)."""
        return [t for t in self.asymmetric if t.inhibited and not t.computes_both]

    def mean_primary_index(self, neurons: List[int]) -> float:
        """The mean importance rank of the primary features of `neurons` (0: the most important), NaN for none."""
        rank = np.empty(len(self.importance), dtype=np.int64)
        rank[np.argsort(-self.importance, kind="stable")] = np.arange(len(self.importance))
        return float(np.mean([rank[self.neurons.primary[j]] for j in neurons])) if neurons else float("nan")


def measure(run, k: int) -> AbsModel:
    """The engine's measurements of instance k of an abs run."""
    if run.model != "abs":
        raise ValueError(f"run: a '{run.model}' run; allowed: an 'abs' run")
    W_in, W_out, b = _f32(run.W_in[k]), _f32(run.W_out[k]), _f32(run.b[k])
    return AbsModel(density=float(run.density[k]), loss=float(run.loss[k]),
                    importance=np.asarray(run.importance[k], dtype=np.float64),
                    neurons=_tms.measure_neurons(W_in), sides=_tms.measure_abs_sides(W_in, W_out),
                    outputs=_tms.abs_one_hot_outputs(W_in, W_out, b),
                    asymmetric=list(_tms.asymmetric_neurons(W_in, W_out, b)), represented=int(run.represented[k]),
                    superposition=np.asarray(run.superposition[k], dtype=np.float64))


def best_by_density(run):
    """The run's lowest-loss restart per density, densest first (a Run)."""
    best = run.best_restarts()
    order = sorted(range(best.K), key=lambda k: (-float(best.density[k]), k))
    return best.select(np.array(order, dtype=np.int64))


def analyse(run):
    """(the best restarts densest first, their AbsModels)."""
    best = best_by_density(run)
    return best, [measure(best, k) for k in range(best.K)]


def plan(target, s: dict) -> list:
    """An abs target's one engine call: the abs model at its densities, into the run folder abs/."""
    return [("abs", dict(model="abs", features=s["features"], hidden=s["hidden"], importance=s["importance"],
                         density=[float(d) for d in s["densities"]], restarts=s["restarts"], lr=s.get("lr"),
                         **engine_settings(s)))]


def train_and_analyse(job):
    """An abs target's one engine call (common.train_single), then analyse: (run, best, models)."""
    s, settings = job.settings, job.trainings[0][1]
    run = train_single(job, f"the abs model (n={s['features']}, m={s['hidden']}, "
                            f"{len(settings['density'])} densities x {settings['restarts']} restarts)")
    return (run, *analyse(run))


def rescaled(W_in, W_out):
    """The paper's footnote 15: every neuron j rescaled so that its largest |W_in,ij| is 1, W_out's column j by
    the inverse factor (the function the model computes is unchanged: h_j scales by α, its read-out by 1/α).
    Dead columns (all zero) are left as they are. Returns (W_in, W_out) [n, m] as float64."""
    W_in = np.asarray(W_in, dtype=np.float64)
    W_out = np.asarray(W_out, dtype=np.float64)
    scale = np.abs(W_in).max(axis=0)
    alpha = np.where(scale > 0, 1.0 / np.where(scale > 0, scale, 1.0), 1.0)
    return W_in * alpha[None, :], W_out / alpha[None, :]
