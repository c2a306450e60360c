"""Learning dynamics (paper E14, `dynamics`): every feature's D_i against the training step, from weight
snapshots at log-spaced steps, for a restart whose features all end in digons; in two settings: a small model
whose digons fill the space (n = 20, m = 10), and the uniform-superposition setting at E7/E8's scale (n = 400,
m = 30) at the density of its antipodal plateau, where the paper looked.
"""
from __future__ import annotations

import html
import os
import time
from typing import List, Optional

import numpy as np

from .. import _tms, api, claims, figures, report, science
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder, recipe

__all__ = ["TARGETS", "dynamics_findings", "smooth_loss_finding", "transitions", "PLATEAU_TOL", "PLATEAU_SPAN",
           "LEARNED", "LEVEL_GAP", "JUMP_DECADES", "SUDDEN", "SMOOTH_SHARE"]

# Levels and jumps of one feature's D_i over the log-spaced snapshots (step 0 left out):
PLATEAU_TOL = 0.02  # a plateau: D_i within this of its first value ...
PLATEAU_SPAN = 1.5  # ... from a step s to at least this multiple of s
LEARNED = 0.2  # a level at least this is a learned configuration (below: the unlearned start, D_i ~ 0.1)
LEVEL_GAP = 0.03  # two plateaus this far apart are different levels
JUMP_DECADES = 0.31  # a change of level within this many decades of steps (a factor 2) is a jump
SUDDEN = 3.0  # a loss drop across a jump is sudden when at least this many times the change just before it
# "smooth loss curves ... are made of many small jumps": at least this share of the loss's fall happens while
# represented features change level, in a model where at least ten features do.
SMOOTH_SHARE = 0.5

# The two settings: (run folder, label, the settings' key prefix).
_SETTINGS = (("relu", "small model", ""), ("uniform", "E7/E8 scale", "uniform_"))


def _all_digons(W, unrepresented_allowed: bool = False) -> bool:
    """Every feature (or, with unrepresented_allowed, every represented one: E7/E8's many features leave most
    unlearned) in a digon, by the geometry finder."""
    g = _tms.geometry_tegum_factors(np.ascontiguousarray(W))
    return (unrepresented_allowed or not g.unrepresented) and bool(g.factors) and all(
        f.name == "digon" for f in g.factors)


def _plan(target: Target, s: dict) -> list:
    return [(folder, dict(model="relu", features=s[prefix + "features"], hidden=s[prefix + "hidden"],
                          importance=1.0, density=[float(s[prefix + "density"])], restarts=s[prefix + "restarts"],
                          **engine_settings(s)))
            for folder, _, prefix in _SETTINGS]


def plateaus(steps, d, norm=None) -> list:
    """(first step, last step, level, represented) of each plateau of one feature's D_i (steps ascending, all > 0):
    runs within PLATEAU_TOL of their first value spanning a factor PLATEAU_SPAN, neighbours less than LEVEL_GAP
    apart merged; represented: the feature's median ‖W_i‖ over the plateau above tms.science's represented_norm
    (always, without norms)."""
    found, j, S = [], 0, len(d)
    while j < S:
        e = j
        while e + 1 < S and abs(d[e + 1] - d[j]) <= PLATEAU_TOL:
            e += 1
        if steps[e] >= PLATEAU_SPAN * steps[j]:
            shown = norm is None or float(np.median(norm[j:e + 1])) > science.represented_norm
            found.append((int(steps[j]), int(steps[e]), float(np.median(d[j:e + 1])), shown))
        j = e + 1
    merged: list = []
    for p in found:
        if merged and abs(merged[-1][2] - p[2]) < LEVEL_GAP and merged[-1][3] == p[3]:
            merged[-1] = (merged[-1][0], p[1], merged[-1][2], p[3])
        else:
            merged.append(p)
    return merged


def transitions(steps, D, represented=None, norms=None) -> list:
    """Every change of level of every feature (of the `represented` mask, default all): dicts of feature, the
    levels before and after, the window (the last step of one plateau, the first of the next), its width in
    decades, whether both levels are learned (at least LEARNED, the feature represented on both: a level change,
    not the feature's first appearance) and whether it is a jump (width at most JUMP_DECADES). norms [S, n]: the
    features' ‖W_i‖ at the snapshots (without: every plateau counts as represented)."""
    steps = np.asarray(steps)
    keep = steps > 0
    st, Dk = steps[keep], np.asarray(D, dtype=np.float64)[keep]
    Nk = None if norms is None else np.asarray(norms, dtype=np.float64)[keep]
    mask = np.ones(Dk.shape[1], dtype=bool) if represented is None else np.asarray(represented, dtype=bool)
    out = []
    for i in np.where(mask)[0]:
        ps = plateaus(st, Dk[:, i], None if Nk is None else Nk[:, i])
        for a, b in zip(ps, ps[1:]):
            width = float(np.log10(b[0] / a[1]))
            out.append(dict(feature=int(i), before=a[2], after=b[2], opens=a[1], closes=b[0], width=width,
                            learned=a[2] >= LEARNED and b[2] >= LEARNED and a[3] and b[3],
                            jump=width <= JUMP_DECADES))
    return out


def _events(changes) -> list:
    """Level jumps grouped into events (windows that overlap), in step order: (opens, closes, features)."""
    events: list = []
    for t in sorted(changes, key=lambda t: t["opens"]):
        if events and t["opens"] <= events[-1][1]:
            events[-1] = (events[-1][0], max(events[-1][1], t["closes"]), events[-1][2] + 1)
        else:
            events.append((t["opens"], t["closes"], 1))
    return events


def _level_text(changes) -> str:
    before = np.median([t["before"] for t in changes])
    after = np.median([t["after"] for t in changes])
    return f"from Dᵢ ≈ {before:.2f} to ≈ {after:.2f}"


def dynamics_findings(run, k, steps, D, digons, represented=None, label: Optional[str] = None,
                      norms=None) -> List[Finding]:
    changes = transitions(steps, D, represented, norms)
    level = [t for t in changes if t["learned"]]
    jumps = [t for t in level if t["jump"]]
    appear = [t for t in changes if not t["learned"] and t["after"] >= LEARNED and t["after"] > t["before"]]
    considered = run.n if represented is None else int(np.sum(represented))
    final = np.asarray(D[-1])[np.ones(run.n, bool) if represented is None else np.asarray(represented, bool)]
    where = f" ({label}, n = {run.n}, m = {getattr(run, 'm', '?')})" if label else ""
    jumping = sorted({t["feature"] for t in jumps})
    found = (f"restarts whose features all end in digons: {len(digons)} of {run.K}. Shown restart: final Dᵢ from "
             f"{final.min():.2f} to {final.max():.2f} over {considered} features. ")
    if appear:
        found += (f"{len(appear)} rise from an unlearned start to a level, in a median "
                  f"{np.median([t['width'] for t in appear]):.2f} decades of steps. ")
    if level:
        found += (f"{len(level)} changes between learned levels ({_level_text(level)}), {len(jumps)} of them "
                  f"jumps (within {JUMP_DECADES:.1f} decades), by {len(jumping)} features"
                  + (f", at steps {min(t['opens'] for t in jumps)} … {max(t['closes'] for t in jumps)}"
                     if jumps else "") + ".")
    else:
        found += "No feature changes between learned levels."
    out = [Finding(
        claim="Feature dimensionalities jump between discrete values during training (\"energy levels\"), and a "
              "model can converge with all features in digons (Dᵢ = 1/2)." + where,
        source="Superposition and Learning Dynamics", found=found,
        verdict=claims.verdict(bool(digons) and len(jumping) >= 2, bool(level)))]
    loss = np.asarray(run.loss_curve[k], dtype=np.float64)
    cs = np.asarray(run.curve_steps)
    events = _events(jumps)
    if events:
        def change(opens, closes):  # relative fall of the loss over [opens, closes]
            lo, hi = np.interp(opens, cs, loss), np.interp(closes, cs, loss)
            return float(lo - hi) / float(lo) if lo > 0 else float("nan")

        def sudden(opens, closes):  # the fall across the window against the change over as long a window before it
            before = change(opens ** 2 / closes, opens)
            return change(opens, closes), change(opens, closes) >= SUDDEN * max(abs(before), 1e-12)

        read = [(e, *sudden(e[0], e[1])) for e in events]
        text = "; ".join(f"steps {e[0]} … {e[1]} ({e[2]} features): the loss falls {d:.2%}"
                         + ("" if ok else " (not sudden)") for e, d, ok in read)
        text += (f". Sudden: at least {SUDDEN:g}× the change over an equally long (log) window just before.")
        n_ok = sum(ok for _, _, ok in read)
        verdict = claims.verdict(n_ok == len(read), n_ok > 0)
    else:  # nothing to test the claim on
        text, verdict = "no jumps between learned levels found", "n/a"
    out.append(Finding(
        claim="Each jump in dimensionality comes with a sudden drop in the loss." + where,
        source="Superposition and Learning Dynamics", found=text, verdict=verdict))
    return out


def smooth_loss_finding(run, k, steps, D, represented, label: str, norms=None) -> Finding:
    """The paper's suspicion, on a model with many features: a smooth loss curve made of many small jumps: the
    share of the loss's fall that happens while represented features jump (any change of level within
    JUMP_DECADES: rising from the start or between levels)."""
    changes = [t for t in transitions(steps, D, represented, norms) if t["jump"]]
    loss = np.asarray(run.loss_curve[k], dtype=np.float64)
    cs = np.asarray(run.curve_steps)
    features = len({t["feature"] for t in changes})
    total = float(loss[0] - loss[-1])
    inside = np.zeros(len(cs) - 1, dtype=bool)  # curve segments inside some change's window
    for t in changes:
        inside |= (cs[1:] > t["opens"]) & (cs[:-1] < t["closes"])
    share = float(np.sum((loss[:-1] - loss[1:])[inside])) / total if total > 0 else float("nan")
    found = (f"{label}, n = {run.n}, m = {run.m}: {features} of {int(np.sum(represented))} represented features "
             f"jump ({len(changes)} jumps within {JUMP_DECADES:.1f} decades, any levels); {share:.0%} of the loss's "
             f"fall from step {int(cs[0])} to the end happens inside their windows.")
    return Finding(claim="Smooth loss curves in larger models are made of many small jumps (the authors' "
                         "suspicion).", source="Superposition and Learning Dynamics", found=found,
                   verdict=claims.verdict(features >= 10 and share >= SMOOTH_SHARE, share >= SMOOTH_SHARE))


def _reading(run, unrepresented_allowed: bool):
    """The restart shown (the lowest-loss one whose features all end in digons, else the lowest-loss one), its
    D [S, n] at every snapshot and the features represented at the end."""
    digons = [k for k in range(run.K) if _all_digons(run.W[k], unrepresented_allowed)]
    pool = digons or list(range(run.K))
    k = min(pool, key=lambda j: run.loss[j] if np.isfinite(run.loss[j]) else np.inf)
    steps = np.asarray(run.snapshot_steps)
    D = np.array([_tms.measure(np.ascontiguousarray(run.snapshot_W[i, k])).dimensionality
                  for i in range(len(steps))])
    represented = np.linalg.norm(run.W[k], axis=1) > science.represented_norm
    norms = np.linalg.norm(run.snapshot_W[:, k], axis=2)  # [S, n]
    return k, steps, D, digons, represented, norms


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    fig_dir = os.path.join(out, "figures")
    os.makedirs(out, exist_ok=True)
    figs: list = []
    add = figure_adder(fig_dir, figs)
    findings, runs, summary = [], [], {}
    for (folder, settings), (_, label, prefix) in zip(job.trainings, _SETTINGS):
        job.log(f"tms reproduce dynamics: {label}, n={settings['features']}, m={settings['hidden']}, "
                f"1-S={settings['density'][0]:g}, {settings['restarts']} restarts with {s['snapshots']} log-spaced "
                f"snapshots -> {os.path.join(out, folder)}")
        run = api.train(progress=job.progress, snapshots=int(s["snapshots"]), **settings)
        run.save(os.path.join(out, folder), overwrite=job.overwrite)
        job.log(f"  {run.seconds:.1f} s")
        k, steps, D, digons, represented, norms = _reading(run, unrepresented_allowed=folder != "relu")
        name = "dynamics" if folder == "relu" else "dynamics_uniform"
        add(figures.dimensionality_dynamics(
            run, k, title=f"{label}: n = {run.n}, m = {run.m}, 1−S = {float(run.density[k]):g}: restart "
                          f"{int(run.restart[k])}"),
            name, f"{label.capitalize()}. Top: every feature's Dᵢ against the training step (log), one line per "
                  "feature, grey lines at 1, 3/4, 2/3, 1/2, 2/5, 3/8 and 0. Bottom: the training loss against the "
                  "same steps.")
        if folder == "relu":
            add(figures.loss_curves(run), "dynamics_loss_all", "The training loss of every restart (small model).")
            findings += dynamics_findings(run, k, steps, D, digons, label=label, norms=norms)
        else:
            findings += dynamics_findings(run, k, steps, D, digons, represented, label=label, norms=norms)
            findings.append(smooth_loss_finding(run, k, steps, D, represented, label, norms))
        changes = transitions(steps, D, represented if folder != "relu" else None, norms)
        runs.append(dict(key=folder, name=f"ReLU output model ({label})", run=run, folder=f"{folder}/", chosen=[k]))
        summary[folder] = dict(shown=int(k), digon_restarts=[int(run.restart[i]) for i in digons],
                               level_changes=[t for t in changes if t["learned"]],
                               appearances=sum(1 for t in changes if not t["learned"]), snapshot_steps=steps.tolist(),
                               train_seconds=run.seconds)
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: "
             f"{recipe(runs[0]['run'])}; snapshots of the weights at {s['snapshots']} steps (0 and log-spaced up to "
             "the last), kept in each run folder's <code>snapshots.npz</code>. A level: a plateau of Dᵢ (within "
             f"{PLATEAU_TOL:g} over a factor {PLATEAU_SPAN:g} of steps); a learned level: at least {LEARNED:g}; a jump: "
             f"a change between learned levels within {JUMP_DECADES:.1f} decades of steps. At E7/E8's scale only "
             "the features represented at the end (‖Wᵢ‖ &gt; "
             f"{science.represented_norm:g}) are followed: the others keep a small Wᵢ whose Dᵢ means little.</p>")
    return report.write(job, start=start, findings=findings, figures=figs, runs=runs, intro_html=intro,
                        summary=summary, numbering="every feature has importance 1")


TARGETS = (Target(
    name="dynamics", title="Learning dynamics: feature dimensionality jumps during training",
    source="Elhage et al. 2022, section \"Superposition and Learning Dynamics\"",
    # uniform_*: E7/E8's n = 400, m = 30 at 1−S = 0.29, where `geometry`'s m/‖W‖_F² sits on the 1/2 plateau
    # (every represented feature in a digon).
    defaults=dict(features=20, hidden=10, density=0.05, restarts=8, uniform_features=400, uniform_hidden=30,
                  uniform_density=0.29, uniform_restarts=3, steps=20_000, batch=1024, snapshots=300),
    quick=dict(features=8, hidden=4, density=0.1, restarts=2, uniform_features=40, uniform_hidden=6,
               uniform_density=0.3, uniform_restarts=1, steps=400, batch=256, snapshots=40),
    about="The paper follows one model of the uniform-superposition setup (equal importance and density) "
          "\"where all the features converge into digons\" and plots each feature's Dᵢ against the training "
          "step above the loss curve. The paper does not give n or m for this figure; this target trains two "
          "settings with weight snapshots at log-spaced steps: n = 20 features in m = 10 dimensions at 1−S = 0.05 "
          "(digons fill the space exactly), and E7/E8's n = 400, m = 30 at 1−S = 0.29, the density of its "
          "antipodal plateau. Each shows a restart whose features all end in digons (the lowest-loss one among "
          "them; the lowest-loss restart when none does).",
    plan=_plan, run=_run),)
