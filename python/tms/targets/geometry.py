"""Uniform superposition and feature dimensionality (paper E7, E8, `geometry`): a ReLU output model of n = 400
equally important features in m = 30 dimensions across sparsity, m/‖W‖_F² and every D_i against 1/(1−S), and
the tegum factors the engine's geometry finder names in each W.
"""
from __future__ import annotations

import html
import os
import time
from typing import List

import numpy as np

from .. import _tms, api, claims, figures, report, science
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder, recipe

__all__ = ["TARGETS", "geometry_of", "geometry_findings"]

# A represented feature's D_i within the geometry finder's tolerance of a polytope's fraction is on that fraction
# (the engine's geometry_dimensionality, the same test that names a tegum factor).
FRACTION_TOL = science.geometry_dimensionality
PLATEAU_TOL = 0.05  # m/|W|_F^2 within this of 1 or 1/2 counts as on the plateau


def geometry_of(run) -> list:
    """Per instance: the tegum factors of W by the engine's geometry finder, as
    {"counts": {name: number of factors}, "unrepresented": int, "rank": int}."""
    out = []
    for k in range(run.K):
        g = _tms.geometry_tegum_factors(np.ascontiguousarray(run.W[k]))
        counts: dict = {}
        for f in g.factors:
            counts[f.name] = counts.get(f.name, 0) + 1
        out.append(dict(counts=counts, unrepresented=len(g.unrepresented), rank=int(g.rank),
                        independent=bool(g.independent)))
    return out


def _plan(target: Target, s: dict) -> list:
    densities = [float(1.0 / x) for x in np.logspace(0, np.log10(float(s["max_sparsity"])), int(s["densities"]))]
    return [("relu", dict(model="relu", features=s["features"], hidden=s["hidden"], importance=1.0,
                          density=densities, restarts=s.get("restarts", 1), **engine_settings(s)))]


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    fig_dir = os.path.join(out, "figures")
    os.makedirs(out, exist_ok=True)
    (folder, settings), = job.trainings
    job.log(f"tms reproduce geometry: n={s['features']}, m={s['hidden']}, {len(settings['density'])} densities "
            f"(1/(1-S) = 1 ... {float(s['max_sparsity']):g})")
    run = api.train(progress=job.progress, **settings)
    run.save(os.path.join(out, folder), overwrite=job.overwrite)
    best = run.best_restarts() if run.K > len(settings["density"]) else run
    job.log(f"  {run.seconds:.1f} s")
    geo = geometry_of(best)
    figs: list = []
    add = figure_adder(fig_dir, figs)
    settings = f"n = {best.n}, m = {best.m}, I = 1, {run.config['steps']:,} steps"
    add(figures.dims_per_feature(best, title=f"Number of Hidden Dimensions per Embedded Feature ({settings})"),
        "geometry_dims_per_feature", "m/‖W‖_F², the hidden dimensions per embedded feature, against 1/(1−S) (log): "
        "the paper expects plateaus (\"sticky\") at 1 and 1/2.")
    add(figures.dimensionality_scatter(best, title=f"Feature dimensionality ({settings})"),
        "geometry_dimensionality", "Every feature's Dᵢ at every density (points jittered in x), the m/‖W‖_F² line "
        "over them, and reference lines at 1, 3/4, 2/3, 1/2, 2/5, 3/8 and 0.")
    findings = geometry_findings(best, geo)
    sections = [_table(best, geo)]
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: {recipe(run)}. "
             "Tegum factors: the engine's geometry finder (<code>geometry_tegum_factors</code>: features with "
             f"‖Wᵢ‖ &gt; {science.geometry_represented:g} joined when |cos| &gt; {science.geometry_interference:g}, "
             "each connected component named by its size, its Dᵢ (within "
             f"{science.geometry_dimensionality:g}) and its rank).</p>")
    runs = [dict(key="relu", name="ReLU output model", run=run, folder=f"{folder}/")]
    summary = dict(density=best.density.tolist(), dims_per_feature=best.dims_per_feature.tolist(), geometry=geo,
                   train_seconds=run.seconds)
    return report.write(job, start=start, findings=findings, figures=figs, runs=runs, intro_html=intro,
                        sections=sections, summary=summary, numbering="every feature has importance 1")


def geometry_findings(run, geo) -> List[Finding]:
    out = []
    order = np.argsort(-run.density)
    dstar = np.asarray(run.dims_per_feature)[order]
    inv = 1.0 / np.asarray(run.density)[order]
    at1 = [f"{x:.3g}" for x, v in zip(inv, dstar) if abs(v - 1) < PLATEAU_TOL]
    athalf = [f"{x:.3g}" for x, v in zip(inv, dstar) if abs(v - 0.5) < PLATEAU_TOL]
    out.append(Finding(
        claim="m/‖W‖_F² is \"sticky\" at 1 and 1/2 as sparsity increases (the 1/2 plateau: antipodal pairs).",
        source="Uniform Superposition",
        found=f"m/‖W‖_F² within {PLATEAU_TOL:g} of 1 at 1/(1−S) = {', '.join(at1) or 'none'}; within {PLATEAU_TOL:g} "
              f"of 1/2 at 1/(1−S) = {', '.join(athalf) or 'none'}. Values (dense → sparse): "
              + ", ".join(f"{v:.2f}" for v in dstar) + ".",
        verdict=claims.verdict(len(at1) >= 1 and len(athalf) >= 2, len(at1) >= 1 or len(athalf) >= 1)))
    fractions = np.array([v for v, _ in figures.DIMENSIONALITY_LINES if 0 < v])
    on_line, total = 0, 0
    for k in range(run.K):
        rep = run.norms[k] > science.represented_norm
        D = np.asarray(run.dimensionality[k])[rep]
        total += D.size
        on_line += int((np.abs(D[:, None] - fractions[None, :]) < FRACTION_TOL).any(axis=1).sum())
    share = on_line / total if total else 0.0
    kinds: dict = {}
    for g in geo:
        for name, c in g["counts"].items():
            kinds[name] = kinds.get(name, 0) + c
    named = {k: v for k, v in kinds.items() if not k.startswith("other")}
    out.append(Finding(
        claim="Feature dimensionalities cluster at 3/4 (tetrahedron), 2/3 (triangle), 1/2 (antipodal pair), 2/5 "
              "(pentagon), 3/8 (square antiprism) and 0 (not learned).",
        source="Feature Dimensionality",
        found=f"{share:.0%} of the represented features ({on_line} of {total}, over all densities) have Dᵢ within "
              f"{FRACTION_TOL:g} of 1, 3/4, 2/3, 1/2, 2/5 or 3/8. Tegum factors named by the geometry finder: "
              + (", ".join(f"{v} {k}" for k, v in sorted(named.items(), key=lambda kv: -kv[1])) or "none")
              + f"; unnamed factors: {sum(v for k, v in kinds.items() if k.startswith('other'))}.",
        verdict=claims.verdict(share >= 0.6 and len(named) >= 3, share >= 0.3)))
    sums = [float(np.asarray(run.dimensionality[k]).sum()) for k in order]
    dev = max(abs(v - run.m) / run.m for v in sums)
    out.append(Finding(
        claim="The dimensionalities of all features add up to the number of embedding dimensions when the features "
              "are packed efficiently: Σᵢ Dᵢ ≈ m.",
        source="Feature Dimensionality",
        found=f"Σᵢ Dᵢ per density (dense → sparse, m = {run.m}): " + ", ".join(f"{v:.1f}" for v in sums)
              + f"; largest relative deviation from m: {dev:.0%}.",
        verdict=claims.verdict(dev <= 0.1, dev <= 0.25)))
    return out


def _table(run, geo) -> str:
    order = np.argsort(-run.density)
    names = sorted({name for g in geo for name in g["counts"]},
                   key=lambda s: (s.startswith("other"), s))
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for k in order:
        g = geo[k]
        cells = "".join(f'<td class="num">{g["counts"].get(n, 0) or ""}</td>' for n in names)
        rows.append(f'<tr><td class="num">{1 / run.density[k]:.3g}</td><td class="num">{run.density[k]:.3g}</td>'
                    f'<td class="num">{run.dims_per_feature[k]:.3f}</td><td class="num">{run.represented[k]}</td>'
                    f'<td class="num">{g["unrepresented"]}</td>{cells}</tr>')
    return ("<h2>Tegum factors per density</h2><p>Number of tegum factors of each kind found in W by the geometry "
            "finder (\"other k-feature\": a connected group of k features that matches no named polytope).</p>"
            "<div style=\"overflow-x:auto\"><table><thead><tr><th>1/(1−S)</th><th>1−S</th><th>m/‖W‖_F²</th>"
            f"<th>represented</th><th>not represented</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table></div>")


TARGETS = (Target(
    name="geometry", title="Uniform superposition and feature dimensionality (n = 400, m = 30)",
    source="Elhage et al. 2022, sections \"The Geometry of Superposition\": \"Uniform Superposition\" and "
           "\"Feature Dimensionality\"",
    # n = 400 costs the same per step at every density (the output layer is dense): 12 densities x 5,000
    # steps keeps the default run to a few minutes on two cores (20 x 10,000 takes over ten).
    defaults=dict(features=400, hidden=30, densities=12, max_sparsity=1000.0, restarts=1, steps=5_000,
                  batch=1024),
    quick=dict(features=60, hidden=6, densities=6, max_sparsity=100.0, restarts=1, steps=400, batch=256),
    about="A ReLU output model with n = 400 features of equal importance (I = 1) in m = 30 hidden dimensions, "
          "trained at densities 1−S log-spaced so that 1/(1−S) runs from 1 to about 1000. The paper plots "
          "m/‖W‖_F², the hidden dimensions per embedded feature, and every feature's dimensionality "
          "Dᵢ = ‖Wᵢ‖⁴ / Σⱼ(Ŵᵢ·Wⱼ)².",
    plan=_plan, run=_run),)
