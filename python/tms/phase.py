"""Phase diagrams of the ReLU output model (paper E5: n = 2, m = 1; E6: n = 3, m = 2).

One engine call trains the whole grid: the importance axis holds one explicit vector per relative importance r
(the last feature is the "extra" one: [1, r] for n = 2, [1, 1, r] for n = 3), the density axis the values of
1 − S, and the restarts the models per cell. Each model is classified by the engine's phase_classify (the extra
feature not learned / dedicated / in superposition / other), each cell reduced with the paper's protocol
(phase_reduce_cell: drop the highest-loss model, majority of the rest), and compared with the closed-form
"toy model of the toy model" (phase_predict).

    d = tms.phase.phase_diagram("2-1", grid=20, models=10, steps=10_000)
    d.phase          # [D, R] empirical phase codes (PHASES), rows = densities, columns = r
    d.theory         # [D, R] phase_predict's phase at the same points
    d.agreement      # share of cells where the two agree
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from . import _tms, api

__all__ = ["PROBLEMS", "PHASES", "PhaseDiagram", "phase_diagram", "train_settings", "classify", "predict", "log_grid"]

PROBLEMS = {"2-1": _tms.PhaseProblem.n2_m1, "3-2": _tms.PhaseProblem.n3_m2}
# Phase codes in arrays, in the engine's enum order.
PHASES = ("not learned", "dedicated", "superposition", "other")
_CLASSES = (_tms.PhaseClass.not_learned, _tms.PhaseClass.dedicated, _tms.PhaseClass.superposition,
            _tms.PhaseClass.other)
_CODE = {c: i for i, c in enumerate(_CLASSES)}
CANDIDATES = ("extra_ignored", "extra_dedicated", "others_antipodal", "extra_antipodal")
_CANDIDATE_CODE = {getattr(_tms.PhaseCandidate, name): i for i, name in enumerate(CANDIDATES)}


def _problem(problem) -> "_tms.PhaseProblem":
    if isinstance(problem, _tms.PhaseProblem):
        return problem
    if problem not in PROBLEMS:
        raise ValueError(f"problem: unknown problem '{problem}'; allowed: {', '.join(PROBLEMS)}")
    return PROBLEMS[problem]


def log_grid(low: float, high: float, count: int) -> np.ndarray:
    """count values evenly spaced in log between low and high (both included)."""
    if count < 1:
        raise ValueError(f"grid: {count} points; allowed: at least 1")
    return np.logspace(np.log10(low), np.log10(high), count) if count > 1 else np.array([float(low)])


def classify(W: np.ndarray, b: np.ndarray) -> int:
    """The phase code (index into PHASES) of one trained model, W [n, m], b [n]: the engine's phase_classify."""
    return _CODE[_tms.phase_classify(np.ascontiguousarray(W, dtype=np.float32),
                                     np.ascontiguousarray(b, dtype=np.float32))]


def predict(problem, density: float, r: float) -> tuple:
    """(phase code, candidate code, expected loss) of the closed-form prediction at (1 − S, r)."""
    p = _tms.phase_predict(_problem(problem), float(density), float(r))
    return _CODE[p.phase], _CANDIDATE_CODE[p.candidate], float(p.loss)


@dataclasses.dataclass(eq=False)
class PhaseDiagram:
    problem: str  # "2-1" or "3-2"
    r: np.ndarray  # [R] relative importance of the extra feature
    density: np.ndarray  # [D] 1 - S
    run: "api.Run"  # every model: K = D x R x models, density outermost, then r, restarts innermost
    models: int  # models per cell
    model_phase: np.ndarray  # [D, R, models] each model's phase code
    phase: np.ndarray  # [D, R] the cell's phase code after the paper's reduction
    votes: np.ndarray  # [D, R] kept models of the majority phase
    kept: np.ndarray  # [D, R] models kept (models - 1)
    dropped: np.ndarray  # [D, R] the restart that was dropped (highest loss)
    mean_loss: np.ndarray  # [D, R] mean training loss of the kept models
    theory: np.ndarray  # [D, R] phase_predict's phase code
    theory_candidate: np.ndarray  # [D, R] phase_predict's candidate code (CANDIDATES)

    @property
    def agree(self) -> np.ndarray:
        return self.phase == self.theory

    @property
    def agreement(self) -> float:
        """Share of cells whose empirical phase equals the closed-form prediction."""
        return float(self.agree.mean())

    def counts(self) -> dict:
        return {name: int((self.phase == i).sum()) for i, name in enumerate(PHASES)}

    def instance(self, di: int, ri: int, restart: int) -> int:
        return (di * len(self.r) + ri) * self.models + restart


def _axes(r, density, grid: int) -> tuple:
    r = log_grid(0.1, 10.0, grid) if r is None else np.asarray(r, dtype=np.float64)
    density = log_grid(1.0, 0.01, grid) if density is None else np.asarray(density, dtype=np.float64)
    return r, density


def train_settings(problem="2-1", *, r: Optional[Sequence[float]] = None, density: Optional[Sequence[float]] = None,
                   grid: int = 20, models: int = 10, **settings) -> dict:
    """The tms.train settings of phase_diagram's engine call (the arguments as there), so that they can be
    validated (tms.make_config) before anything is trained. Raises ValueError for fewer than 2 models."""
    pb = _problem(problem)
    if settings.get("data", "independent") != "independent":
        raise ValueError(f"data: '{settings['data']}'; allowed: independent (the phase theory assumes independent "
                         "features)")
    n, m = _tms.phase_features(pb), _tms.phase_hidden(pb)
    r, density = _axes(r, density, grid)
    if models < 2:
        raise ValueError(f"models: {models}; allowed: at least 2 (the highest-loss model is dropped)")
    importances = [[1.0] * (n - 1) + [float(x)] for x in r]
    return dict(model="relu", features=n, hidden=m, importances=importances, density=[float(d) for d in density],
                restarts=models, **settings)


def phase_diagram(problem: str = "2-1", *, r: Optional[Sequence[float]] = None,
                  density: Optional[Sequence[float]] = None, grid: int = 20, models: int = 10,
                  progress=None, **settings) -> PhaseDiagram:
    """Trains and reduces a phase diagram in one engine call.

    r: the extra feature's relative importances [default: `grid` values log-spaced over 0.1 ... 10];
    density: 1 − S [default: `grid` values log-spaced over 1 ... 0.01]; models: models per cell (at least 2: the
    highest-loss one is dropped). Other settings (steps, batch, seed, threads, ...) go to tms.train.
    """
    pb = _problem(problem)
    r, density = _axes(r, density, grid)
    run = api.train(progress=progress, **train_settings(pb, r=r, density=density, models=models, **settings))
    D, R = len(density), len(r)
    model_phase = np.zeros((D, R, models), dtype=np.int64)
    phase = np.zeros((D, R), dtype=np.int64)
    votes, kept, dropped = (np.zeros((D, R), dtype=np.int64) for _ in range(3))
    mean_loss = np.zeros((D, R))
    theory, theory_candidate = np.zeros((D, R), dtype=np.int64), np.zeros((D, R), dtype=np.int64)
    for di in range(D):
        for ri in range(R):
            ks = [(di * R + ri) * models + j for j in range(models)]
            classes = [_tms.phase_classify(run.W[k], run.b[k]) for k in ks]
            model_phase[di, ri] = [_CODE[c] for c in classes]
            cell = _tms.phase_reduce_cell([float(run.loss[k]) for k in ks], classes)
            phase[di, ri], votes[di, ri], kept[di, ri] = _CODE[cell.phase], cell.votes, cell.kept
            dropped[di, ri], mean_loss[di, ri] = cell.dropped, cell.mean_loss
            theory[di, ri], theory_candidate[di, ri], _ = predict(pb, density[di], r[ri])
    return PhaseDiagram(problem=[k for k, v in PROBLEMS.items() if v == pb][0], r=r, density=density, run=run,
                        models=models, model_phase=model_phase, phase=phase, votes=votes, kept=kept,
                        dropped=dropped, mean_loss=mean_loss, theory=theory, theory_candidate=theory_candidate)


def boundaries(problem, densities: np.ndarray) -> list:
    """The analytic phase boundaries as polylines (label, r [N], density [N]) over the given densities:
    the lines of analysis_phase.hpp (phase_superposition_lower/upper, r = 1, p = 4/7)."""
    pb = _problem(problem)
    p = np.asarray(densities, dtype=np.float64)
    triple = _tms.phase_triple_density
    below = p[p < triple]
    lower = np.array([_tms.phase_superposition_lower(float(x)) for x in below])
    lines = [("not learned | superposition", lower, below)]
    if pb == _tms.PhaseProblem.n2_m1:
        upper = np.array([_tms.phase_superposition_upper(float(x)) for x in below])
        lines.append(("superposition | dedicated", upper, below))
        above = np.concatenate([[triple], p[p >= triple]])
        lines.append(("not learned | dedicated", np.ones_like(above), above))
    else:
        lines.append(("r = 1", np.ones(2), np.array([p.min(), p.max()])))
        lines.append(("W ⊥ [1,1,0] | W ⊥ [1,0,0]", np.array([1.0, 1e9]), np.array([triple, triple])))
    return lines
