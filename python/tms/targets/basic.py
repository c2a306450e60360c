"""The basic results (paper E1, E3, E4): `intro` (n = 5 features in m = 2 dimensions, the introduction figure),
`basic` (n = 20, m = 5, linear and ReLU output models across sparsity) and `basic-large` (the same with n = 80,
m = 20). One engine call per model trains every density (and restart); the lowest-loss restart per density is
shown.

The claims classify with the engine's thresholds (tms.science): represented ‖Wᵢ‖ > represented_norm; sharing a
dimension, superposition measure > superposition_shared; an antipodal pair, cos < antipodal_pair_cos (−0.9, not
the phase classifier's looser −0.4: the pentagon's non-neighbours, cos −0.81, are no pair); orthogonal
dimensions and positive interference against geometry_interference (the geometry finder's |cos| above which two
features interfere, not the phase classifier's looser 0.3); a negative bias, b_i < negative_bias.
"""
from __future__ import annotations

import html
import math
import os
import time
from typing import List, Optional, Sequence

import numpy as np

from .. import api, claims, figures, report, science
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder

__all__ = ["TARGETS", "basic_findings", "intro_findings"]

SAME_GRAM = 0.1  # largest |WᵀW difference| entry below this: the same solution (judging the paper's "the same")

BASIC_DENSITIES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
# --quick: short training and at most two restarts (steps and batch not set: the engine preset's, 10,000 and 1024).
QUICK = dict(steps=400, batch=256, max_restarts=2)


def _quick(defaults: dict) -> dict:
    return dict(defaults, steps=QUICK["steps"], batch=QUICK["batch"],
                restarts=min(defaults["restarts"], QUICK["max_restarts"]))


def _plan(target: Target, s: dict) -> list:
    """One engine call per model, every density (and restart) in it."""
    return [(model, dict(model=model, features=s["features"], hidden=s["hidden"], importance=s["importance"],
                         density=list(s["density"]), restarts=s["restarts"], **engine_settings(s)))
            for model in s["models"]]


def _model_name(model: str) -> str:
    return "Linear" if model == "linear" else "ReLU output"


def _train(job: Job):
    """Trains every model (saved once all have trained, so that a failed or interrupted run leaves the old runs
    as they were); returns (runs, best) by model, best the lowest-loss restart per density."""
    s = job.settings
    restarts = int(s["restarts"])
    runs, best = {}, {}
    for model, train_settings in job.trainings:
        folder = os.path.join(job.out, model)
        job.log(f"tms reproduce {job.target.name}: training the {_model_name(model).lower()} model "
                f"(n={s['features']}, m={s['hidden']}, {len(s['density'])} densities x {restarts} restart(s)) -> "
                f"{folder}")
        run = api.train(progress=job.progress, **train_settings)
        runs[model] = run
        best[model] = run.best_restarts() if restarts > 1 else run
        job.log(f"  {run.seconds:.1f} s; represented features per instance: {run.represented.tolist()}")
    for model, _ in job.trainings:
        runs[model].save(os.path.join(job.out, model), overwrite=job.overwrite)
    return runs, best


def _run(job: Job) -> dict:
    start = time.monotonic()
    t, s, out = job.target, job.settings, job.out
    os.makedirs(out, exist_ok=True)
    runs, best = _train(job)
    models = list(s["models"])
    restarts = int(s["restarts"])
    first = runs[models[0]].config
    steps_used = first["steps"]
    settings = (f"n = {s['features']}, m = {s['hidden']}, I = {s['importance']:g}^i, {steps_used:,} steps, "
                f"batch {first['batch']}")
    fig_settings = (f"n = {s['features']}, m = {s['hidden']}, $I_i = {s['importance']:g}^i$, {steps_used:,} steps, "
                    f"batch {first['batch']}")
    figs: List[dict] = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    restart_note = f", the lowest-loss of {restarts} restarts at each density" if restarts > 1 else ""
    if t.name == "intro":
        relu = best["relu"]
        add(figures.vectors_grid(relu, suptitle=f"ReLU output model, {fig_settings}"), "intro_vectors",
            "The columns Wᵢ of W drawn as vectors in the 2-D hidden space, coloured by importance, at 1−S = 1, "
            f"0.2 and 0.1 (sparsity 0%, 80%, 90%){restart_note}.")
        add(figures.basic_grid(columns=figures.basic_columns(None, relu),
                               suptitle=f"ReLU output model, {fig_settings}"), "intro_grid", "WᵀW with the bias b beside it, and the feature norms ‖Wᵢ‖ coloured by superposition, "
            "for the same models.")
        findings = intro_findings(relu, s["density"])
    else:
        add(figures.basic_grid(best.get("linear"), best.get("relu"), suptitle=fig_settings), f"{t.name}_grid",
            "One column per model: the linear model, then the ReLU output model from dense to sparse. Top: WᵀW and "
            "the bias b (blue −1, white 0, red +1; features from most to least important). Bottom: ‖Wᵢ‖ coloured "
            f"by superposition Σⱼ≠ᵢ(Ŵᵢ·Wⱼ)² (dark blue 0, yellow ≥ 1); the dashed line marks m{restart_note}.")
        if "linear" in best:
            lin = best["linear"]
            cols = [(lin, k, f"Linear\n1−S = {float(lin.density[k]):g}")
                    for k in sorted(range(lin.K), key=lambda k: -float(lin.density[k]))]
            add(figures.basic_grid(columns=cols, suptitle=f"Linear model at every density, {fig_settings}"),
                f"{t.name}_linear", "The linear model at every density: the paper expects the same solution "
                "(the top m features) regardless of sparsity.")
        findings = basic_findings(best.get("linear"), best.get("relu"), s["hidden"])
    for model in models:
        add(figures.loss_curves(runs[model]), f"{t.name}_loss_{model}",
            f"{_model_name(model)} model: training loss of every instance (and restart) against steps.")
    run_entries = [dict(key=model, name=f"{_model_name(model)} model", run=runs[model], folder=model + "/",
                        chosen=runs[model].best_restart_indices() if restarts > 1 else None) for model in models]
    intro_html = (f"<p>{html.escape(t.about)}</p><p>Paper: {html.escape(t.source)}. Training: the companion "
                  f"notebook's recipe (AdamW, lr {first['lr']:g}, weight decay {first['weight_decay']:g}, a fresh "
                  f"batch every step), {settings}{html.escape(restart_note)}. Each model's run folder can be reopened "
                  "with <code>tms.load()</code> or <code>tms analyze</code>.</p>")
    summary = dict(settings=settings, restarts=restarts,
                   runs={m: dict(folder=os.path.join(out, m), seconds=runs[m].seconds,
                                 represented=best[m].represented.tolist(),
                                 density=best[m].density.tolist(), loss=best[m].loss.tolist()) for m in models})
    result = report.write(job, start=start, findings=findings, figures=figs, runs=run_entries,
                          intro_html=intro_html, summary=summary,
                          numbering=f"feature 0 is the most important (I_i = {s['importance']:g}^i)")
    return dict(result, best=best)


def _target(name: str, title: str, source: str, about: str, **defaults) -> Target:
    return Target(name=name, title=title, source=source, about=about, defaults=defaults, quick=_quick(defaults),
                  plan=_plan, run=_run)


TARGETS = (
    _target("intro", "Five features in two dimensions (the introduction figure)",
            "Elhage et al. 2022, introduction",
            "A ReLU output model x' = ReLU(WᵀWx + b) with n = 5 features of importance I_i = 0.9^i in m = 2 hidden "
            "dimensions, trained at feature densities 1−S = 1, 0.2 and 0.1 (sparsity 0%, 80%, 90%). The paper fits "
            "each model several times and keeps the solution with the lowest loss; so does this run.",
            features=5, hidden=2, importance=0.9, density=(1.0, 0.2, 0.1), models=("relu",), restarts=10),
    _target("basic", "Basic results: the linear and the ReLU output model across sparsity",
            "Elhage et al. 2022, section \"Basic Results\"",
            "n = 20 features of importance I_i = 0.7^i in m = 5 hidden dimensions: a linear model x' = WᵀWx + b "
            "and a ReLU output model x' = ReLU(WᵀWx + b), each trained at feature densities 1−S from 1 (dense) "
            "to 0.001 (very sparse).",
            features=20, hidden=5, importance=0.7, density=BASIC_DENSITIES, models=("linear", "relu"), restarts=1),
    _target("basic-large", "Basic results, scaled up: n = 80, m = 20",
            "Elhage et al. 2022, section \"Basic Results\"",
            "The basic experiment with n = 80 features and m = 20 hidden dimensions, importance increased to "
            "I_i = 0.9^i to account for having more features. The paper observes \"essentially a rescaled "
            "version\" of the n = 20, m = 5 result.",
            features=80, hidden=20, importance=0.9, density=BASIC_DENSITIES, models=("linear", "relu"), restarts=1),
)


# ---- claim helpers: features in importance order ---------------------------------------------------------------


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


def _represented(run, k) -> np.ndarray:
    """Represented features of instance k as positions in importance order (0 = most important): the features'
    own numbers when the importances decrease, I_i = base^i, as in these targets."""
    order = _order(run, k)
    return np.array([p for p, i in enumerate(order) if run.norms[k][i] > science.represented_norm], dtype=np.int64)


def _antipodal_pairs(run, k) -> list:
    order = _order(run, k)
    W = np.asarray(run.W[k], dtype=np.float64)[order]
    norms = np.linalg.norm(W, axis=1)
    cos = claims.cosines(W)
    pairs = []
    for i in range(run.n):
        for j in range(i + 1, run.n):
            if (norms[i] > science.represented_norm and norms[j] > science.represented_norm
                    and cos[i, j] < science.antipodal_pair_cos):
                pairs.append((i, j))
    return pairs


def _pairs_text(pairs) -> str:
    return ", ".join(f"({i}, {j})" for i, j in pairs) if pairs else "none"


def _sorted_by_density(run) -> List[int]:
    return sorted(range(run.K), key=lambda k: (-float(run.density[k]), k))


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
            found=f"represented features (‖Wᵢ‖ > {science.represented_norm:g}) per density: {per}. Exactly features "
                  f"{_features(range(m))} at {sum(exact)} of {len(exact)} densities.",
            verdict=claims.verdict(all(exact), sum(exact) * 2 >= len(exact))))
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
                verdict=claims.verdict(all(same), sum(same) * 2 >= len(same))))
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
            verdict=claims.verdict(rep_r == rep_l and d < SAME_GRAM, rep_r == rep_l)))
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
        verdict=claims.verdict(reps[-1] > m and drops == 0 and reps[0] <= m, reps[-1] > m)))
    # Where superposition first appears: which features share dimensions, and are they the less important?
    first = next((k for k in ks if int(relu.represented[k]) > m), None)
    if first is not None:
        order = _order(relu, first)
        rep = _represented(relu, first)
        sup = np.asarray(relu.superposition[first])[order]
        shared = [p for p in rep if sup[p] > science.superposition_shared]
        alone = [p for p in rep if sup[p] <= science.superposition_shared]
        least_first = bool(shared) and (not alone or min(shared) > max(alone))
        most_untouched = 0 in alone
        sparsest = ks[-1]
        sup_last = np.asarray(relu.superposition[sparsest])[_order(relu, sparsest)]
        rep_last = _represented(relu, sparsest)
        shared_top_last = [p for p in rep_last if p < m and sup_last[p] > science.superposition_shared]
        out.append(Finding(
            claim="Superposition starts with the less important features and gradually affects the most "
                  "important ones.",
            source="Basic Results",
            found=f"at 1−S = {float(relu.density[first]):g} (the densest with more than m represented) features "
                  f"{_features(shared)} share dimensions (superposition > {science.superposition_shared:g}) and "
                  f"features {_features(alone)} stay orthogonal; at 1−S = {float(relu.density[sparsest]):g}, "
                  f"{len(shared_top_last)} of the top {m} features share dimensions.",
            verdict=claims.verdict(least_first and len(shared_top_last) > 0, most_untouched)))
        pairs = _antipodal_pairs(relu, first)
        paired = {i for pair in pairs for i in pair}
        out.append(Finding(
            claim="Initially the superposition is organised in antipodal pairs (one feature's vector is the "
                  "negative of the other's).",
            source="Basic Results and figure annotation",
            found=f"at 1−S = {float(relu.density[first]):g}: antipodal pairs (cos < {science.antipodal_pair_cos:g}) "
                  f"{_pairs_text(pairs)}; {len(paired & set(shared))} of the {len(shared)} features in "
                  "superposition belong to one.",
            verdict=claims.verdict(bool(shared) and set(shared) <= paired, bool(pairs))))
    else:
        out.append(Finding(
            claim="Superposition starts with the less important features, first as antipodal pairs.",
            source="Basic Results",
            found=f"no density of this run represents more than m = {m} features.",
            verdict="differs"))
    sparsest = ks[-1]
    b = np.asarray(relu.b[sparsest], dtype=np.float64)
    rep = relu.norms[sparsest] > science.represented_norm
    negative = int(np.sum((b < science.negative_bias) & rep))
    G = relu.gram(sparsest)
    off = G[np.ix_(rep, rep)] - np.diag(np.diag(G[np.ix_(rep, rep)]))
    positive = float(off.max()) if off.size else 0.0
    dense_negative = int(np.sum((np.asarray(relu.b[dense]) < science.negative_bias)
                                & (relu.norms[dense] > science.represented_norm)))
    shared = int(np.sum(rep & (np.asarray(relu.superposition[sparsest]) > science.superposition_shared)))
    out.append(Finding(
        claim="At high sparsity the model puts all features in superposition and keeps packing in more, with "
              "positive interference and negative biases.",
        source="Basic Results, figure annotation",
        found=f"at 1−S = {float(relu.density[sparsest]):g}: {int(rep.sum())} of {relu.n} features represented, "
              f"{shared} of them sharing dimensions and {negative} with b_i < {science.negative_bias:g} (at 1−S = "
              f"{float(relu.density[dense]):g}: {dense_negative}); largest positive Wᵢ·Wⱼ between represented "
              f"features {positive:.2f}.",
        verdict=claims.verdict(shared == int(rep.sum()) and negative > 0 and positive > science.geometry_interference,
                         negative > 0 and positive > science.geometry_interference)))
    return out


# ---- introduction figure (E1) ---------------------------------------------------------------------------------


def intro_findings(relu, densities: Sequence[float] = (1.0, 0.2, 0.1)) -> List[Finding]:
    """The introduction figure's three claims for n = 5, m = 2."""
    out: List[Finding] = []
    d_dense, d_mid, d_sparse = densities
    k = _instance(relu, d_dense)
    if k is not None:
        order = _order(relu, k)
        W = np.asarray(relu.W[k], dtype=np.float64)[order]
        rep = _represented(relu, k)
        cos = float(abs(claims.cosines(W)[0, 1]))
        out.append(Finding(
            claim="Dense features (S = 0): the two most important features get dedicated orthogonal dimensions; "
                  "the others are not embedded (like PCA).",
            source="Introduction figure",
            found=f"represented features {_features(rep)} (norms "
                  + ", ".join(f"{v:.2f}" for v in np.linalg.norm(W, axis=1)) + f"); |cos(W₀, W₁)| = {cos:.3f}.",
            # Orthogonal: |cos| below the geometry finder's interference tolerance, so the two features would
            # not be joined in one tegum factor (the phase classifier's 0.3 is looser: coarse, short grids).
            verdict=claims.verdict(rep.tolist() == [0, 1] and cos < science.geometry_interference,
                                   rep.tolist() == [0, 1])))
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
                  + f"); antipodal pairs (cos < {science.antipodal_pair_cos:g}) {_pairs_text(pairs)}.",
            verdict=claims.verdict(four and len(pairs) == 2, len(pairs) >= 1 or four)))
    k = _instance(relu, d_sparse)
    if k is not None:
        order = _order(relu, k)
        W = np.asarray(relu.W[k], dtype=np.float64)[order]
        rep = _represented(relu, k)
        gaps = np.diff(np.concatenate([claims.angles_deg(W), [claims.angles_deg(W)[0] + 360.0]]))
        deviation = float(np.abs(gaps - 72.0).max())
        cos = claims.cosines(W)
        positive = float((cos - np.eye(5)).max())
        out.append(Finding(
            claim=f"S = {1 - d_sparse:.0%}: all five features are embedded as a pentagon, with positive "
                  "interference.",
            source="Introduction figure",
            found=f"represented features {_features(rep)}; angles between neighbouring directions "
                  + ", ".join(f"{g:.0f}°" for g in gaps)
                  + f" (largest deviation from 72°: {deviation:.0f}°); largest positive cos(Wᵢ, Wⱼ) {positive:.2f}.",
            verdict=claims.verdict(len(rep) == 5 and deviation < claims.PENTAGON_DEG and positive > 0,
                             len(rep) == 5)))
    return out
