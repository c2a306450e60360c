"""What every target's claim checks share: the Finding, the verdict, the short-run marking and a few helpers.

A check states what the paper says, what this run found (numbers taken from the run, never assumed) and a
verdict: "agrees", "partly" or "differs". The checks themselves live beside their experiment (tms.targets);
the thresholds that classify a model are the engine's (tms.science), and the tolerances that judge agreement
with the paper are named constants beside the check that uses them, so the report can state them. Features are
numbered from 0 as in the arrays (W[k, i] is feature i; with I_i = base^i, feature 0 is the most important). A
run shorter than its target's default is not long enough to judge: its findings keep the verdict the numbers
give but are marked not meaningful (short_run, not_judged).
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

import numpy as np

__all__ = ["Finding", "short_run", "not_judged", "verdict", "features_in_superposition", "cosines", "angles_deg", "AGREE_SHARE",
           "PENTAGON_DEG"]

# Report tolerances shared by more than one target.
AGREE_SHARE = 0.8  # share of cells (phase diagrams) or densities (privileged basis) as the paper's for "agrees";
# half of it for "partly"
PENTAGON_DEG = 15.0  # largest deviation of the gaps between five directions from 72° for a regular pentagon


@dataclasses.dataclass
class Finding:
    claim: str  # what the paper says
    source: str  # where (section / figure)
    found: str  # what this run found
    verdict: str  # "agrees", "partly", "differs" or "n/a"
    meaningful: bool = True  # False: the run is too short for the verdict to say anything (see not_judged)
    reason: str = ""  # why it is not meaningful

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def short_run(steps: int, default_steps: int, quick: bool) -> Optional[str]:
    """Why a run of `steps` training steps cannot judge its target's claims (default_steps is the target's
    default; quick: the run was asked for with --quick, which also shrinks the experiment), or None when it can."""
    if quick:
        return (f"a quick run (--quick, a smoke test): {steps:,} training steps where the target's default is "
                f"{default_steps:,}, and smaller settings")
    if steps < default_steps:
        return f"a short run: {steps:,} training steps where the target's default is {default_steps:,}"
    return None


def not_judged(findings: Sequence[Finding], reason: Optional[str]) -> List[Finding]:
    """The findings marked not meaningful for `reason` (as they are when reason is None)."""
    if reason is None:
        return list(findings)
    return [dataclasses.replace(f, meaningful=False, reason=reason) for f in findings]


def verdict(ok: bool, partly: bool = False) -> str:
    return "agrees" if ok else ("partly" if partly else "differs")


def features_in_superposition(norms, superposition) -> int:
    """Features that are represented (‖W_i‖ > represented_norm) and share their dimension (superposition measure
    Σ_j≠i (Ŵ_i·W_j)² > superposition_shared): the engine's thresholds (tms.science)."""
    from . import science

    norms, superposition = np.asarray(norms), np.asarray(superposition)
    return int(np.sum((norms > science.represented_norm) & (superposition > science.superposition_shared)))


def cosines(W: np.ndarray) -> np.ndarray:
    """cos(W_i, W_j) of every pair of rows (0 against a zero row)."""
    norms = np.linalg.norm(W, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    U = W / safe[:, None]
    return U @ U.T


def angles_deg(W: np.ndarray) -> np.ndarray:
    """The directions of the rows of W [n, 2] in degrees, from 0 to 360, ascending."""
    return np.sort(np.degrees(np.arctan2(W[:, 1], W[:, 0])) % 360.0)
