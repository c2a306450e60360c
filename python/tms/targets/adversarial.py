"""Superposition and adversarial vulnerability (paper E16, `adversarial`): the ReLU output model with n = 20
features of equal importance in m = 5 dimensions across density, each model attacked by the analytic optimal L2
attack (the engine's, analysis_adversarial.hpp: per sample the worst of ±λ(WᵀW)_i/‖(WᵀW)_i‖ over the features,
λ = 0.1 × the mean input norm), its vulnerability measured against a model without superposition.

The reference the paper leaves unnamed is, here, the model that keeps the m most important features each on its
own orthonormal direction and drops the rest (b = 0), under the same attack norm and on the same samples.
Importance 1 throughout: features per dimension ‖W‖_F²/m then moves with density from 1 (dense: m features) to
n/m (sparse), the axis the paper plots vulnerability against.

Adversarial training (E17, `adversarial-training`): the same model at one density, trained with every batch
attacked (the engine's train option adversarial_training, attack.hpp: each sample moved by the analytic attack on
a random feature, the worse sign, at a multiple of the batch's mean input norm; the loss against the clean
sample), one run per attack norm; superposition measured as features per dimension and as the count of features
in superposition (represented and sharing their dimension: the engine's thresholds, tms.science).
"""
from __future__ import annotations

import html
import os
import time
from typing import List

import numpy as np

from .. import api, claims, figures, report, science
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder, recipe, train_single

__all__ = ["TARGETS", "adversarial_findings", "adversarial_training_findings", "RISE", "CORRELATED",
           "ATTACK_SAMPLES", "LARGE_ATTACK", "REDUCED"]

RISE = 3.0  # "increasing by >3x": the largest vulnerability over the densest model's
CORRELATED = 0.8  # "closely tracks": Pearson correlation of vulnerability and ‖W‖_F²/m across densities
ATTACK_SAMPLES = 100_000  # evaluation samples per model
# E17: "attacks had to be made unreasonably large (80% input L2 norm) to fully eliminate it": the smallest
# training attack norm (× the mean input norm) that leaves no feature in superposition counts as large from this.
LARGE_ATTACK = 0.5
# "did reduce superposition": the Spearman correlation of attack norm and features per dimension at most minus this
REDUCED = 0.8


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


def _plan_training(target: Target, s: dict) -> list:
    return [(f"attack-{float(a):g}", dict(model="relu", features=s["features"], hidden=s["hidden"], importance=1.0,
                                          density=float(s["density"]), restarts=s["restarts"], lr=s.get("lr"),
                                          adversarial_training=float(a), **engine_settings(s)))
            for a in s["attack_norms"]]


def _spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1]) if np.std(ra) > 0 and np.std(rb) > 0 else float("nan")


def adversarial_training_findings(attack_norm, features_per_dimension, superposed) -> List[Finding]:
    """E17's claims from one model per training attack norm (ascending)."""
    a = np.asarray(attack_norm, dtype=np.float64)
    f = np.asarray(features_per_dimension, dtype=np.float64)
    c = np.asarray(superposed, dtype=np.int64)
    rho = _spearman(a, f)
    table = ", ".join(f"{x:g}: {y:.2f} / {z}" for x, y, z in zip(a, f, c))
    gone = [x for x, z in zip(a, c) if z == 0]
    first = float(min(gone)) if gone else float("nan")
    return [
        Finding(claim="Adversarial training (the analytic attack against a random feature) reduces superposition.",
                source="Superposition and adversarial examples (E17)",
                found=f"features per dimension / features in superposition per training attack norm: {table}; "
                      f"Spearman correlation of norm and features per dimension {rho:.2f} (reducing: at most "
                      f"−{REDUCED:g}).",
                verdict=claims.verdict(rho <= -REDUCED and c[-1] < c[0], c[-1] < c[0])),
        Finding(claim="Attacks had to be made unreasonably large (80% of the input L2 norm) to fully eliminate "
                      "superposition.",
                source="Superposition and adversarial examples (E17)",
                found=(f"no feature in superposition from a training attack of {first:g} × the mean input norm on "
                       f"(large: at least {LARGE_ATTACK:g}); below it, {int(c[a < first].min())} or more."
                       if gone and np.any(a < first) else
                       f"no feature in superposition at any norm tried, the smallest {first:g}." if gone else
                       f"superposition remains at every norm tried (up to {a.max():g} × the mean input norm)."),
                verdict=claims.verdict(bool(gone) and first >= LARGE_ATTACK and bool(np.any(a < first)),
                                       bool(gone))),
    ]


def _run_training(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    runs = []
    for folder, settings in job.trainings:
        job.log(f"tms reproduce adversarial-training: training attack norm {settings['adversarial_training']:g} "
                f"({settings['restarts']} restarts) -> {os.path.join(out, folder)}")
        run = api.train(progress=job.progress, **settings)
        job.log(f"  {run.seconds:.1f} s")
        run.save(os.path.join(out, folder), overwrite=job.overwrite)
        runs.append((folder, float(settings["adversarial_training"]), run))
    rows, norms, fpd, superposed, vulnerability, clean = [], [], [], [], [], []
    for folder, a, run in runs:
        k = run.best_restart_indices()[0]
        best = run.select([k])
        measured = best.adversarial(samples=ATTACK_SAMPLES, seed=1)
        norms.append(a)
        fpd.append(float(best.frobenius_sq[0]) / run.m)
        superposed.append(claims.features_in_superposition(best.norms[0], best.superposition[0]))
        vulnerability.append(float(measured["vulnerability"][0]))
        clean.append(float(measured["clean"][0]))
        represented = int(np.sum(best.norms[0] > science.represented_norm))
        rows.append(f'<tr><td class="num">{a:g}</td><td class="num">{fpd[-1]:.2f}</td><td class="num">{represented}'
                    f'</td><td class="num">{superposed[-1]}</td><td class="num">{clean[-1]:.4g}</td>'
                    f'<td class="num">{vulnerability[-1]:.2f}</td><td><code>{folder}/</code></td></tr>')
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    first = runs[0][2]
    add(figures.adversarial_training(norms, fpd, superposed, vulnerability,
                                     suptitle=f"ReLU output model, n = {first.n}, m = {first.m}, I = 1, 1−S = "
                                              f"{float(s['density']):g}: trained against the analytic attack"),
        "adversarial_training",
        "Left: features per dimension ‖W‖_F²/m (blue; the dotted line: 1, no superposition) and the features in "
        "superposition (orange) of the lowest-loss model per training attack norm; right: its vulnerability to "
        "E16's attack at 0.1 × the mean input norm.")
    findings = adversarial_training_findings(norms, fpd, superposed)
    section = ("<h2>Per training attack norm</h2><p>The lowest-loss restart at each norm: features per dimension, "
               "represented features (‖W_i‖ &gt; " f"{science.represented_norm:g}), features in superposition "
               f"(represented and Σ_j≠i (Ŵ_i·W_j)² &gt; {science.superposition_shared:g}), the clean loss and "
               "E16's vulnerability, each on "
               f"{ATTACK_SAMPLES:,} evaluation samples.</p><table><thead><tr><th>attack norm</th><th>‖W‖_F²/m</th>"
               "<th>represented</th><th>in superposition</th><th>clean L</th><th>vulnerability</th><th>run</th>"
               f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: "
             f"{html.escape(recipe(first))}, {int(first.config['restarts'])} restarts per attack norm (the lowest "
             "final training loss kept). Every training sample is moved by the analytic attack on a feature drawn "
             "at random, with the sign that hurts it more, at the stated multiple of the batch's mean input norm; "
             "the loss compares the output with the clean sample, and the attack is held fixed in the "
             "gradient.</p>")
    summary = dict(attack_norm=norms, features_per_dimension=fpd, in_superposition=superposed,
                   vulnerability=vulnerability, clean_loss=clean)
    run_entries = [dict(key=folder, name=f"attack norm {a:g}", run=run, folder=f"{folder}/",
                        chosen=run.best_restart_indices()) for folder, a, run in runs]
    return report.write(job, start=start, findings=findings, figures=figs, runs=run_entries, intro_html=intro,
                        sections=[section], summary=summary, numbering="all features equally important")


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
    plan=_plan, run=_run),
    Target(
        name="adversarial-training",
        title="Adversarial training and superposition (ReLU output model, n = 20, m = 5, 1−S = 0.05)",
        source="Elhage et al. 2022, section \"Superposition and adversarial examples\" (E17)",
        # 1−S = 0.05: near where `adversarial` finds the vulnerability's peak, most features in superposition.
        defaults=dict(features=20, hidden=5, density=0.05,
                      attack_norms=(0.0, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0), restarts=2, steps=10_000,
                      lr=1e-3),
        quick=dict(features=20, hidden=5, density=0.05, attack_norms=(0.0, 0.8, 1.5), restarts=1, steps=300,
                   batch=256, lr=1e-3),
        about="The ReLU output model with n = 20 equally important features in m = 5 dimensions at 1−S = 0.05, "
              "trained with every sample attacked by the analytic attack on a random feature, one run per attack "
              "norm. The paper: adversarial training reduces superposition, but only unreasonably large attacks "
              "(80% of the input norm) eliminate it.",
        plan=_plan_training, run=_run_training),
)
