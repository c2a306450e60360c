"""Superposition and adversarial vulnerability (paper E16, `adversarial`): the ReLU output model with n = 20
features of equal importance in m = 5 dimensions across density, each model attacked by the analytic optimal L2
attack (the engine's, analysis_adversarial.hpp: per sample the worst of ±λ(WᵀW)_i/‖(WᵀW)_i‖ over the features,
λ = 0.1 × the mean input norm), its vulnerability measured against a model without superposition.

The reference the paper leaves unnamed is, here, the model that keeps the m most important features each on its
own orthonormal direction and drops the rest (b = 0), under the same attack norm and on the same samples.
Importance 1 throughout: features per dimension ‖W‖_F²/m then moves with density from 1 (dense: m features) to
n/m (sparse), the axis the paper plots vulnerability against. Adversarial training (E17) is not part of this
version.
"""
from __future__ import annotations

import html
import os
import time
from typing import List

import numpy as np

from .. import claims, figures, report
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder, recipe, train_single

__all__ = ["TARGETS", "adversarial_findings", "RISE", "CORRELATED", "ATTACK_SAMPLES"]

RISE = 3.0  # "increasing by >3x": the largest vulnerability over the densest model's
CORRELATED = 0.8  # "closely tracks": Pearson correlation of vulnerability and ‖W‖_F²/m across densities
ATTACK_SAMPLES = 100_000  # evaluation samples per model


def _plan(target: Target, s: dict) -> list:
    return [("adversarial", dict(model="relu", features=s["features"], hidden=s["hidden"], importance=1.0,
                                 density=[float(d) for d in s["density"]], restarts=s["restarts"], lr=s.get("lr"),
                                 **engine_settings(s)))]


def adversarial_findings(density, vulnerability, features_per_dimension) -> List[Finding]:
    """E16's claims for one model per density (any order)."""
    order = np.argsort(density)[::-1]  # densest first
    d = np.asarray(density, dtype=np.float64)[order]
    v = np.asarray(vulnerability, dtype=np.float64)[order]
    f = np.asarray(features_per_dimension, dtype=np.float64)[order]
    rise = float(np.nanmax(v) / v[0]) if v[0] > 0 else float("nan")
    peak = int(np.nanargmax(v))
    r = float(np.corrcoef(v, f)[0, 1]) if len(v) > 2 and np.std(v) > 0 and np.std(f) > 0 else float("nan")
    table = ", ".join(f"{a:g}: {b:.2f} / {c:.2f}" for a, b, c in zip(d, v, f))
    return [
        Finding(claim="Vulnerability to adversarial examples sharply increases as superposition forms (increasing "
                      f"by >{RISE:g}×).",
                source="Superposition and adversarial examples (E16, claim 1)",
                found=f"vulnerability / features per dimension per 1−S (densest first): {table}; the largest "
                      f"vulnerability, {v[peak]:.2f} at 1−S = {d[peak]:g}, is {rise:.1f}× the densest model's "
                      f"({v[0]:.2f}, with {f[0]:.2f} features per dimension).",
                verdict=claims.verdict(rise > RISE, rise > 1.5)),
        Finding(claim="It closely tracks the number of features per dimension ‖W‖_F²/m: the two are highly "
                      "correlated.",
                source="Superposition and adversarial examples (E16, claims 2 and 3)",
                found=f"Pearson correlation across the {len(v)} densities: {r:.3f} (tracking: at least "
                      f"{CORRELATED:g}).",
                verdict=claims.verdict(r >= CORRELATED, r >= 0.5)),
    ]


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    run = train_single(job, f"{len(s['density'])} densities × {s['restarts']} restarts")
    chosen = run.best_restart_indices()
    best = run.select(chosen)
    job.log(f"tms reproduce adversarial: attacking {best.K} models on {ATTACK_SAMPLES:,} samples each")
    a = best.adversarial(samples=ATTACK_SAMPLES, seed=1)
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    add(figures.adversarial(best.density, a["vulnerability"], a["features_per_dimension"],
                            suptitle=f"ReLU output model, n = {run.n}, m = {run.m}, I = 1: the analytic L2 attack at "
                                     "0.1 × the mean input norm"), "adversarial",
        "Left: the vulnerability (L' − L)/(L'₀ − L₀) (red) and the features per dimension ‖W‖_F²/m (blue) of the "
        "lowest-loss model per density, against 1−S; right: vulnerability against features per dimension.")
    findings = adversarial_findings(best.density, a["vulnerability"], a["features_per_dimension"])
    rows = "".join(
        f'<tr><td class="num">{best.density[k]:g}</td><td class="num">{a["features_per_dimension"][k]:.2f}</td>'
        f'<td class="num">{a["clean"][k]:.4g}</td><td class="num">{a["attacked"][k]:.4g}</td>'
        f'<td class="num">{a["reference_clean"][k]:.4g}</td><td class="num">{a["reference_attacked"][k]:.4g}</td>'
        f'<td class="num">{a["vulnerability"][k]:.2f}</td><td class="num">{a["attack_norm"][k]:.4g}</td></tr>'
        for k in range(best.K))
    section = ("<h2>Per density</h2><p>The lowest-loss model at each density: ‖W‖_F²/m, its clean and attacked "
               "losses, the reference's, the vulnerability and the attack norm λ.</p><table><thead><tr><th>1−S</th>"
               "<th>‖W‖_F²/m</th><th>L</th><th>L'</th><th>L₀</th><th>L'₀</th><th>vulnerability</th><th>λ</th>"
               f"</tr></thead><tbody>{rows}</tbody></table>")
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: "
             f"{html.escape(recipe(run))}, {int(run.config['restarts'])} restarts per density (the lowest final "
             f"loss kept). Attack: {ATTACK_SAMPLES:,} samples of the evaluation stream per model, each sample's "
             "worst feature and sign.</p>")
    summary = dict(density=[float(v) for v in best.density], **{key: [float(v) for v in a[key]] for key in a})
    return report.write(job, start=start, findings=findings, figures=figs,
                        runs=[dict(key="adversarial", name="ReLU output model", run=run, folder="adversarial/",
                                   chosen=chosen)],
                        intro_html=intro, sections=[section], summary=summary, numbering="all features equally important")


TARGETS = (Target(
    name="adversarial", title="Superposition and adversarial vulnerability (ReLU output model, n = 20, m = 5)",
    source="Elhage et al. 2022, section \"Superposition and adversarial examples\" (E16)",
    # The paper states no model, sizes or importance; Keltin's companion uses 20/5 and 40 instances.
    defaults=dict(features=20, hidden=5, density=tuple(float(v) for v in np.round(np.geomspace(1.0, 0.01, 12), 4)),
                  restarts=4, steps=10_000, lr=1e-3),
    quick=dict(features=20, hidden=5, density=(1.0, 0.1, 0.03), restarts=1, steps=300, batch=256, lr=1e-3),
    about="The ReLU output model with n = 20 equally important features in m = 5 dimensions across density, each "
          "model under the analytic optimal L2 attack of norm 0.1 × the mean input norm. The paper: the "
          "vulnerability relative to a model without superposition rises by more than 3× as superposition forms, "
          "tracking the features per dimension.",
    plan=_plan, run=_run),)
