"""The paper's claims for the reproduced experiments, each checked against the measurements of a run.

A check states what the paper says, what this run found (numbers taken from the run, never assumed) and a
verdict: "agrees", "partly" or "differs". Thresholds are named constants so the report can state them.
Features are numbered from 0 as in the arrays (W[k, i] is feature i; with I_i = base^i, feature 0 is the most
important). A run shorter than its target's default is not long enough to judge: its findings keep the verdict
the numbers give but are marked not meaningful (short_run, not_judged).
"""
from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Sequence

import numpy as np

from . import _tms

REPRESENTED = _tms.represented_norm  # ||W_i|| above this counts as represented (the paper: ~1 vs ~0)
SHARED = 0.1  # superposition measure above this: the feature shares its dimension
ANTIPODAL_COS = -0.9  # cos(W_i, W_j) below this: an antipodal pair
ORTHOGONAL_COS = 0.1  # |cos(W_i, W_j)| below this: orthogonal
SAME_GRAM = 0.1  # max |WᵀW difference| below this: the same solution
NEGATIVE_BIAS = -0.01  # b_i below this: a negative bias
PENTAGON_DEG = 15.0  # largest deviation of the gaps between the five directions from 72 degrees


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


def _features(indices) -> str:
    """Feature numbers as the arrays count them, from 0."""
    idx = [int(i) for i in indices]
    if not idx:
        return "none"
    # Compress runs: 0, 1, 2, 4 -> 0–2, 4
    parts, start, prev = [], idx[0], idx[0]
    for i in idx[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(f"{start}" if start == prev else f"{start}–{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts)


def _order(run, k):
    return np.argsort(-np.asarray(run.importance[k], dtype=np.float64), kind="stable")


def _instance(run, density: float) -> Optional[int]:
    """The instance of `run` at this density (the first one, if several)."""
    for k in range(run.K):
        if math.isclose(float(run.density[k]), density, rel_tol=1e-9):
            return k
    return None


def _cosines(W: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(W, axis=1)
    safe = np.where(norms > 0, norms, 1.0)
    U = W / safe[:, None]
    return U @ U.T


def _represented(run, k) -> np.ndarray:
    """Represented features of instance k as positions in importance order (0 = most important): the features'
    own numbers when the importances decrease, I_i = base^i, as in the basic and intro targets."""
    order = _order(run, k)
    return np.array([p for p, i in enumerate(order) if run.norms[k][i] > REPRESENTED], dtype=np.int64)


def _antipodal_pairs(run, k) -> list:
    order = _order(run, k)
    W = np.asarray(run.W[k], dtype=np.float64)[order]
    norms = np.linalg.norm(W, axis=1)
    cos = _cosines(W)
    pairs = []
    for i in range(run.n):
        for j in range(i + 1, run.n):
            if norms[i] > REPRESENTED and norms[j] > REPRESENTED and cos[i, j] < ANTIPODAL_COS:
                pairs.append((i, j))
    return pairs


def _pairs_text(pairs) -> str:
    return ", ".join(f"({i}, {j})" for i, j in pairs) if pairs else "none"


def _sorted_by_density(run) -> List[int]:
    return sorted(range(run.K), key=lambda k: (-float(run.density[k]), k))


def _verdict(ok: bool, partly: bool = False) -> str:
    return "agrees" if ok else ("partly" if partly else "differs")


# ---- basic results (E3, E4) -----------------------------------------------------------------------------------


def basic_findings(linear, relu, m: int) -> List[Finding]:
    """The claims of "Basic Results" (and its scaled-up version) for a linear and a ReLU output run."""
    out: List[Finding] = []
    top = set(range(m))
    if linear is not None:
        ks = _sorted_by_density(linear)
        sets = [_represented(linear, k).tolist() for k in ks]
        exact = [set(s) == top for s in sets]
        per = "; ".join(f"1−S = {float(linear.density[k]):g}: {len(s)}" + ("" if ok else f" (features {_features(s)})")
                        for k, s, ok in zip(ks, sets, exact))
        out.append(Finding(
            claim=f"The linear model always learns the top-m most important features (m = {m}), like the top "
                  "principal components.",
            source="Basic Results",
            found=f"represented features (‖Wᵢ‖ > {REPRESENTED:g}) per density: {per}. Exactly features "
                  f"{_features(range(m))} at {sum(exact)} of {len(exact)} densities.",
            verdict=_verdict(all(exact), sum(exact) * 2 >= len(exact))))
        dense = ks[0]
        G0 = linear.gram(dense)
        diffs = [float(np.abs(linear.gram(k) - G0).max()) for k in ks[1:]]
        if diffs:
            worst = int(np.argmax(diffs))
            same = [d < SAME_GRAM for d in diffs]
            out.append(Finding(
                claim="If optimized well enough, the linear model's solution does not depend on the sparsity "
                      "level.",
                source="Basic Results",
                found=f"largest |WᵀW − WᵀW(1−S = {float(linear.density[dense]):g})| entry per density: "
                      + "; ".join(f"{float(linear.density[k]):g}: {d:.3f}" for k, d in zip(ks[1:], diffs))
                      + f". Same solution (< {SAME_GRAM:g}) at {sum(same)} of {len(same)} sparser densities; the "
                      f"largest difference is at 1−S = {float(linear.density[ks[1:][worst]]):g}.",
                verdict=_verdict(all(same), sum(same) * 2 >= len(same))))
    if relu is None:
        return out
    ks = _sorted_by_density(relu)
    dense = ks[0]
    if linear is not None:
        kl = _sorted_by_density(linear)[0]
        d = float(np.abs(relu.gram(dense) - linear.gram(kl)).max())
        rep_r, rep_l = int(relu.represented[dense]), int(linear.represented[kl])
        out.append(Finding(
            claim="On dense features (1−S = 1) the ReLU output model behaves the same as the linear model.",
            source="Basic Results",
            found=f"at 1−S = {float(relu.density[dense]):g}: ReLU represents {rep_r} features, linear {rep_l}; "
                  f"largest |WᵀW(ReLU) − WᵀW(linear)| entry {d:.3f}.",
            verdict=_verdict(rep_r == rep_l and d < SAME_GRAM, rep_r == rep_l)))
    reps = [int(relu.represented[k]) for k in ks]
    fro = [float(relu.frobenius_sq[k]) for k in ks]
    drops = sum(1 for a, b in zip(reps, reps[1:]) if b < a)
    out.append(Finding(
        claim="As sparsity increases, superposition emerges: the ReLU output model represents more features "
              "than it has dimensions.",
        source="Basic Results",
        found="represented features / ‖W‖_F² per density: "
              + "; ".join(f"1−S = {float(relu.density[k]):g}: {r} / {f:.2f}" for k, r, f in zip(ks, reps, fro))
              + f" (m = {m}).",
        verdict=_verdict(reps[-1] > m and drops == 0 and reps[0] <= m, reps[-1] > m)))
    # Where superposition first appears: which features share dimensions, and are they the less important?
    first = next((k for k in ks if int(relu.represented[k]) > m), None)
    if first is not None:
        order = _order(relu, first)
        rep = _represented(relu, first)
        sup = np.asarray(relu.superposition[first])[order]
        shared = [p for p in rep if sup[p] > SHARED]
        alone = [p for p in rep if sup[p] <= SHARED]
        least_first = bool(shared) and (not alone or min(shared) > max(alone))
        most_untouched = 0 in alone
        sparsest = ks[-1]
        sup_last = np.asarray(relu.superposition[sparsest])[_order(relu, sparsest)]
        rep_last = _represented(relu, sparsest)
        shared_top_last = [p for p in rep_last if p < m and sup_last[p] > SHARED]
        out.append(Finding(
            claim="Superposition starts with the less important features and gradually affects the most "
                  "important ones.",
            source="Basic Results",
            found=f"at 1−S = {float(relu.density[first]):g} (the densest with more than m represented) features "
                  f"{_features(shared)} share dimensions (superposition > {SHARED:g}) and features "
                  f"{_features(alone)} stay orthogonal; at 1−S = {float(relu.density[sparsest]):g}, "
                  f"{len(shared_top_last)} of the top {m} features share dimensions.",
            verdict=_verdict(least_first and len(shared_top_last) > 0, most_untouched)))
        pairs = _antipodal_pairs(relu, first)
        paired = {i for pair in pairs for i in pair}
        out.append(Finding(
            claim="Initially the superposition is organised in antipodal pairs (one feature's vector is the "
                  "negative of the other's).",
            source="Basic Results and figure annotation",
            found=f"at 1−S = {float(relu.density[first]):g}: antipodal pairs (cos < {ANTIPODAL_COS:g}) "
                  f"{_pairs_text(pairs)}; {len(paired & set(shared))} of the {len(shared)} features in "
                  "superposition belong to one.",
            verdict=_verdict(bool(shared) and set(shared) <= paired, bool(pairs))))
    else:
        out.append(Finding(
            claim="Superposition starts with the less important features, first as antipodal pairs.",
            source="Basic Results",
            found=f"no density of this run represents more than m = {m} features.",
            verdict="differs"))
    sparsest = ks[-1]
    b = np.asarray(relu.b[sparsest], dtype=np.float64)
    rep = relu.norms[sparsest] > REPRESENTED
    negative = int(np.sum((b < NEGATIVE_BIAS) & rep))
    G = relu.gram(sparsest)
    off = G[np.ix_(rep, rep)] - np.diag(np.diag(G[np.ix_(rep, rep)]))
    positive = float(off.max()) if off.size else 0.0
    dense_negative = int(np.sum((np.asarray(relu.b[dense]) < NEGATIVE_BIAS) & (relu.norms[dense] > REPRESENTED)))
    shared = int(np.sum(rep & (np.asarray(relu.superposition[sparsest]) > SHARED)))
    out.append(Finding(
        claim="At high sparsity the model puts all features in superposition and keeps packing in more, with "
              "positive interference and negative biases.",
        source="Basic Results, figure annotation",
        found=f"at 1−S = {float(relu.density[sparsest]):g}: {int(rep.sum())} of {relu.n} features represented, "
              f"{shared} of them sharing dimensions and {negative} with b_i < {NEGATIVE_BIAS:g} (at 1−S = "
              f"{float(relu.density[dense]):g}: {dense_negative}); largest positive Wᵢ·Wⱼ between represented "
              f"features {positive:.2f}.",
        verdict=_verdict(shared == int(rep.sum()) and negative > 0 and positive > SHARED,
                         negative > 0 and positive > SHARED)))
    return out


# ---- introduction figure (E1) ---------------------------------------------------------------------------------


def _angles_deg(W: np.ndarray) -> np.ndarray:
    return np.sort(np.degrees(np.arctan2(W[:, 1], W[:, 0])) % 360.0)


def intro_findings(relu, densities: Sequence[float] = (1.0, 0.2, 0.1)) -> List[Finding]:
    """The introduction figure's three claims for n = 5, m = 2."""
    out: List[Finding] = []
    d_dense, d_mid, d_sparse = densities
    k = _instance(relu, d_dense)
    if k is not None:
        order = _order(relu, k)
        W = np.asarray(relu.W[k], dtype=np.float64)[order]
        rep = _represented(relu, k)
        cos = float(abs(_cosines(W)[0, 1]))
        out.append(Finding(
            claim="Dense features (S = 0): the two most important features get dedicated orthogonal dimensions; "
                  "the others are not embedded (like PCA).",
            source="Introduction figure",
            found=f"represented features {_features(rep)} (norms "
                  + ", ".join(f"{v:.2f}" for v in np.linalg.norm(W, axis=1)) + f"); |cos(W₀, W₁)| = {cos:.3f}.",
            verdict=_verdict(rep.tolist() == [0, 1] and cos < ORTHOGONAL_COS, rep.tolist() == [0, 1])))
    k = _instance(relu, d_mid)
    if k is not None:
        order = _order(relu, k)
        W = np.asarray(relu.W[k], dtype=np.float64)[order]
        rep = _represented(relu, k)
        pairs = _antipodal_pairs(relu, k)
        four = rep.tolist() == [0, 1, 2, 3]
        out.append(Finding(
            claim=f"S = {1 - d_mid:.0%}: the four most important features are represented as antipodal pairs; "
                  "the least important is not embedded.",
            source="Introduction figure",
            found=f"represented features {_features(rep)} (norms "
                  + ", ".join(f"{v:.2f}" for v in np.linalg.norm(W, axis=1))
                  + f"); antipodal pairs (cos < {ANTIPODAL_COS:g}) {_pairs_text(pairs)}.",
            verdict=_verdict(four and len(pairs) == 2, len(pairs) >= 1 or four)))
    k = _instance(relu, d_sparse)
    if k is not None:
        order = _order(relu, k)
        W = np.asarray(relu.W[k], dtype=np.float64)[order]
        rep = _represented(relu, k)
        gaps = np.diff(np.concatenate([_angles_deg(W), [_angles_deg(W)[0] + 360.0]]))
        deviation = float(np.abs(gaps - 72.0).max())
        cos = _cosines(W)
        positive = float((cos - np.eye(5)).max())
        out.append(Finding(
            claim=f"S = {1 - d_sparse:.0%}: all five features are embedded as a pentagon, with positive "
                  "interference.",
            source="Introduction figure",
            found=f"represented features {_features(rep)}; angles between neighbouring directions "
                  + ", ".join(f"{g:.0f}°" for g in gaps)
                  + f" (largest deviation from 72°: {deviation:.0f}°); largest positive cos(Wᵢ, Wⱼ) {positive:.2f}.",
            verdict=_verdict(len(rep) == 5 and deviation < PENTAGON_DEG and positive > 0,
                             len(rep) == 5)))
    return out
