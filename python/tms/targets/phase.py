"""The phase diagrams of the ReLU output model (paper E5: `phase-2-1`, n = 2, m = 1; E6: `phase-3-2`, n = 3,
m = 2): one engine call trains every cell's models (tms.phase), the engine classifies and reduces them and the
closed form predicts each cell; the claims compare the two.
"""
from __future__ import annotations

import html
import os
import time
from typing import List

import numpy as np

from .. import _tms, claims, figures, report, science
from ..claims import Finding
from ..phase import PHASES, PROBLEMS, phase_diagram, train_settings
from .common import Job, Target, engine_settings, figure_adder, recipe

__all__ = ["TARGETS", "phase_findings"]

VOTE_SHARE = 0.7  # mean share of a cell's kept models voting for its phase for "agrees"; below VOTE_PARTLY: differs
VOTE_PARTLY = 0.5
# Where sparsity must have brought superposition: at 1−S at most SPARSE_DENSITY, at least this share of the cells.
SPARSE_DENSITY = 0.1
SPARSE_SUPERPOSITION_SHARE = 0.5
# Where the closed form has no superposition at any r (the engine's 4/5): no cell there may be in superposition.
DENSE_DENSITY = science.phase_no_superposition_density


def _plan(target: Target, s: dict) -> list:
    models = int(s["restarts"])
    if models < 2:
        raise ValueError(f"restarts: {models} models per cell; allowed: at least 2 (the highest-loss model of each "
                         "cell is dropped)")
    return [("models", train_settings(target.name.split("-", 1)[1], grid=int(s["grid"]), models=models,
                                      **engine_settings(s)))]


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    problem = target.name.split("-", 1)[1]
    fig_dir = os.path.join(out, "figures")
    os.makedirs(out, exist_ok=True)
    grid, models = int(s["grid"]), int(s["restarts"])
    job.log(f"tms reproduce {target.name}: training {grid} x {grid} cells x {models} models "
            f"({grid * grid * models} models) in one engine call")
    d = phase_diagram(problem, grid=grid, models=models, progress=job.progress, **engine_settings(s))
    (folder, _), = job.trainings
    d.run.save(os.path.join(out, folder), overwrite=job.overwrite)
    job.log(f"  {d.run.seconds:.1f} s; cells agreeing with the theory: {d.agreement:.0%}")
    np.savez_compressed(os.path.join(out, "phase.npz"), r=d.r, density=d.density, model_phase=d.model_phase,
                        phase=d.phase, votes=d.votes, mean_loss=d.mean_loss, theory=d.theory,
                        theory_candidate=d.theory_candidate, dropped=d.dropped)
    n = _tms.phase_features(PROBLEMS[problem])
    figs: list = []
    add = figure_adder(fig_dir, figs)
    add(figures.phase_diagram(d, suptitle=f"n = {n}, m = {n - 1}: {grid} × {grid} cells, {models} models each, "
                                          f"{d.run.config['steps']:,} steps"), f"{target.name}",
        "Left: the empirical phase of each cell, coloured by the extra feature's fate (grey: not learned, red: "
        "superposition, dark blue: dedicated dimension, amber: none of these), with the closed-form boundaries "
        "dashed over it, the triple point circled, and × on cells whose phase differs from the theory. Right: the "
        "closed-form diagram, the lowest-loss candidate at each point (mid blue: extra dedicated with the other two "
        "antipodal).")
    findings = phase_findings(d)
    counts = d.counts()
    sections = [_table(d)]
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: {recipe(d.run)}, "
             f"{grid} × {grid} cells × {models} models, all {d.run.K} trained in one engine call. Classification: "
             "the engine's <code>phase_classify</code> (a feature is learned when ‖Wᵢ‖ &gt; "
             f"{science.phase_represented:g} and its output can fire; superposition when the extra feature points "
             f"against a learned one, cos ≤ −{science.phase_antipodal:g}; dedicated when orthogonal to every learned "
             f"one, |cos| ≤ {science.phase_orthogonal:g}). Cells: the paper's reduction "
             "(<code>phase_reduce_cell</code>). The full set of models is in <code>models/</code> and the grid in "
             "<code>phase.npz</code>.</p>")
    runs = [dict(key="relu", name="All models", run=d.run, folder=f"{folder}/", table=False)]
    numbering = ("feature 0 has importance 1 and feature 1, the extra one, relative importance r" if n == 2 else
                 "features 0 and 1 have importance 1 and feature 2, the extra one, relative importance r")
    summary = dict(agreement=d.agreement, cells=int(d.phase.size), counts=counts, models=models, grid=grid,
                   steps=d.run.config["steps"], train_seconds=d.run.seconds)
    return report.write(job, start=start, findings=findings, figures=figs, runs=runs, intro_html=intro,
                        sections=sections, summary=summary, numbering=numbering)


def phase_findings(d) -> List[Finding]:
    out = []
    sup = PHASES.index("superposition")
    dense = d.density >= DENSE_DENSITY
    n_dense_sup = int((d.phase[dense] == sup).sum())
    sparse = d.density <= SPARSE_DENSITY
    share_sparse = float((d.phase[sparse] == sup).mean()) if sparse.any() else float("nan")
    out.append(Finding(
        claim="Sparsity is necessary for superposition, and it interacts with the relative importance of the "
              "features.",
        source="Superposition as a Phase Change",
        found=f"cells in superposition at 1−S ≥ {DENSE_DENSITY:g}: {n_dense_sup} of {int(dense.sum()) * len(d.r)}; "
              f"at 1−S ≤ {SPARSE_DENSITY:g}: {share_sparse:.0%} of the cells. Superposition cells per density "
              "(dense → sparse): "
              + ", ".join(str(int((row == sup).sum())) for row in d.phase) + ".",
        verdict=claims.verdict(n_dense_sup == 0 and share_sparse >= SPARSE_SUPERPOSITION_SHARE,
                               n_dense_sup <= len(d.r) // 4)))
    agree = d.agreement
    per_class = []
    for i, name in enumerate(PHASES):
        mask = d.theory == i
        if mask.any():
            per_class.append(f"{name}: {float(d.agree[mask].mean()):.0%} of {int(mask.sum())}")
    out.append(Finding(
        claim="The empirical diagram matches the theoretical \"toy model of the toy model\": a real phase change "
              "between not learned, superposition and a dedicated dimension.",
        source="Superposition as a Phase Change (empirical and theoretical diagrams)",
        found=f"{agree:.1%} of the {d.phase.size} cells have the predicted phase (by predicted phase: "
              + "; ".join(per_class) + ").",
        verdict=claims.verdict(agree >= claims.AGREE_SHARE, agree >= claims.AGREE_SHARE / 2)))
    # The jump: along each row, the mean loss is continuous but the phase switches abruptly.
    votes = d.votes / np.maximum(d.kept, 1)
    out.append(Finding(
        claim="The optimal weight configuration changes discontinuously (a first-order phase change).",
        source="Superposition as a Phase Change",
        found=f"mean share of kept models that vote for their cell's phase: {float(votes.mean()):.0%}; cells with "
              f"a unanimous vote: {float((votes == 1).mean()):.0%}. Phase switches along r (changes between "
              f"neighbouring cells in a row): {int((np.diff(d.phase, axis=1) != 0).sum())}.",
        verdict=claims.verdict(float(votes.mean()) >= VOTE_SHARE, float(votes.mean()) >= VOTE_PARTLY)))
    return out


def _table(d) -> str:
    names = ["not", "ded.", "sup.", "oth."]
    head = "".join(f"<th>{r:.3g}</th>" for r in d.r)
    rows = []
    for di, p in enumerate(d.density):
        cells = []
        for ri in range(len(d.r)):
            e, t = names[d.phase[di, ri]], names[d.theory[di, ri]]
            style = "" if e == t else ' style="background:#f6d5d5"'
            cells.append(f"<td{style}>{e}<br><small>{d.votes[di, ri]}/{d.kept[di, ri]}</small></td>")
        rows.append(f"<tr><th>{p:.3g}</th>{''.join(cells)}</tr>")
    return ("<h2>The grid</h2><p>Each cell: the majority phase of the kept models and the vote "
            "(not = not learned, ded. = dedicated, sup. = superposition, oth. = other); red cells differ from the "
            "closed-form prediction. Rows: 1−S; columns: r.</p>"
            f"<div style=\"overflow-x:auto\"><table><thead><tr><th>1−S \\ r</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


TARGETS = (
    Target(
        name="phase-2-1", title="Phase diagram: two features in one dimension (n = 2, m = 1)",
        source="Elhage et al. 2022, section \"Superposition as a Phase Change\" (n = 2, m = 1)",
        defaults=dict(grid=20, restarts=10, steps=10_000, batch=1024),
        quick=dict(grid=6, restarts=3, steps=500, batch=256),
        about="A ReLU output model with n = 2 features in m = 1 hidden dimension. Feature 0 has importance 1; the "
              "extra feature's (feature 1's) relative importance r runs from 0.1 to 10 and the density 1−S of both "
              "features from 1 to 0.01, both on log grids. Each cell trains several models with different "
              "initialisations; as in the paper the highest-loss model is discarded and the rest summarised (the "
              "majority phase, their mean loss). Each model is classified by the fate of the extra feature: not "
              "learned, a dedicated dimension, or superposition (antipodal to the other feature).",
        plan=_plan, run=_run),
    Target(
        name="phase-3-2", title="Phase diagram: three features in two dimensions (n = 3, m = 2)",
        source="Elhage et al. 2022, section \"Superposition as a Phase Change\" (n = 3, m = 2)",
        defaults=dict(grid=20, restarts=10, steps=10_000, batch=1024),
        quick=dict(grid=6, restarts=3, steps=500, batch=256),
        about="The same protocol with n = 3 features in m = 2 dimensions: features 0 and 1 have importance 1 and "
              "the third (extra) feature, feature 2, has relative importance r, so each importance vector is "
              "[1, 1, r].",
        plan=_plan, run=_run),
)
