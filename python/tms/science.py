"""The science definitions the Python side uses, each with one home.

The classifier thresholds and constants are the engine's (src/core/metrics.hpp and analysis_*.hpp), read through
the binding (`tms._tms.science`), never retyped: a report that states a threshold formats it from here, so the
text and the classification cannot disagree. Tolerances that only judge how closely a run agrees with the paper
live beside the experiment that uses them (tms.targets).

    represented_norm         ||W_i|| above this: a represented feature
    superposition_shared     sum_{j!=i} (W^_i . W_j)^2 above this: the feature shares its dimension
    antipodal_pair_cos       cos(W_i, W_j) below this: an antipodal pair (a digon), strict enough to leave out
                             the pentagon's cos 144° = -0.81
    geometry_interference    |cos(W_i, W_j)| above this: the two interfere (one tegum factor); at or below it
                             they are orthogonal
    geometry_dimensionality  D_i within this of a polytope's fraction: on that fraction
    geometry_rank            the finder's relative singular-value cut-off
    phase_orthogonal         |cos| at most this: the phase classifier's "dedicated" (looser than the above: it
                             sorts coarse, short-trained grids into three classes)
    phase_antipodal          cos at most minus this: the phase classifier's "superposition" (pointing against
                             a feature, the n = 3 triangle included; not the strict antipodal pair)
    phase_triple_density     1-S of the phase diagrams' triple point (4/7)
    phase_no_superposition_density  1-S from which the closed form has no superposition at any r (4/5)
    set_orthogonal           two features of a set are orthogonal when |cos| is below this, side by side (or
                             opposed) from it on
    set_collapsed            ... and collapsed onto one direction when cos is above this (E13)
    monosemantic_share       a neuron's top share at or above this: monosemantic
    dead_neuron_norm         ||w_j|| below this: a dead neuron
    negative_bias            b_i below this: a negative bias
    abs_side_gain            the abs model: a side of feature i (its neurons firing on one sign of x_i, reading
                             out into y'_i) counts when its gain sum |W_in_ij| W_out_ij is at least this
    abs_computed_output      the abs model: feature i is computed when y'_i(+e_i) and y'_i(-e_i) are at least this
    asymmetric_ratio         the asymmetric motif (E21): a's interference on b through the neuron at least this
                             many times b's on a
    asymmetric_path_gain     ... and each feature's own path |W_in_ij| W_out_ij through the neuron at least this
    inhibition_share         ... and another neuron firing with x_a cancels at least this share of a's
                             interference on b
    sae_recovered_cosine     an SAE recovers a feature when its matched decoder row has at least this cosine
    sae_absorption_cosine, sae_absorbed_share, sae_detector_precision, sae_split_share
                             absorption and splitting (analysis_sae.hpp defines them)
"""
from __future__ import annotations

import numpy as np

from . import _tms

__all__ = ["ENGINE_NAMES", "effective_density", *(
    "represented_norm", "superposition_shared", "antipodal_pair_cos", "geometry_represented",
    "geometry_interference", "geometry_dimensionality", "geometry_rank", "phase_represented", "phase_orthogonal",
    "phase_antipodal", "phase_triple_density", "phase_no_superposition_density", "set_orthogonal", "set_collapsed", "monosemantic_share",
    "dead_neuron_norm", "negative_bias", "abs_side_gain", "abs_computed_output", "asymmetric_ratio",
    "asymmetric_path_gain", "inhibition_share", "sae_recovered_cosine", "sae_absorption_cosine", "sae_absorbed_share",
    "sae_detector_precision", "sae_split_share")]

_engine = _tms.science

represented_norm = _engine.represented_norm
superposition_shared = _engine.superposition_shared
antipodal_pair_cos = _engine.antipodal_pair_cos
geometry_represented = _engine.geometry_represented
geometry_interference = _engine.geometry_interference
geometry_dimensionality = _engine.geometry_dimensionality
geometry_rank = _engine.geometry_rank
phase_represented = _engine.phase_represented
phase_orthogonal = _engine.phase_orthogonal
phase_antipodal = _engine.phase_antipodal
phase_triple_density = _engine.phase_triple_density
phase_no_superposition_density = _engine.phase_no_superposition_density
set_orthogonal = _engine.set_orthogonal
set_collapsed = _engine.set_collapsed
monosemantic_share = _engine.monosemantic_share
dead_neuron_norm = _engine.dead_neuron_norm
negative_bias = _engine.negative_bias
abs_side_gain = _engine.abs_side_gain
abs_computed_output = _engine.abs_computed_output
asymmetric_ratio = _engine.asymmetric_ratio
asymmetric_path_gain = _engine.asymmetric_path_gain
inhibition_share = _engine.inhibition_share
sae_recovered_cosine = _engine.sae_recovered_cosine
sae_absorption_cosine = _engine.sae_absorption_cosine
sae_absorbed_share = _engine.sae_absorbed_share
sae_detector_precision = _engine.sae_detector_precision
sae_split_share = _engine.sae_split_share

# Every constant the binding's science module holds; the names above are exactly these.
ENGINE_NAMES = tuple(sorted(name for name in dir(_engine) if not name.startswith("_")))


def effective_density(density: float, relative) -> np.ndarray:
    """Each feature's density in an instance of density `density` (1 − S) with per-feature relative densities
    `relative` (train's relative_density): min(1, density × relative_i), the rule of the engine's sampler and
    loss split (config.hpp). An array shaped like `relative`."""
    return np.minimum(1.0, float(density) * np.asarray(relative, dtype=np.float64))
