"""Correlated and anticorrelated features (paper E11–E13): the ReLU output model on sets of features that fire
together (correlated: a set is all zero or all non-zero) or exclude each other (anticorrelated: all zero or
exactly one non-zero), drawn by the engine's set sources (`tms train --data correlated|anticorrelated`).

    correlated   (E11a–c) m = 2: two correlated pairs, two anticorrelated pairs, three correlated pairs
    local-bases  (E12)    two sets of ten correlated features in m = 10: WᵀW near the identity inside each set
    collapse     (E13)    three correlated pairs in m = 2 across density: how many sets collapse to (a+b)/√2
    dynamics-correlated (E15) two sets of three correlated features in m = 3 through training: the regimes

Every pair of a set is classified by the engine (analysis_sets.hpp, `tms.science.set_orthogonal`,
`set_collapsed`, `antipodal_pair_cos`): collapsed, side by side, orthogonal, opposed, antipodal, or unlearned.
"""
from __future__ import annotations

import html
import os
import time
from typing import List

import numpy as np

from .. import _tms, api, claims, figures, report, science
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder, recipe, train_single

__all__ = ["TARGETS", "SetModel", "correlated_findings", "local_bases_findings", "collapse_findings", "pca_loss",
           "dynamics_findings", "regime", "octahedron", "PLATEAU",
           "HEXAGON_TOL", "LOCAL_TOL", "PAPER_COLLAPSE", "PCA_EQUIVALENT", "EVAL_SAMPLES"]

HEXAGON_TOL = 15.0  # degrees: a hexagon's neighbouring features are 60° ± this apart
LOCAL_TOL = 0.1  # E12: |W_i·W_j| of two features of one set at most this, ‖W_i‖² at least 1 − this: "near the identity"
# E13's regimes as the paper's figure gives them (1−S ranges) for the number of collapsed sets.
PAPER_COLLAPSE = ((0, "≤ 0.05"), (1, "0.05–0.15"), (2, "0.15–0.2"), (3, "0.25–0.5"))
# E13's "equivalent to PCA": the model's loss at least this share of the best rank-m linear reconstruction's (PCA
# of the importance-weighted data, with the mean as its bias), which no model in superposition comes near.
PCA_EQUIVALENT = 0.95
EVAL_SAMPLES = 200_000  # fresh samples for each density's model loss and PCA loss
PLATEAU = 0.15  # E15: a regime is a plateau of the loss curve when its loss falls by less than e^this per doubling
# of the step (about 14%), against a few-fold fall per doubling between regimes


def pca_loss(x: np.ndarray, importance: np.ndarray, m: int) -> float:
    """The training loss's definition (mean over samples and features of I_i (x_i − x̂_i)²) for the best
    rank-m affine reconstruction of the samples x [N, n]: PCA of √I x about its mean, the loss the n − m
    smallest eigenvalues of its covariance, over n."""
    y = np.asarray(x, dtype=np.float64) * np.sqrt(np.asarray(importance, dtype=np.float64))
    eig = np.sort(np.linalg.eigvalsh(np.cov(y.T, bias=True)))
    return float(eig[:y.shape[1] - m].sum() / y.shape[1])


class SetModel:
    """One trained model of set data and the engine's reading of its sets (_tms.measure_sets)."""

    def __init__(self, run, k: int):
        self.k = k
        self.density = float(run.density[k])
        self.loss = float(run.loss[k])
        self.set_size = int(run.config["set_size"])
        self.W = np.asarray(run.W[k], dtype=np.float64)
        self.geometry = _tms.measure_sets(np.ascontiguousarray(run.W[k], dtype=np.float32), self.set_size)
        self.pairs = self.geometry["pairs"]  # [sets][pairs] relation names
        self.norms = np.linalg.norm(self.W, axis=1)

    def all_pairs(self, relation: str) -> bool:
        return all(r == relation for s in self.pairs for r in s)

    @property
    def collapsed_sets(self) -> int:
        return int(self.geometry["collapsed_sets"])

    def hexagon(self) -> bool:
        """Every feature represented, the six directions 60° ± HEXAGON_TOL apart, each set's two features
        neighbours (m = 2)."""
        if self.W.shape[1] != 2 or not np.all(self.norms > science.represented_norm):
            return False
        angle = np.degrees(np.arctan2(self.W[:, 1], self.W[:, 0])) % 360.0
        order = np.argsort(angle)
        gaps = np.diff(np.concatenate([angle[order], [angle[order[0]] + 360.0]]))
        if np.any(np.abs(gaps - 360.0 / len(angle)) > HEXAGON_TOL):
            return False
        position = {int(i): j for j, i in enumerate(order)}
        n = len(angle)
        return all(abs(position[2 * s] - position[2 * s + 1]) in (1, n - 1) for s in range(n // 2))

    def describe(self) -> str:
        return "; ".join(f"set {j}: " + ", ".join(s) for j, s in enumerate(self.pairs))


def _models(run) -> List[SetModel]:
    return [SetModel(run, k) for k in range(run.K)]


def _best(run) -> List[SetModel]:
    """The lowest-loss restart per density, densest first."""
    return [SetModel(run, k) for k in run.best_restart_indices()]


# ---- correlated (E11a–c) --------------------------------------------------------------------------------------

_E11 = (("pairs-correlated", "two correlated pairs", "correlated", 4),
        ("pairs-anticorrelated", "two anticorrelated pairs", "anticorrelated", 4),
        ("three-correlated", "three correlated pairs", "correlated", 6))


def _plan_correlated(target: Target, s: dict) -> list:
    out = []
    for folder, _, data, n in _E11:
        density = s["anticorrelated_density" if data == "anticorrelated" else
                    "pairs_density" if n == 4 else "three_density"]
        out.append((folder, dict(model="relu", features=n, hidden=2, importance=1.0, data=data, set_size=2,
                                 density=[float(d) for d in density], restarts=s["restarts"], lr=s.get("lr"),
                                 **engine_settings(s))))
    return out


def _share(models, test) -> str:
    return f"{sum(1 for mo in models if test(mo))} of {len(models)}"


def correlated_findings(pairs, anti, three) -> List[Finding]:
    """E11's claims, each from all models of its run (every density and restart) and its best per density."""
    out = []
    for label, (all_models, best), relation, claim, source in (
            ("two correlated pairs", pairs, "orthogonal",
             "Models prefer to represent correlated features in orthogonal dimensions.", "E11a"),
            ("two anticorrelated pairs", anti, "antipodal",
             "Models prefer to represent anticorrelated features in opposite directions.", "E11b")):
        # Judged on the lowest-loss model per density (the paper's protocol: the solution with the lowest loss
        # is what models prefer); the share over every restart shows how often training finds it.
        ok_best = sum(1 for mo in best if mo.all_pairs(relation))
        out.append(Finding(
            claim=claim, source=f"Superposition and correlated features ({source})",
            found=f"{label}, m = 2: the lowest-loss model per density: "
                  + "; ".join(f"1−S = {mo.density:g}: {mo.describe()} (loss {mo.loss:.3g})" for mo in best)
                  + f". Both pairs {relation} in {_share(all_models, lambda mo: mo.all_pairs(relation))} models "
                    "of every density and restart.",
            verdict=claims.verdict(ok_best == len(best), 2 * ok_best > len(best))))
    all_models, best = three
    hexagons = [mo for mo in all_models if mo.hexagon()]
    side = [mo for mo in all_models if mo.all_pairs("side by side")]
    collapsed = [mo for mo in all_models if mo.collapsed_sets > 0]
    ok_best = sum(1 for mo in best if mo.hexagon())
    out.append(Finding(
        claim="Models prefer to arrange correlated features side by side if they can't be orthogonal: three "
              "correlated pairs in m = 2 form a hexagon with each pair's features adjacent (sometimes a set "
              "collapses, an optimisation failure).",
        source="Superposition and correlated features (E11c)",
        found=f"three correlated pairs, m = 2: every pair side by side (cos ≥ {science.set_orthogonal:g}, ≤ "
              f"{science.set_collapsed:g}) in {len(side)} of {len(all_models)} models, a hexagon with the pairs "
              f"adjacent (gaps 60° ± {HEXAGON_TOL:g}°) in {len(hexagons)}, a collapsed set in {len(collapsed)}; "
              "the lowest-loss model per density: "
              + "; ".join(f"1−S = {mo.density:g}: {'hexagon' if mo.hexagon() else 'no hexagon'} ({mo.describe()})"
                          for mo in best) + ".",
        verdict=claims.verdict(ok_best == len(best), 2 * ok_best > len(best))))
    return out


def _run_correlated(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    runs = []
    for (folder, settings), (_, label, data, n) in zip(job.trainings, _E11):
        job.log(f"tms reproduce correlated: training {label} ({len(settings['density'])} densities × "
                f"{settings['restarts']} restarts) -> {os.path.join(out, folder)}")
        run = api.train(progress=job.progress, **settings)
        job.log(f"  {run.seconds:.1f} s")
        runs.append((folder, label, run))
    for folder, _, run in runs:
        run.save(os.path.join(out, folder), overwrite=job.overwrite)
    readings = [(_models(run), _best(run)) for _, _, run in runs]
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    for (folder, label, run), (all_models, _) in zip(runs, readings):
        panels = [(mo.W, f"1−S = {mo.density:g}, restart {int(run.restart[mo.k])}") for mo in all_models]
        add(figures.set_vectors(panels, 2, suptitle=f"{label} (n = {run.n}, m = 2, I = 1): every model, "
                                                     "rotated and reflected to a common orientation"),
            f"{folder}", f"{label.capitalize()}: W_i of every model (each density, each restart), rotated so that "
                         "feature 0 points right and reflected so that the next feature is above the axis; one colour "
                         "per set, its first feature solid, its second dashed; circles of radius 1/√2 and 1.")
    findings = correlated_findings(*readings)
    first = runs[0][2]
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: "
             f"{html.escape(recipe(first))}, importance 1, {int(first.config['restarts'])} restarts per density. "
             "Densities (1−S, the probability that a set is active): "
             + "; ".join(f"{html.escape(label)}: {', '.join(f'{d:g}' for d in run.config['density'])}"
                         for _, label, run in runs)
             + ". An anticorrelated feature then fires with probability (1−S)/2 (the paper's convention). Run "
             "folders: " + ", ".join(f"<code>{f}/</code>" for f, _, _ in runs) + ".</p>")
    summary = {folder: dict(density=[float(d) for d in run.config["density"]],
                            pairs=[mo.pairs for mo in models], collapsed_sets=[mo.collapsed_sets for mo in models],
                            hexagon=[mo.hexagon() for mo in models] if folder == "three-correlated" else None)
               for (folder, _, run), (models, _) in zip(runs, readings)}
    run_entries = [dict(key=folder, name=label, run=run, folder=f"{folder}/", chosen=run.best_restart_indices())
                   for folder, label, run in runs]
    return report.write(job, start=start, findings=findings, figures=figs, runs=run_entries, intro_html=intro,
                        sections=[], summary=summary, numbering="set j holds features 2j and 2j + 1")


# ---- local-bases (E12) ----------------------------------------------------------------------------------------

def _plan_local(target: Target, s: dict) -> list:
    return [("local-bases", dict(model="relu", features=s["features"], hidden=s["hidden"], importance=1.0,
                                 data="correlated", set_size=s["set_size"],
                                 density=[float(d) for d in s["density"]], restarts=s["restarts"], lr=s.get("lr"),
                                 **engine_settings(s)))]


def local_bases_findings(best: List[SetModel], m: int) -> List[Finding]:
    out = []
    local = [mo for mo in best if mo.geometry["within_max"] <= LOCAL_TOL
             and mo.geometry["diagonal_min"] >= 1 - LOCAL_TOL and np.all(mo.norms > science.represented_norm)]
    text = "; ".join(f"1−S = {mo.density:g}: within a set max |W_i·W_j| = {mo.geometry['within_max']:.3f} (mean "
                     f"{mo.geometry['within_mean']:.3f}), min ‖W_i‖² = {mo.geometry['diagonal_min']:.3f}; across "
                     f"sets max {mo.geometry['across_max']:.3f} (mean {mo.geometry['across_mean']:.3f}); "
                     f"‖W‖_F²/m = {float(np.sum(mo.W ** 2)) / m:.2f}" for mo in best)
    out.append(Finding(
        claim="Within each set of correlated features, the model creates a local orthogonal basis, having each "
              "feature be represented orthogonally: WᵀW is near the identity inside each set.",
        source="Local almost-orthogonal bases (E12, claim 1)",
        found=f"the lowest-loss model per density: {text}. Near the identity: max |W_i·W_j| ≤ {LOCAL_TOL:g} and "
              f"‖W_i‖² ≥ {1 - LOCAL_TOL:g} inside every set; {len(local)} of {len(best)} densities.",
        verdict=claims.verdict(len(local) == len(best), len(local) > 0)))
    sup = [mo for mo in local if mo.geometry["across_max"] > 2 * LOCAL_TOL]
    out.append(Finding(
        claim="Even though the model as a whole is in superposition, the correlated feature sets considered in "
              "isolation are (nearly) orthogonal.",
        source="Local almost-orthogonal bases (E12, claim 2)",
        found=f"of the densities with local bases, {len(sup)} have interference across sets (max |W_i·W_j| > "
              f"{2 * LOCAL_TOL:g}): n = {best[0].W.shape[0]} features in m = {m} dimensions, the sets sharing them.",
        verdict=claims.verdict(bool(local) and len(sup) == len(local), len(sup) > 0)))
    return out


def _run_local(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    (folder, settings), = job.trainings
    run = train_single(job, f"{len(settings['density'])} densities × {settings['restarts']} restarts")
    best = _best(run)
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    chosen = run.best_restart_indices()
    add(figures.basic_grid(columns=[(run, k, f"1−S = {float(run.density[k]):g}") for k in chosen],
                           suptitle=f"two sets of {s['set_size']} correlated features, m = {run.m}"), "local_bases",
        "WᵀW (blue −1, white 0, red +1) of the lowest-loss model per density, with b beside it, above the feature "
        f"norms: features 0–{s['set_size'] - 1} form one set, the rest the other. The paper's picture: the identity "
        "inside each diagonal block, the interference in the off-diagonal blocks.")
    findings = local_bases_findings(best, run.m)
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: "
             f"{html.escape(recipe(run))}, importance 1, densities (the probability a set is active) "
             f"{', '.join(f'{d:g}' for d in run.config['density'])}, {int(run.config['restarts'])} restarts each "
             "(the lowest final loss kept). The paper states no density.</p>")
    summary = dict(density=[mo.density for mo in best], geometry=[{k: v for k, v in mo.geometry.items() if k != "pairs"}
                                                                  for mo in best])
    return report.write(job, start=start, findings=findings, figures=figs,
                        runs=[dict(key=folder, name="two sets of correlated features", run=run, folder=f"{folder}/",
                                   chosen=chosen)],
                        intro_html=intro, summary=summary,
                        numbering=f"set j holds features {s['set_size']}j … {s['set_size']}j + {s['set_size'] - 1}")


# ---- collapse (E13) -------------------------------------------------------------------------------------------

def _plan_collapse(target: Target, s: dict) -> list:
    return [("collapse", dict(model="relu", features=6, hidden=2, importance=1.0, data="correlated", set_size=2,
                              density=[float(d) for d in s["density"]], restarts=s["restarts"], lr=s.get("lr"),
                              **engine_settings(s)))]


def collapse_findings(best: List[SetModel], pca_ratio: List[float]) -> List[Finding]:
    """E13's claims from the lowest-loss model per density and, per density, its loss over PCA's (pca_loss),
    both in the same order (any)."""
    order = sorted(range(len(best)), key=lambda j: best[j].density)
    best, pca_ratio = [best[j] for j in order], [pca_ratio[j] for j in order]
    counts = [mo.collapsed_sets for mo in best]
    back = sum(1 for a, b in zip(counts, counts[1:]) if b < a)
    out = []
    first = {c: next((mo.density for mo in best if mo.collapsed_sets >= c), None) for c in (1, 2, 3)}
    out.append(Finding(
        claim="As density rises, correlated sets collapse one after another onto their principal component "
              "(a collapsed pair a, b represented by (a+b)/√2): none collapsed when sparse, then one, two, all "
              "three sets. Paper's regimes (1−S): " + "; ".join(f"{c} collapsed {r}" for c, r in PAPER_COLLAPSE) + ".",
        source="Collapsing of correlated features (E13)",
        found="collapsed sets (both features within cos > "
              f"{science.set_collapsed:g}) per density, the lowest-loss model: "
              + ", ".join(f"{mo.density:g}: {mo.collapsed_sets}" for mo in best)
              + "; first density with at least 1 / 2 / 3 collapsed: "
              + " / ".join(f"{first[c]:g}" if first[c] is not None else "none" for c in (1, 2, 3))
              + f"; falls against the trend: {back}.",
        verdict=claims.verdict(counts[0] == 0 and counts[-1] == 3 and back <= 1, counts[-1] > counts[0])))
    dense = best[-1]
    falls = sum(1 for a, b in zip(pca_ratio, pca_ratio[1:]) if b < a)
    out.append(Finding(
        claim="In very dense regimes, the solution becomes equivalent to PCA (superposition and PCA are "
              "complementary strategies: sparse, the model beats any linear projection; dense, it does what "
              "PCA does).",
        source="Collapsing of correlated features (E13)",
        found=f"the model's loss over the best rank-{dense.W.shape[1]} linear reconstruction's (PCA of the data, "
              f"{EVAL_SAMPLES:,} fresh samples each) per density: "
              + ", ".join(f"{mo.density:g}: {r:.2f}" for mo, r in zip(best, pca_ratio))
              + f"; at the densest {pca_ratio[-1]:.3f} (equivalent: at least {PCA_EQUIVALENT:g}); falls against "
                f"the rise: {falls}. The densest model: {dense.describe()}.",
        verdict=claims.verdict(pca_ratio[-1] >= PCA_EQUIVALENT and falls <= 1, pca_ratio[-1] > pca_ratio[0])))
    return out


def _run_collapse(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    (folder, settings), = job.trainings
    run = train_single(job, f"{len(settings['density'])} densities × {settings['restarts']} restarts")
    best = sorted(_best(run), key=lambda mo: mo.density)
    chosen = sorted(run.best_restart_indices(), key=lambda k: float(run.density[k]))
    model_loss = run.select(chosen).evaluate(samples=EVAL_SAMPLES, seed=1)
    sample_settings = {key: run.config[key] for key in ("features", "data", "set_size", "batch")}
    pca = [pca_loss(api.sample(density=mo.density, samples=EVAL_SAMPLES, seed=1, **sample_settings)[0],
                    run.importance[k], run.m) for mo, k in zip(best, chosen)]
    pca_ratio = [float(a / b) for a, b in zip(model_loss, pca)]
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    add(figures.set_vectors([(mo.W, f"1−S = {mo.density:.3g}: {mo.collapsed_sets} collapsed") for mo in best], 2,
                            suptitle="three correlated pairs in m = 2, the lowest-loss model per density"),
        "collapse_vectors", "W_i of the lowest-loss model per density (sparse first), rotated and reflected to a "
                            "common orientation, a colour per correlated pair; circles of radius 1/√2 (a collapsed "
                            "pair's norm) and 1.")
    add(figures.counts_against_density([mo.density for mo in best],
                                       {"collapsed sets": [mo.collapsed_sets for mo in best],
                                        "loss / PCA's loss (×3)": [3 * r for r in pca_ratio]},
                                       title="collapsed sets, and the loss against PCA's, against 1−S",
                                       hlines={"all three; PCA's loss": 3}),
        "collapse_counts", "Collapsed sets (a pair within cos > " f"{science.set_collapsed:g}) of the lowest-loss model "
                           "per density, and its loss over the best rank-2 linear reconstruction's (PCA), scaled by 3 "
                           "so that PCA's loss is the dotted line; the paper's regimes are in the findings.")
    findings = collapse_findings(best, pca_ratio)
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: "
             f"{html.escape(recipe(run))}, importance 1, {len(best)} densities (the probability a pair is active) "
             f"from {best[0].density:g} to {best[-1].density:g}, {int(run.config['restarts'])} restarts each (the "
             "lowest final loss kept).</p>")
    summary = dict(density=[mo.density for mo in best], collapsed_sets=[mo.collapsed_sets for mo in best],
                   pairs=[mo.pairs for mo in best], model_loss=[float(v) for v in model_loss], pca_loss=pca,
                   pca_ratio=pca_ratio)
    return report.write(job, start=start, findings=findings, figures=figs,
                        runs=[dict(key=folder, name="three correlated pairs", run=run, folder=f"{folder}/",
                                   chosen=run.best_restart_indices())],
                        intro_html=intro, summary=summary, numbering="pair j holds features 2j and 2j + 1")


# ---- dynamics-correlated (E15) --------------------------------------------------------------------------------

def octahedron(W: np.ndarray, set_size: int) -> bool:
    """Every feature represented, the features of a set orthogonal, each feature antipodal to exactly one
    feature of another set and orthogonal to the rest: an octahedron of antipodal pairs across sets (m = 3,
    two sets of three)."""
    W = np.asarray(W, dtype=np.float64)
    n = len(W)
    if not np.all(np.linalg.norm(W, axis=1) > science.represented_norm):
        return False
    c = claims.cosines(W)
    for i in range(n):
        partners = [j for j in range(n) if j != i and c[i, j] < science.antipodal_pair_cos]
        if len(partners) != 1 or partners[0] // set_size == i // set_size:
            return False
        if any(abs(c[i, j]) >= science.set_orthogonal for j in range(n) if j != i and j != partners[0]):
            return False
    return True


def regime(W: np.ndarray, set_size: int) -> str:
    """The geometry of one snapshot: "small" (no feature represented), "collapsed" (every set on one direction:
    its principal component), "octahedron", or "transition"."""
    W = np.asarray(W, dtype=np.float32)
    if not np.any(np.linalg.norm(W, axis=1) > science.represented_norm):
        return "small"
    g = _tms.measure_sets(np.ascontiguousarray(W), set_size)
    if g["collapsed_sets"] == g["sets"]:
        return "collapsed"
    return "octahedron" if octahedron(W, set_size) else "transition"


def dynamics_findings(steps, labels, loss, pca: float, final_octahedra: int, restarts: int) -> List[Finding]:
    """E15's claims for the lowest-loss restart: its snapshot steps, regime labels and evaluated losses, PCA's
    rank-m loss on the same data, and how many restarts end in an octahedron."""
    runs = []  # (label, first index, last index)
    for j, lab in enumerate(labels):
        if runs and runs[-1][0] == lab:
            runs[-1][2] = j
        else:
            runs.append([lab, j, j])
    def rate(r):  # the fall of the log loss per doubling of the step over a regime
        s0, s1 = max(steps[r[1]], 1), max(steps[r[2]], 1)
        return np.log(loss[r[1]] / loss[r[2]]) / np.log2(s1 / s0) if s1 > s0 else float("inf")

    def flat(r):
        return r[2] > r[1] and abs(rate(r)) < PLATEAU
    plateaus = [r for r in runs if r[0] in ("collapsed", "octahedron") and flat(r)]
    order = [r[0] for r in runs]
    collapsed_then_octa = ("collapsed" in order and order[-1] == "octahedron"
                           and order.index("collapsed") < len(order) - 1)
    text = "; ".join(f"{r[0]} from step {steps[r[1]]:,} to {steps[r[2]]:,} (loss {loss[r[1]]:.3g} → {loss[r[2]]:.3g}, "
                     f"{loss[r[2]] / pca:.2f}× PCA's; falling {rate(r):.2f} per doubling of the step)" for r in runs)
    out = [
        Finding(claim="Learning proceeds in distinct regimes visible in the loss curve, each a distinct geometric "
                      "transformation.",
                source="Learning dynamics: geometric transformations (E15, claim 1)",
                found=f"the lowest-loss restart's snapshots by geometry: {text}. Plateaus (the log loss falling "
                      f"less than {PLATEAU:g} per doubling over a regime of several snapshots): "
                      + (", ".join(r[0] for r in plateaus) if plateaus else "none") + ".",
                verdict=claims.verdict(len(plateaus) >= 2 and collapsed_then_octa, len(plateaus) >= 1)),
        Finding(claim="The final solution is an octahedron with features from different correlated sets arranged in "
                      "antipodal pairs.",
                source="Learning dynamics: geometric transformations (E15, claim 2)",
                found=f"the lowest-loss restart ends as {labels[-1]}; {final_octahedra} of {restarts} restarts end "
                      "in an octahedron.",
                verdict=claims.verdict(labels[-1] == "octahedron", final_octahedra > 0)),
        Finding(claim="The network learns a linear PCA solution (each correlated set on its principal component) "
                      "before moving to a better nonlinear solution.",
                source="Learning dynamics: geometric transformations (E15, claim 3)",
                found="regimes in order: " + " → ".join(order) + f"; PCA's rank-{3} loss on this data {pca:.3g}.",
                verdict=claims.verdict(collapsed_then_octa, "collapsed" in order)),
    ]
    return out


def _plan_dynamics(target: Target, s: dict) -> list:
    return [("dynamics", dict(model="relu", features=6, hidden=3, importance=1.0, data="correlated", set_size=3,
                              density=[float(s["density"])], restarts=s["restarts"], lr=s.get("lr"),
                              init_scale=s["init_scale"], **engine_settings(s)))]


def _run_dynamics(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    (folder, settings), = job.trainings
    path = os.path.join(out, folder)
    job.log(f"tms reproduce dynamics-correlated: training {settings['restarts']} restarts with {s['snapshots']} "
            f"log-spaced snapshots -> {path}")
    run = api.train(progress=job.progress, snapshots=int(s["snapshots"]), **settings)
    job.log(f"  {run.seconds:.1f} s")
    run.save(path, overwrite=job.overwrite)
    k = int(np.argmin(run.loss))
    steps = [int(v) for v in run.snapshot_steps]
    labels = [regime(run.snapshot_W[j, k], 3) for j in range(len(steps))]
    snap = run.select([k] * len(steps))
    snap.W = np.ascontiguousarray(run.snapshot_W[:, k])
    snap.b = np.ascontiguousarray(run.snapshot_b[:, k])
    loss = [float(v) for v in snap.evaluate(samples=50_000, seed=2)]
    x = api.sample(features=6, data="correlated", set_size=3, density=float(s["density"]), samples=EVAL_SAMPLES,
                   seed=1, batch=run.config["batch"])[0]
    pca = pca_loss(x, run.importance[k], run.m)
    finals = sum(1 for r in range(run.K) if octahedron(run.W[r], 3))
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    add(figures.regime_curve(steps, loss, labels, reference={"PCA's rank-3 loss": pca},
                             title="the lowest-loss restart: evaluated loss at each snapshot, by geometry"),
        "dynamics_loss", "The loss of the lowest-loss restart at each log-spaced snapshot (50,000 fresh samples), "
                         "each point coloured by the snapshot's geometry (small, collapsed: each set on its principal "
                         "component, transition, octahedron); dotted: the best rank-3 linear reconstruction's loss.")
    picks = []
    for lab in ("collapsed", "transition", "octahedron"):
        idx = [j for j, v in enumerate(labels) if v == lab]
        if idx:
            picks.append(idx[len(idx) // 2] if lab != "octahedron" else idx[-1])
    add(figures.basic_grid(columns=[(snap, j, f"step {steps[j]:,}: {labels[j]}") for j in sorted(picks)],
                           suptitle="WᵀW through training (features 0–2: set 0, 3–5: set 1)"), "dynamics_gram",
        "WᵀW (blue −1, white 0, red +1) with b and the feature norms at a snapshot of each regime.")
    findings = dynamics_findings(steps, labels, loss, pca, finals, run.K)
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: "
             f"{html.escape(recipe(run))}, 1−S = {float(s['density']):g}, importance 1, the init's standard deviation "
             f"× {float(s['init_scale']):g} (the learning-dynamics convention: a small start separates the "
             f"regimes), {run.K} restarts, snapshots at {len(steps)} log-spaced steps.</p>")
    summary = dict(snapshot_steps=steps, regimes=labels, loss=loss, pca_loss=pca, final_octahedra=finals)
    return report.write(job, start=start, findings=findings, figures=figs,
                        runs=[dict(key=folder, name="two sets of three correlated features", run=run,
                                   folder=f"{folder}/", chosen=[k])],
                        intro_html=intro, summary=summary, numbering="set 0 holds features 0–2, set 1 features 3–5")


TARGETS = (
    Target(name="correlated", title="Correlated and anticorrelated features (m = 2)",
           source="Elhage et al. 2022, section \"Superposition and correlated features\" (E11)",
           # The paper states no density; ARENA's exercise uses 0.05 … 0.0025 for correlated pairs and
           # 0.32 … 0.1 per feature for anticorrelated ones. Ten restarts per density show "several models".
           defaults=dict(pairs_density=(0.05, 0.02, 0.01), anticorrelated_density=(0.3, 0.1, 0.03),
                         three_density=(0.03, 0.01, 0.005), restarts=10, steps=10_000, lr=1e-3),
           quick=dict(pairs_density=(0.05,), anticorrelated_density=(0.3,), three_density=(0.03,), restarts=2,
                      steps=300, batch=256, lr=1e-3),
           about="The ReLU output model with m = 2 on sets of two features, importance 1: two correlated pairs "
                 "(n = 4), two anticorrelated pairs (n = 4) and three correlated pairs (n = 6), several models each. "
                 "The paper: correlated features go to orthogonal dimensions, anticorrelated ones to opposite "
                 "directions, and three correlated pairs that cannot be orthogonal sit side by side in a hexagon.",
           plan=_plan_correlated, run=_run_correlated),
    Target(name="local-bases", title="Local almost-orthogonal bases (two sets of ten correlated features, m = 10)",
           source="Elhage et al. 2022, section \"Superposition and correlated features\" (E12)",
           defaults=dict(features=20, hidden=10, set_size=10, density=(0.1, 0.03, 0.01), restarts=4, steps=10_000,
                         lr=1e-3),
           quick=dict(features=20, hidden=10, set_size=10, density=(0.1,), restarts=1, steps=300, batch=256,
                      lr=1e-3),
           about="The ReLU output model with n = 20 features in two sets of ten correlated features, m = 10, "
                 "importance 1. The paper: inside each set the model builds an orthogonal basis (WᵀW near the "
                 "identity in each diagonal block), while the model as a whole is in superposition.",
           plan=_plan_local, run=_run_local),
    Target(name="collapse", title="Collapse of correlated features (three correlated pairs, m = 2, across density)",
           source="Elhage et al. 2022, section \"Superposition and correlated features\" (E13)",
           defaults=dict(density=tuple(float(v) for v in np.round(np.geomspace(0.01, 0.7, 14), 4)), restarts=10,
                         steps=10_000, lr=1e-3),
           quick=dict(density=(0.01, 0.1, 0.5), restarts=2, steps=300, batch=256, lr=1e-3),
           about="The ReLU output model with m = 2 on three correlated pairs (n = 6), importance 1, across density. "
                 "The paper: sparse, the pairs sit side by side in a hexagon; denser, the sets collapse one after "
                 "another onto their principal component (a + b)/√2, until the solution is PCA-like.",
           plan=_plan_collapse, run=_run_collapse),
    Target(name="dynamics-correlated",
           title="Learning dynamics as geometric transformations (two sets of three correlated features, m = 3)",
           source="Elhage et al. 2022, section \"Superposition and learning dynamics\" (E15)",
           # Keltin's companion starts its dynamics at 0.1 × the init; 1−S = 0.05 ends in the octahedron.
           defaults=dict(density=0.05, init_scale=0.1, restarts=4, steps=30_000, snapshots=60, lr=1e-3),
           quick=dict(density=0.05, init_scale=0.1, restarts=1, steps=400, snapshots=20, batch=256, lr=1e-3),
           about="The ReLU output model with m = 3 on two sets of three correlated features (n = 6), importance 1, "
                 "from a small init, its weights saved at log-spaced steps. The paper: the loss curve shows distinct "
                 "regimes, each a geometric transformation, from a PCA-like solution to an octahedron whose "
                 "antipodal pairs join features of different sets.",
           plan=_plan_dynamics, run=_run_dynamics),
)
