"""Computation in superposition, the smallest case (paper E19, `abs-small`): the absolute-value model with n = 3
features in m = 6 neurons, at several densities, best of several restarts. Does every feature get a pair of
neurons, ReLU(x_i) and ReLU(−x_i), added up into |x_i|? The measurements are the engine's (targets.absolute).
"""
from __future__ import annotations

import html
import os
import time
from typing import List

from .. import claims, figures, report, science
from ..claims import Finding
from . import absolute
from .common import Job, Target, figure_adder, recipe

__all__ = ["TARGETS", "abs_small_findings", "GAIN_TOL"]

# How close to the exact construction (each side's gain 1, the model's response to ±e_i 1) a dense solution must
# be to count as it: a tenth of the target.
GAIN_TOL = 0.1
DENSE = 1.0  # the density of claims 1 and 2: "without superposition", all features dense


def _restart_pairs(run) -> dict:
    """Per density: how many restarts give every feature a monosemantic pair."""
    out: dict = {}
    for k in range(run.K):
        d = float(run.density[k])
        model = absolute.measure(run, k)
        out.setdefault(d, [0, 0])
        out[d][1] += 1
        out[d][0] += int(model.monosemantic_pairs == len(model.importance))
    return out


def _exact(model) -> bool:
    """Every feature computed as the paper's construction: one monosemantic neuron per side, each side's gain
    and the model's response to ±e_i within GAIN_TOL of 1."""
    n = len(model.importance)
    s, o = model.sides, model.outputs
    return model.monosemantic_pairs == n and all(
        len(s.positive[i]) == 1 and len(s.negative[i]) == 1 and abs(s.positive_gain[i] - 1) <= GAIN_TOL
        and abs(s.negative_gain[i] - 1) <= GAIN_TOL and abs(o.positive[i] - 1) <= GAIN_TOL
        and abs(o.negative[i] - 1) <= GAIN_TOL for i in range(n))


def _sides_text(model) -> str:
    s = model.sides
    return "; ".join(f"feature {i}: + neurons {list(s.positive[i])} (gain {s.positive_gain[i]:.2f}), − neurons "
                     f"{list(s.negative[i])} (gain {s.negative_gain[i]:.2f})" for i in range(len(s.paired)))


def abs_small_findings(models: list, restart_pairs: dict) -> List[Finding]:
    """E19's claims for the best model per density (targets.absolute.AbsModel, densest first) and, per density,
    [restarts with every feature on a monosemantic pair, restarts]."""
    out = []
    n, m = len(models[0].importance), models[0].m
    dense = [mo for mo in models if abs(mo.density - DENSE) < 1e-9]
    if dense:
        d = dense[0]
        one_each = d.monosemantic_pairs == n and all(
            len(d.sides.positive[i]) == 1 and len(d.sides.negative[i]) == 1 for i in range(n))
        out.append(Finding(
            claim=f"Without superposition (dense features, 1−S = 1) the model needs two neurons per feature for "
                  f"|x|: each of the n = {n} features gets its own pair of monosemantic neurons, 2n = {2 * n} in "
                  f"all (m = {m}).",
            source="Computation in Superposition, the n = 3, m = 6 example (E19, claim 1)",
            found=f"the lowest-loss model at 1−S = 1: {d.pairs} of {n} features have a positive- and a "
                  f"negative-side neuron group (each side's gain ≥ {science.abs_side_gain:g}), {d.monosemantic_pairs} "
                  f"of them monosemantic; {d.monosemantic} of {m} neurons monosemantic. {_sides_text(d)}.",
            verdict=claims.verdict(one_each, d.pairs == n)))
        o = d.outputs
        out.append(Finding(
            claim="Each feature's pair is a \"positive side\" neuron ReLU(x_i) and a \"negative side\" neuron "
                  "ReLU(−x_i), added into the output: |x_i| = ReLU(x_i) + ReLU(−x_i).",
            source="Computation in Superposition (E19, claim 2)",
            found="at 1−S = 1, per feature, the model's response to x = +e_i and −e_i (y'_i less y'_i(0), the target "
                  "1): " + "; ".join(f"{i}: {o.positive[i]:.3f} / {o.negative[i]:.3f}" for i in range(n))
                  + "; y'_i(0) = ReLU(b_i): " + ", ".join(f"{v:.3f}" for v in o.zero)
                  + f". The exact construction (one neuron per side, gains and responses within {GAIN_TOL:g} of 1): "
                  + ("yes." if _exact(d) else "no."),
            verdict=claims.verdict(_exact(d), d.computed == n)))
    else:
        for claim in ("two neurons per feature", "positive side"):
            out.append(Finding(claim=f"E19 ({claim}) at 1−S = 1.", source="E19", found="no density 1 in this run.",
                               verdict="n/a"))
    holds = [mo for mo in models if mo.monosemantic_pairs == n]
    out.append(Finding(
        claim=f"[inferred] With m = 2n neurons every feature has room for its own pair, so the construction needs no "
              "superposition at any sparsity: the same monosemantic pairs at every density (the paper states the "
              "construction without a sparsity).",
        source="Computation in Superposition (E19; the sparse densities are this target's addition)",
        found="monosemantic pairs of the lowest-loss model, dense → sparse: " + ", ".join(
            f"1−S = {mo.density:g}: {mo.monosemantic_pairs} of {n} (loss {mo.loss:.2g}; restarts with all "
            f"{n}: {restart_pairs[mo.density][0]} of {restart_pairs[mo.density][1]})" for mo in models) + ".",
        verdict=claims.verdict(len(holds) == len(models), 2 * len(holds) >= len(models))))
    return out


def _table(models, restart_pairs) -> str:
    rows = []
    n = len(models[0].importance)
    for mo in models:
        s, o = mo.sides, mo.outputs
        style = "" if mo.monosemantic_pairs == n else ' style="background:#f6d5d5"'
        gains = ", ".join(f"{s.positive_gain[i]:.2f}/{s.negative_gain[i]:.2f}" for i in range(n))
        resp = ", ".join(f"{o.positive[i]:.2f}/{o.negative[i]:.2f}" for i in range(n))
        good, total = restart_pairs[mo.density]
        rows.append(f'<tr{style}><td class="num">{mo.density:g}</td><td class="num">{mo.loss:.3g}</td>'
                    f'<td class="num">{mo.monosemantic}</td><td class="num">{mo.polysemantic}</td>'
                    f'<td class="num">{mo.neurons.dead}</td><td class="num">{mo.pairs}</td>'
                    f'<td class="num">{mo.monosemantic_pairs}</td><td class="num">{mo.computed}</td>'
                    f"<td><small>{gains}</small></td><td><small>{resp}</small></td>"
                    f'<td class="num">{good} of {total}</td></tr>')
    return ("<h2>Neuron pairs per density</h2><p>The lowest-loss model at each density: its monosemantic, "
            "polysemantic and dead neurons (of W_in), the features with a neuron pair (a positive and a negative "
            f"side of gain ≥ {science.abs_side_gain:g} each), those whose pair is monosemantic, the features computed "
            f"(the response to ±e_i ≥ {science.abs_computed_output:g} for both signs), each feature's side gains "
            "(+/−) and responses (+e_i/−e_i), and how many of the restarts give every feature a monosemantic "
            "pair. Red rows: not every feature has one.</p><table><thead><tr><th>1−S</th><th>loss</th>"
            "<th>monosemantic</th><th>polysemantic</th><th>dead</th><th>pairs</th><th>monosemantic pairs</th>"
            "<th>computed</th><th>side gains</th><th>responses</th><th>restarts with every pair</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    run, best, models = absolute.train_and_analyse(job)
    restart_pairs = _restart_pairs(run)
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    steps = run.config["steps"]
    label = (f"abs model, n = {run.n}, m = {run.m}, I = {float(s['importance']):g}^i, best of "
             f"{int(run.config['restarts'])} restarts, {steps:,} steps")
    titles = [f"1−S = {mo.density:g}\n{mo.monosemantic_pairs} monosemantic pairs" for mo in models]
    add(figures.abs_weights(best, titles=[f"1−S = {mo.density:g}" for mo in models], suptitle=label),
        "abs-small_weights",
        "W_1 = W_in (features × neurons) and W_2 = W_out (outputs × neurons) of the lowest-loss model at each "
        "density, each neuron rescaled as in the paper's footnote 15 (its largest |W_in| weight is 1, W_out's "
        "column multiplied by the same factor: the model's function is unchanged); blue −1, white 0, red +1 "
        "(W_out on ±2). Under each neuron its side: +i fires on x_i > 0 and adds to y'_i, −i fires on x_i < 0.")
    add(figures.neuron_stacks(best, titles=titles, suptitle=label, weights=best.W_in), "abs-small_stacks",
        "The stack plot of W_in: one panel per density, a column per neuron, a rectangle per input weight (height "
        "|W_in,ij|, positive above the axis, negative below), coloured by feature; M marks a monosemantic neuron "
        f"(top share ≥ {science.monosemantic_share:g}), P a polysemantic one. A pair is one neuron above the "
        "axis and one below in the same colour.")
    d = [mo.density for mo in models]
    add(figures.counts_against_density(
        d, {"features with a monosemantic pair": [mo.monosemantic_pairs for mo in models],
            "features with a pair": [mo.pairs for mo in models],
            "features computed": [mo.computed for mo in models],
            "monosemantic neurons": [mo.monosemantic for mo in models],
            "restarts with every pair (share × n)": [run.n * restart_pairs[x][0] / restart_pairs[x][1] for x in d]},
        title=f"Neuron pairs against sparsity ({label})", hlines={"n": run.n, "m": run.m}),
        "abs-small_pairs", "Per density, the lowest-loss model's features with a (monosemantic) neuron pair, "
        "features computed and monosemantic neurons, and the share of all restarts that give every feature a "
        "monosemantic pair (scaled to n).")
    add(figures.loss_curves(best, title="abs model: training loss (lowest-loss restarts)"), "abs-small_loss",
        "The training loss of the lowest-loss restart at each density against steps.")
    findings = abs_small_findings(models, restart_pairs)
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)} (E19). Training: "
             f"{recipe(run)}, {len(d)} densities × {int(run.config['restarts'])} restarts in one engine call; the "
             "lowest final training loss is kept per density. Measured by the engine (<code>measure_neurons</code> "
             "on W_in, <code>measure_abs_sides</code>, <code>abs_one_hot_outputs</code>): a side of feature i is "
             "the live neurons whose primary input feature is i with one sign of W_in,ij; its gain is Σ "
             "|W_in,ij| W_out,ij over them (unchanged by the rescaling of footnote 15); a feature has a pair when "
             f"both sides reach {science.abs_side_gain:g}. Run folder: <code>abs/</code> (every restart).</p>")
    summary = dict(density=d, loss=[mo.loss for mo in models], monosemantic=[mo.monosemantic for mo in models],
                   polysemantic=[mo.polysemantic for mo in models], pairs=[mo.pairs for mo in models],
                   monosemantic_pairs=[mo.monosemantic_pairs for mo in models],
                   computed=[mo.computed for mo in models],
                   positive_gain=[list(mo.sides.positive_gain) for mo in models],
                   negative_gain=[list(mo.sides.negative_gain) for mo in models],
                   restarts_with_every_pair=[restart_pairs[x][0] for x in d], restarts=int(run.config["restarts"]),
                   steps=steps, batch=run.config["batch"], lr=run.config["lr"], train_seconds=float(run.seconds))
    return report.write(job, start=start, findings=findings, figures=figs,
                        runs=[dict(key="abs", name="abs model", run=run, folder="abs/",
                                   chosen=run.best_restart_indices())],
                        intro_html=intro, sections=[_table(models, restart_pairs)], summary=summary,
                        numbering="the features are equally important (I_i = 1)")


TARGETS = (Target(
    name="abs-small", title="Computation in superposition: the absolute-value model, n = 3, m = 6",
    source="Elhage et al. 2022, section \"Computation in Superposition\" (the n = 3, m = 6 example)",
    # The notebook's optimiser (AdamW, lr 1e-3, batch 1024). Sparse features are rarely active, so they learn
    # slowly: at 10,000 steps the best restart at 1−S = 0.01 and 0.003 still had polysemantic neurons and
    # cross-weights of 0.4, at 50,000 they reach the pairs (0.001 not even at 100,000). 7 densities × 16
    # restarts × 50,000 steps take under a minute on two cores (the model is tiny).
    defaults=dict(features=3, hidden=6, importance=1.0, densities=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                  restarts=16, steps=50_000, batch=1024, lr=1e-3),
    quick=dict(features=3, hidden=6, importance=1.0, densities=(1.0, 0.1, 0.01), restarts=2, steps=500, batch=256,
               lr=1e-3),
    about="The absolute-value model h = ReLU(W_in x), y' = ReLU(W_out h + b) (untied, no hidden bias) trained to "
          "output |x| on signed inputs (x_i = 0 with probability S, else uniform on [−1, 1)), with n = 3 equally "
          "important features in m = 6 neurons: exactly two neurons per feature, the number the paper says |x_i| "
          "needs without superposition (a positive side ReLU(x_i) and a negative side ReLU(−x_i), added). Trained "
          "from dense to very sparse features, several restarts each, the lowest-loss one kept.",
    plan=absolute.plan, run=_run),)
