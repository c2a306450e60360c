"""Non-uniform superposition (paper E10): n = 5 features of equal importance in m = 2 dimensions, all at density
1−S = 0.05 except one (the varied feature), whose density is the base times a relative density r.

The sweep trains one engine call per r (the relative densities are one vector per run, train_config's
relative_density = [r, 1, 1, 1, 1]) with several restarts each, then:

  * classifies every model: "pentagon" (all five features represented), "digons" (the varied feature not
    represented, the other four in two antipodal pairs) or "other";
  * evaluates every model's expected loss at every r (expected_loss): exact over the 2^n patterns of active
    features, each pattern's conditional loss averaged over one fixed set of uniform points, so that all models
    and all r share the same points and the loss curves are smooth;
  * draws two loss curves against r: the best pentagon-family model trained at r, and the best digon-family
    model found anywhere in the sweep evaluated at r (a digon solution ignores the varied feature, so the same
    weights are a digon solution at every r; the best one found stands for the family everywhere);
  * finds where they cross (crossing), interpolated linearly in log r.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

import numpy as np

from . import _tms, science
from .claims import cosines

__all__ = ["FAMILIES", "family", "canonical_pentagon", "canonical_digons", "pattern_losses",
           "expected_loss", "crossing", "NonuniformSweep", "analyse", "relative_grid", "relative_vector"]

FAMILIES = ("pentagon", "digons", "other")
VARIED = 0  # the feature whose density is varied


def relative_vector(r: float, n: int, varied: int = VARIED) -> np.ndarray:
    """train's relative_density for n features with the varied one at r: [r, 1, 1, ...] for varied = 0."""
    out = np.ones(n, dtype=np.float64)
    out[varied] = float(r)
    return out


def family(W, varied: int = VARIED, represented: float = None) -> str:
    """"pentagon" when every feature is represented (‖Wᵢ‖ > science.represented_norm), "digons" when the varied
    feature is not and the others form antipodal pairs (cos < science.antipodal_pair_cos, each feature in exactly
    one pair), else "other"."""
    W = np.asarray(W, dtype=np.float64)
    threshold = science.represented_norm if represented is None else represented
    rep = np.linalg.norm(W, axis=1) > threshold
    if rep.all():
        return "pentagon"
    others = [i for i in range(W.shape[0]) if i != varied]
    if rep[varied] or not rep[others].all() or len(others) % 2:
        return "other"
    cos = cosines(W)
    for i in others:
        partners = [j for j in others if j != i and cos[i, j] < science.antipodal_pair_cos]
        if len(partners) != 1:
            return "other"
    return "digons"


def _rotate(W: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return W @ np.array([[c, s], [-s, c]])  # rows rotated by +angle


def canonical_pentagon(W, varied: int = VARIED) -> np.ndarray:
    """W rotated so that the varied feature points along +y, then reflected (x → −x) so that the feature nearest
    to it in angle lies at x ≥ 0."""
    W = np.asarray(W, dtype=np.float64)
    V = _rotate(W, np.pi / 2 - np.arctan2(W[varied, 1], W[varied, 0]))
    others = [i for i in range(W.shape[0]) if i != varied and np.linalg.norm(V[i]) > 0]
    if others:
        angles = np.arctan2(V[others, 1], V[others, 0]) - np.pi / 2
        angles = (angles + np.pi) % (2 * np.pi) - np.pi
        nearest = others[int(np.argmin(np.abs(angles)))]
        if V[nearest, 0] < 0:
            V = V * np.array([-1.0, 1.0])
    return V


def canonical_digons(W, reference: int = 1, varied: int = VARIED) -> np.ndarray:
    """W rotated so that the reference feature points along +x, then reflected (y → −y) so that the first other
    represented feature off the x axis has y > 0."""
    W = np.asarray(W, dtype=np.float64)
    V = _rotate(W, -np.arctan2(W[reference, 1], W[reference, 0]))
    for i in range(W.shape[0]):
        if i in (reference, varied):
            continue
        norm = np.linalg.norm(V[i])
        if norm > 0 and abs(V[i, 1]) > 0.1 * norm:
            if V[i, 1] < 0:
                V = V * np.array([1.0, -1.0])
            break
    return V


def pattern_losses(W, b, importance, points: int = 4096, seed: int = 0) -> np.ndarray:
    """For models W [M, n, m], b [M, n] of the ReLU output model: the mean of Σᵢ Iᵢ (xᵢ − x'ᵢ)² over inputs with
    each activity pattern, [M, 2^n], computed by the engine (relu_pattern_losses) on one fixed set of `points`
    uniform draws, the same for every model and pattern."""
    W = np.ascontiguousarray(W, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    I = np.ascontiguousarray(importance, dtype=np.float32)
    return np.array([_tms.relu_pattern_losses(W[k], b[k], I, points, seed) for k in range(W.shape[0])])


def expected_loss(table: np.ndarray, densities: Sequence[float]) -> np.ndarray:
    """The expected training loss (the mean over features, like the engine's) of models whose pattern_losses are
    `table` [M, 2^n], at per-feature densities [n] (the engine's expected_loss_from_patterns)."""
    d = [float(v) for v in densities]
    return np.array([_tms.expected_loss_from_patterns(list(row), d) for row in np.atleast_2d(table)])


def crossing(r: Sequence[float], upper: Sequence[float], lower: Sequence[float]) -> List[float]:
    """The values of r where upper − lower changes sign between neighbouring points where both are defined (NaN
    marks a gap), interpolated linearly in log r; ascending."""
    r = np.asarray(r, dtype=np.float64)
    diff = np.asarray(upper, dtype=np.float64) - np.asarray(lower, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(diff))
    out = []
    for a, c in zip(ok[:-1], ok[1:]):
        da, dc = diff[a], diff[c]
        if da == 0:
            out.append(float(r[a]))
        elif da * dc < 0:
            t = da / (da - dc)
            out.append(float(np.exp(np.log(r[a]) + t * (np.log(r[c]) - np.log(r[a])))))
    if ok.size and diff[ok[-1]] == 0:
        out.append(float(r[ok[-1]]))
    return sorted(set(out))


@dataclasses.dataclass
class NonuniformSweep:
    """The analysed sweep. Index j runs over the relative densities (ascending), k over one run's restarts."""

    relative: np.ndarray  # [R] relative densities of the varied feature
    base_density: float
    runs: list  # [R] Run, one engine call each
    families: list  # [R][K] family of every restart
    loss: np.ndarray  # [R, K] expected loss of every restart at its own r
    best: np.ndarray  # [R] restart with the lowest final training loss (the engine's)
    pentagon_best: np.ndarray  # [R] restart of the lowest expected loss among pentagons (-1: none)
    digons_best: np.ndarray  # [R] the same among digons trained at this r (-1: none)
    pentagon_loss: np.ndarray  # [R] the pentagon curve (NaN: no pentagon at this r)
    digons_loss: np.ndarray  # [R] the digon curve: the best digon solution of the sweep evaluated at each r
    digons_source: Optional[tuple]  # (j, k) of the digon solution behind most of the digon curve
    crossings: list  # every r where the curves cross
    points: int

    @property
    def crossing_r(self) -> float:
        """The crossing of the pentagon and digon curves (the largest, when noise gives several); NaN if none."""
        return self.crossings[-1] if self.crossings else float("nan")

    def best_family(self, j: int) -> str:
        return self.families[j][int(self.best[j])]

    def densities(self, r: float) -> list:
        """Each feature's density when the varied one's relative density is r."""
        return science.effective_density(self.base_density, relative_vector(r, self.runs[0].n)).tolist()


def analyse(relative: Sequence[float], base_density: float, runs: list, points: int = 4096,
            seed: int = 0) -> NonuniformSweep:
    """Classifies and evaluates the sweep's models (see the module's docstring)."""
    relative = np.asarray(relative, dtype=np.float64)
    R = len(runs)
    families = [[family(run.W[k]) for k in range(run.K)] for run in runs]
    tables = [pattern_losses(run.W, run.b, run.importance[0], points=points, seed=seed) for run in runs]
    dens = [science.effective_density(base_density, relative_vector(r, runs[0].n)).tolist() for r in relative]
    loss = np.array([expected_loss(tables[j], dens[j]) for j in range(R)])
    best = np.array([int(np.argmin(np.where(np.isfinite(run.loss), run.loss, np.inf))) for run in runs])

    def best_of(j, name):
        ks = [k for k, f in enumerate(families[j]) if f == name]
        return min(ks, key=lambda k: loss[j, k]) if ks else -1

    pentagon_best = np.array([best_of(j, "pentagon") for j in range(R)])
    digons_best = np.array([best_of(j, "digons") for j in range(R)])
    pentagon_loss = np.array([loss[j, k] if k >= 0 else np.nan for j, k in enumerate(pentagon_best)])
    # Every digon solution found anywhere, evaluated at every r: the lowest is the digon curve.
    digon_models = [(j, k) for j in range(R) for k, f in enumerate(families[j]) if f == "digons"]
    digons_loss = np.full(R, np.nan)
    source = None
    if digon_models:
        at = np.array([[expected_loss(tables[j][k:k + 1], dens[i])[0] for (j, k) in digon_models]
                       for i in range(R)])  # [R, D]
        pick = np.argmin(at, axis=1)
        digons_loss = at[np.arange(R), pick]
        source = digon_models[int(np.bincount(pick).argmax())]
    return NonuniformSweep(relative=relative, base_density=float(base_density), runs=list(runs),
                           families=families, loss=loss, best=best, pentagon_best=pentagon_best,
                           digons_best=digons_best, pentagon_loss=pentagon_loss, digons_loss=digons_loss,
                           digons_source=source, crossings=crossing(relative, pentagon_loss, digons_loss),
                           points=points)


def relative_grid(count: int, low: float, high: float, include_one: bool = True) -> np.ndarray:
    """`count` relative densities log-spaced from low to high, with 1 (the uniform case) added when missing."""
    r = np.logspace(np.log10(low), np.log10(high), int(count))
    if include_one and low <= 1 <= high and not np.isclose(r, 1.0, rtol=1e-6).any():
        r = np.sort(np.append(r, 1.0))
    return r
