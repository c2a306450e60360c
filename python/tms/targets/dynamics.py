"""Learning dynamics (paper E14, `dynamics`): every feature's D_i against the training step, from weight
snapshots at log-spaced steps, for a restart whose features all end in digons.
"""
from __future__ import annotations

import html
import os
import time
from typing import List

import numpy as np

from .. import _tms, api, claims, figures, report
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder, recipe

__all__ = ["TARGETS", "dynamics_findings"]

JUMP = 0.15  # a change of D_i by more than this between neighbouring snapshots counts as a jump


def _all_digons(W) -> bool:
    g = _tms.geometry_tegum_factors(np.ascontiguousarray(W))
    return not g.unrepresented and all(f.name == "digon" for f in g.factors)


def _plan(target: Target, s: dict) -> list:
    return [("relu", dict(model="relu", features=s["features"], hidden=s["hidden"], importance=1.0,
                          density=[float(s["density"])], restarts=s["restarts"], **engine_settings(s)))]


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    fig_dir = os.path.join(out, "figures")
    os.makedirs(out, exist_ok=True)
    job.log(f"tms reproduce dynamics: n={s['features']}, m={s['hidden']}, 1-S={s['density']:g}, "
            f"{s['restarts']} restarts with {s['snapshots']} log-spaced snapshots")
    (folder, settings), = job.trainings
    run = api.train(progress=job.progress, snapshots=int(s["snapshots"]), **settings)
    run.save(os.path.join(out, folder), overwrite=job.overwrite)
    job.log(f"  {run.seconds:.1f} s")
    digons = [k for k in range(run.K) if _all_digons(run.W[k])]
    pool = digons or list(range(run.K))
    k = min(pool, key=lambda j: run.loss[j] if np.isfinite(run.loss[j]) else np.inf)
    steps = np.asarray(run.snapshot_steps)
    D = np.array([_tms.measure(np.ascontiguousarray(run.snapshot_W[i, k])).dimensionality
                  for i in range(len(steps))])
    figs: list = []
    add = figure_adder(fig_dir, figs)
    add(figures.dimensionality_dynamics(
        run, k, title=f"n = {run.n}, m = {run.m}, 1−S = {float(run.density[k]):g}: restart {int(run.restart[k])}"),
        "dynamics", "Top: every feature's Dᵢ against the training step (log), one line per feature, grey lines at "
        "1, 3/4, 2/3, 1/2, 2/5, 3/8 and 0. Bottom: the training loss against the same steps.")
    add(figures.loss_curves(run), "dynamics_loss_all", "The training loss of every restart.")
    findings = dynamics_findings(run, k, steps, D, digons)
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: {recipe(run)}, "
             f"{run.K} restarts; snapshots of the weights at {len(steps)} steps (0 and log-spaced up to the last), "
             f"kept in <code>relu/snapshots.npz</code>. Restarts whose features all end in digons: "
             f"{', '.join(str(int(run.restart[j])) for j in digons) or 'none'}; shown: restart "
             f"{int(run.restart[k])}.</p>")
    runs = [dict(key="relu", name="ReLU output model", run=run, folder=f"{folder}/", chosen=[k])]
    summary = dict(shown=int(k), digon_restarts=[int(run.restart[j]) for j in digons],
                   snapshot_steps=steps.tolist(), train_seconds=run.seconds)
    return report.write(job, start=start, findings=findings, figures=figs, runs=runs, intro_html=intro,
                        summary=summary, numbering="every feature has importance 1")


def dynamics_findings(run, k, steps, D, digons) -> List[Finding]:
    keep = steps > 0
    Dk = D[keep]
    jumps = np.abs(np.diff(Dk, axis=0)) > JUMP
    features_jumping = int(jumps.any(axis=0).sum())
    jump_steps = np.asarray(steps[keep][1:])[jumps.any(axis=1)]
    final = np.asarray(Dk[-1])
    out = [Finding(
        claim="Feature dimensionalities jump between discrete values during training (\"energy levels\"), and a "
              "model can converge with all features in digons (Dᵢ = 1/2).",
        source="Superposition and Learning Dynamics",
        found=f"restarts whose features all end in digons: {len(digons)} of {run.K}. Shown restart: final Dᵢ "
              f"from {final.min():.2f} to {final.max():.2f}; {features_jumping} of {run.n} features change Dᵢ by "
              f"more than {JUMP} between neighbouring snapshots"
              + (f", at steps {int(jump_steps.min())} … {int(jump_steps.max())}" if jump_steps.size else "") + ".",
        verdict=claims.verdict(bool(digons) and features_jumping >= run.n // 2, features_jumping > 0))]
    loss = np.asarray(run.loss_curve[k])
    cs = np.asarray(run.curve_steps)
    if jump_steps.size:
        # The loss just before and after the first and the last jump window.
        def drop(step):
            i = int(np.searchsorted(cs, step))
            lo, hi = max(i - 3, 0), min(i + 3, len(cs) - 1)
            return float(loss[lo] - loss[hi]) / float(loss[lo]) if loss[lo] > 0 else float("nan")

        first, last = drop(jump_steps.min()), drop(jump_steps.max())
        text = (f"relative loss drop across the first jump (step {int(jump_steps.min())}): {first:.0%}; across the "
                f"last (step {int(jump_steps.max())}): {last:.0%}.")
        verdict = claims.verdict(bool(first > 0 and last > 0), bool(first > 0 or last > 0))
    else:  # nothing to test the claim on
        text, verdict = "no jumps found", "n/a"
    out.append(Finding(
        claim="Each jump in dimensionality comes with a sudden drop in the loss.",
        source="Superposition and Learning Dynamics", found=text, verdict=verdict))
    return out


TARGETS = (Target(
    name="dynamics", title="Learning dynamics: feature dimensionality jumps during training",
    source="Elhage et al. 2022, section \"Superposition and Learning Dynamics\"",
    defaults=dict(features=20, hidden=10, density=0.05, restarts=8, steps=20_000, batch=1024, snapshots=300),
    quick=dict(features=8, hidden=4, density=0.1, restarts=2, steps=400, batch=256, snapshots=40),
    about="The paper follows one model of the uniform-superposition setup (equal importance and density) "
          "\"where all the features converge into digons\" and plots each feature's Dᵢ against the training "
          "step above the loss curve. The paper does not give n or m for this figure; this target uses n = 20 "
          "features in m = 10 dimensions (so digons fill the space exactly) at 1−S = 0.05, trains several "
          "restarts with weight snapshots at log-spaced steps, and shows a restart whose features all end in "
          "digons (the lowest-loss one among them; the lowest-loss restart when none does).",
    plan=_plan, run=_run),)
