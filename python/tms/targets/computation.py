"""Computation in superposition (paper E20, E21, `computation`): the absolute-value model with n = 100 features
(I_i = 0.8^i) in m = 40 neurons across seven densities. Its neurons go from monosemantic to polysemantic as the
features get sparser, it computes |x_i| for features that share neurons, and some neurons show the asymmetric
superposition motif. The measurements are the engine's (targets.absolute).
"""
from __future__ import annotations

import html
import math
import os
import time
from typing import List, Optional

import numpy as np

from .. import claims, figures, report, science
from ..claims import Finding
from . import absolute
from .common import Job, Target, figure_adder, recipe

__all__ = ["TARGETS", "computation_findings", "PANELS", "FEW", "TREND_EXCEPTIONS"]

# The paper's panel claims (E20), densest first: (1−S, what it says). Each is judged by a rule below.
PANELS = (
    (1.0, "all neurons are monosemantic"),
    (0.3, "neurons continue to be monosemantic"),
    (0.1, "a few slightly polysemantic neurons"),
    (0.03, "a small number of highly polysemantic neurons representing low importance features"),
    (0.01, "the number of polysemantic neurons grows"),
    (0.003, "they become even more polysemantic"),
    (0.001, "all neurons are highly polysemantic"),
)
FEW = 0.25  # "a few", "a small number": at least one and at most this share of the live neurons
TREND_EXCEPTIONS = 1  # steps against the trend allowed in the polysemantic count
MOTIFS_SHOWN = 2  # the paper shows two instances of the motif


def _few(count: int, model) -> bool:
    return 1 <= count <= FEW * model.live


def _panel(density: float, model, denser) -> Optional[tuple]:
    """(the paper's words, whether this model agrees, what was measured) for the panel at `density`, given the
    next denser model of the run (or None); None when the paper has no panel there."""
    found = [(d, w) for d, w in PANELS if math.isclose(d, density, rel_tol=1e-9)]
    if not found:
        return None
    density, words = found[0]
    mo = model
    poly, live = mo.polysemantic, mo.live
    if density in (1.0, 0.3):
        return words, poly == 0, f"{poly} of {live} live neurons polysemantic"
    if density == 0.1:
        ok = _few(poly, mo) and mo.slightly_polysemantic >= mo.highly_polysemantic
        return words, ok, (f"{poly} polysemantic of {live} (a few: 1 to {FEW * live:g}), {mo.slightly_polysemantic} "
                           f"of them slightly, {mo.highly_polysemantic} highly")
    if density == 0.03:
        rank_poly = mo.mean_primary_index(mo.polysemantic_neurons())
        rank_mono = mo.mean_primary_index(mo.monosemantic_neurons())
        low = bool(np.isfinite(rank_poly)) and (not np.isfinite(rank_mono) or rank_poly > rank_mono)
        ok = _few(mo.highly_polysemantic, mo) and low
        return words, ok, (f"{mo.highly_polysemantic} highly polysemantic (a small number: 1 to {FEW * live:g}) and "
                           f"{mo.slightly_polysemantic} slightly, of {live}; mean importance rank of the primary "
                           f"feature: {rank_poly:.1f} for the polysemantic neurons, {rank_mono:.1f} for the "
                           "monosemantic ones")
    if density == 0.01:
        if denser is None:
            return words, False, "no denser model to compare with"
        return words, poly > denser.polysemantic, (f"{poly} polysemantic of {live}, against {denser.polysemantic} "
                                                   f"at 1−S = {denser.density:g}")
    if density == 0.003:
        if denser is None:
            return words, False, "no denser model to compare with"
        ok = mo.features_per_neuron > denser.features_per_neuron
        return words, ok, (f"{mo.features_per_neuron:.2f} features per live neuron, against "
                           f"{denser.features_per_neuron:.2f} at 1−S = {denser.density:g}")
    return words, mo.highly_polysemantic == live and live > 0, (
        f"{mo.highly_polysemantic} of {live} live neurons highly polysemantic, {mo.slightly_polysemantic} slightly, "
        f"{mo.monosemantic} monosemantic")


def computation_findings(models: list) -> List[Finding]:
    """E20's and E21's claims for the best model per density (targets.absolute.AbsModel, densest first)."""
    out = []
    d = [mo.density for mo in models]
    m = models[0].m
    judged = []
    for j, mo in enumerate(models):
        p = _panel(mo.density, mo, models[j - 1] if j > 0 else None)
        if p is not None:
            judged.append((mo.density,) + p)
    hits = [x for x in judged if x[2]]
    share = len(hits) / len(judged) if judged else float("nan")
    out.append(Finding(
        claim="Panel by panel, dense → sparse: " + "; ".join(f"1−S = {x:g}: \"{w}\"" for x, w in PANELS) + ".",
        source="Computation in Superposition (E20, the stack plots at seven densities)",
        found=(f"{len(hits)} of {len(judged)} panels as the paper says (\"highly polysemantic\": top share below "
               f"{absolute.HIGHLY_POLYSEMANTIC:g}, \"slightly\": polysemantic with a top share of at least that). "
               + " ".join(f"1−S = {x:g}: {'yes' if ok else 'no'} ({text})." for x, _, ok, text in judged)
               if judged else "no density of the paper's seven in this run."),
        verdict=claims.verdict(share >= claims.AGREE_SHARE, share >= claims.AGREE_SHARE / 2) if judged else "n/a"))
    poly = [mo.polysemantic for mo in models]
    back = sum(1 for a, b in zip(poly, poly[1:]) if b < a)
    ends = len(models) >= 2 and poly[0] == 0 and poly[-1] == models[-1].live
    out.append(Finding(
        claim="The neurons go from monosemantic to polysemantic as sparsity grows: none polysemantic when dense, "
              "all of them at the sparsest density.",
        source="Computation in Superposition (E20)",
        found="polysemantic of live neurons, dense → sparse: " + ", ".join(
            f"{x:g}: {mo.polysemantic}/{mo.live}" for x, mo in zip(d, models))
              + "; mean features per live neuron " + ", ".join(f"{mo.features_per_neuron:.2f}" for mo in models)
              + f". Steps against the trend: {back} (allowed: {TREND_EXCEPTIONS}).",
        verdict=claims.verdict(ends and back <= TREND_EXCEPTIONS, len(models) >= 2 and poly[-1] > poly[0])))
    mixed = [mo for mo in models if mo.monosemantic > 0 and mo.polysemantic > 0]
    ranks = [(mo, mo.mean_primary_index(mo.monosemantic_neurons()), mo.mean_primary_index(mo.polysemantic_neurons()))
             for mo in mixed]
    ordered = [mo for mo, rm, rp in ranks if rm < rp]
    out.append(Finding(
        claim="Neurons that represent the most important features tend to be monosemantic; monosemantic and "
              "polysemantic neurons coexist in one model.",
        source="Computation in Superposition (E20, further claim 2)",
        found=("models with both kinds: " + "; ".join(
            f"1−S = {mo.density:g} ({mo.monosemantic} monosemantic, {mo.polysemantic} polysemantic; mean importance "
            f"rank of the primary feature {rm:.1f} against {rp:.1f})" for mo, rm, rp in ranks)
               + f". The monosemantic neurons' primaries are the more important at {len(ordered)} of {len(mixed)}."
               if mixed else "no model has both kinds of neuron."),
        verdict=claims.verdict(bool(mixed) and len(ordered) == len(mixed),
                                bool(mixed) and 2 * len(ordered) >= len(mixed)) if mixed else "differs"))
    total_poly = sum(mo.polysemantic for mo in models)
    total_slight = sum(mo.slightly_polysemantic for mo in models)
    out.append(Finding(
        claim="Many neurons have a \"primary\" feature with a large weight plus \"secondary\" features with small "
              "weights.",
        source="Computation in Superposition (E20, further claim 3)",
        found=(f"of the {total_poly} polysemantic neurons over all densities, {total_slight} have a primary feature "
               f"(top share ≥ {absolute.HIGHLY_POLYSEMANTIC:g}); per density: " + ", ".join(
                   f"{mo.density:g}: {mo.slightly_polysemantic} of {mo.polysemantic}" for mo in models if
                   mo.polysemantic) + "." if total_poly else "no polysemantic neuron in any model."),
        verdict=claims.verdict(total_poly > 0 and 2 * total_slight >= total_poly, total_slight > 0)))
    sparse = [mo for mo in models if 2 * mo.polysemantic > mo.live]
    ok = bool(sparse) and all(mo.computed_in_superposition() > 0 and 2 * mo.computed_in_superposition() >= mo.computed
                              for mo in sparse)
    out.append(Finding(
        claim="The model does computation on features in superposition: it computes |x_i| for features that have "
              "no neurons of their own.",
        source="Computation in Superposition (E20, further claim 1)",
        found=f"features computed (response to ±e_i ≥ {science.abs_computed_output:g} for both signs) / of them "
              "without a monosemantic neuron pair / monosemantic pairs, dense → sparse: " + ", ".join(
                  f"{mo.density:g}: {mo.computed}/{mo.computed_in_superposition()}/{mo.monosemantic_pairs}"
                  for mo in models)
              + f". With two neurons per feature, m = {m} neurons could compute {m // 2} features without "
              f"superposition; the most computed: {max(mo.computed for mo in models)}. Models where most neurons are "
              "polysemantic: " + (", ".join(f"1−S = {mo.density:g}" for mo in sparse) or "none") + ".",
        verdict=claims.verdict(ok, any(mo.computed_in_superposition() > 0 for mo in models))))
    per = [(mo, mo.motifs(True), mo.motifs(False)) for mo in models]
    best = max(per, key=lambda t: (len(t[1]), len(t[2])))
    out.append(Finding(
        claim="The asymmetric superposition motif: a neuron stores two features with input weights of different "
              "size and opposite sign (e.g. [2, −½]) and reads them out reciprocally ([½, 2]), so one interferes "
              "heavily with the other but not the reverse; a second neuron inhibits that interference. The paper "
              "shows two instances, each using two neurons.",
        source="Computation in Superposition (E21)",
        found=f"by the engine's rule (each feature's own path through the neuron ≥ {science.asymmetric_path_gain:g}, "
              f"a's interference on b ≥ {science.asymmetric_ratio:g}× b's on a, an inhibitor cancelling ≥ "
              f"{science.inhibition_share:.0%} of a's interference), motifs with opposite / equal signs, and in "
              "brackets the one-sided form (inhibited, but computing only b) and all asymmetric neurons, dense → "
              "sparse: " + ", ".join(f"{mo.density:g}: {len(o)}/{len(e)} ({len(mo.one_sided())}, "
                                     f"{len(mo.asymmetric)})" for mo, o, e in per)
              + (f". The most at 1−S = {best[0].density:g}; for example " + "; ".join(
                  _motif_text(t) for t in (best[1] + best[2])[:MOTIFS_SHOWN]) if best[1] or best[2] else "")
              + ".",
        verdict=claims.verdict(len(best[1]) >= MOTIFS_SHOWN, any(o or e for _, o, e in per))))
    return out


def _motif_text(t) -> str:
    return (f"neuron {t.neuron}: W_in {t.strong_weight:+.2f} (feature {t.strong}), {t.weak_weight:+.2f} (feature "
            f"{t.weak}), own-path gains {t.strong_gain:.2f} and {t.weak_gain:.2f}, interference "
            f"{t.interference:.2f} against {t.reverse:.2f} back, inhibitor neuron "
            f"{t.inhibitor} cancelling {t.inhibition:.0%}, the model's y'_{t.weak} on x_{t.strong} alone "
            f"{t.residual:.0%} of it")


def _table(models) -> str:
    rows = []
    for mo in models:
        poly = mo.polysemantic_neurons()
        pairs = ", ".join(f"{mo.neurons.primary[j]}→{mo.neurons.secondary[j]}" for j in
                          sorted(poly, key=lambda j: mo.neurons.primary[j])[:10])
        if len(poly) > 10:
            pairs += f", … ({len(poly)} in all)"
        rows.append(f'<tr><td class="num">{mo.density:g}</td><td class="num">{mo.loss:.3g}</td>'
                    f'<td class="num">{mo.monosemantic}</td><td class="num">{mo.slightly_polysemantic}</td>'
                    f'<td class="num">{mo.highly_polysemantic}</td><td class="num">{mo.neurons.dead}</td>'
                    f'<td class="num">{mo.features_per_neuron:.2f}</td><td class="num">{mo.represented}</td>'
                    f'<td class="num">{mo.computed}</td><td class="num">{mo.computed_in_superposition()}</td>'
                    f'<td class="num">{mo.monosemantic_pairs}</td><td class="num">{len(mo.motifs(True))}</td>'
                    f'<td class="num">{len(mo.motifs(False))}</td><td class="num">{len(mo.one_sided())}</td>'
                    f"<td><small>{html.escape(pairs)}</small></td></tr>")
    return ("<h2>Neurons per density</h2><p>The lowest-loss model at each density: monosemantic, slightly "
            f"polysemantic (top share from {absolute.HIGHLY_POLYSEMANTIC:g} to {science.monosemantic_share:g}) "
            "and highly polysemantic neurons, dead neurons, the mean features per live neuron (participation "
            f"ratio), features represented (‖W_in,i‖ > {science.represented_norm:g}), features computed, those of "
            "them without a monosemantic pair, monosemantic pairs, the asymmetric motif with opposite and equal "
            "signs and its one-sided form (inhibited, computing only the weak feature), and the primary → "
            "secondary feature of the polysemantic neurons.</p>"
            '<div style="overflow-x:auto"><table><thead><tr><th>1−S</th><th>loss</th><th>mono</th>'
            "<th>slightly poly</th><th>highly poly</th><th>dead</th><th>features per neuron</th>"
            "<th>represented</th><th>computed</th><th>computed, no mono pair</th><th>mono pairs</th>"
            "<th>motif (opposite)</th><th>motif (equal)</th><th>one-sided</th>"
            "<th>polysemantic: primary → secondary</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table></div>")


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    run, best, models = absolute.train_and_analyse(job)
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    steps = run.config["steps"]
    label = (f"abs model, n = {run.n}, m = {run.m}, I = {float(s['importance']):g}^i, "
             f"{int(run.config['restarts'])} restart(s), {steps:,} steps")
    titles = [f"1−S = {mo.density:g}: {mo.monosemantic} mono, {mo.polysemantic} poly, "
              f"{mo.features_per_neuron:.1f} features/neuron" for mo in models]
    add(figures.neuron_stacks(best, titles=titles, suptitle=label, weights=best.W_in, absolute=True,
                              color="superposition"), "computation_stacks",
        "The paper's stack plot of the absolute-value model: one panel per density (lowest-loss restart), a column "
        "per neuron, a rectangle per input weight of height |W_in,ij| stacked upwards, coloured by its feature's "
        "superposition Σ_{j≠i}(Ŵ_i·W_j)² (dark: alone in its direction, yellow: ≥ 1). Neurons run by the "
        "importance of their primary feature; M marks a monosemantic neuron (top share ≥ "
        f"{science.monosemantic_share:g}), P a polysemantic one, d a dead one.")
    d = [mo.density for mo in models]
    add(figures.counts_against_density(
        d, {"monosemantic neurons": [mo.monosemantic for mo in models],
            "polysemantic neurons": [mo.polysemantic for mo in models],
            "highly polysemantic neurons": [mo.highly_polysemantic for mo in models],
            "features represented": [mo.represented for mo in models],
            "features computed": [mo.computed for mo in models],
            "computed without a monosemantic pair": [mo.computed_in_superposition() for mo in models],
            "asymmetric motifs (both signs)": [len(mo.motifs(True)) + len(mo.motifs(False)) for mo in models],
            "one-sided asymmetric neurons": [len(mo.one_sided()) for mo in models]},
        title=f"Neurons and features against sparsity ({label})", hlines={"m": run.m, "m/2": run.m / 2}),
        "computation_counts",
        "Per density (lowest-loss restart): monosemantic, polysemantic and highly polysemantic (top share below "
        f"{absolute.HIGHLY_POLYSEMANTIC:g}) neurons; features represented (‖W_in,i‖ > "
        f"{science.represented_norm:g}); features computed (the model's response to ±e_i at least "
        f"{science.abs_computed_output:g} for both signs) and those of them without a monosemantic neuron pair; "
        "the asymmetric motifs and their one-sided form. Dotted: m and m/2, the features m neurons compute "
        "without superposition.")
    shown = max(models, key=lambda mo: (len(mo.motifs(True)), len(mo.motifs(False)), len(mo.one_sided())))
    examples = (shown.motifs(True) + shown.motifs(False) + shown.one_sided())[:MOTIFS_SHOWN]
    if examples:
        k = models.index(shown)
        add(figures.asymmetric_motifs(best, k, examples, suptitle=f"Asymmetric superposition at 1−S = "
                                                                  f"{shown.density:g} ({label})"),
            "computation_motif",
            f"The asymmetric superposition motif (E21) at 1−S = {shown.density:g}, where the engine finds the most "
            "(the paper's motif first, then the one-sided form): per instance, the input weights of the strong "
            "feature a and the weak feature b into the asymmetric neuron and its inhibitor, and the two neurons' weights to outputs a and b, each neuron rescaled as in "
            "footnote 15 (its largest |W_in| is 1). Under them: a's interference on b through the asymmetric "
            "neuron and the share of it the inhibitor cancels.")
    add(figures.loss_curves(best, title="abs model: training loss"), "computation_loss",
        "The training loss at each density against steps.")
    findings = computation_findings(models)
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)} (E20, E21). Training: "
             f"{recipe(run)}, {len(d)} densities × {int(run.config['restarts'])} restart(s) in one engine call. "
             "Measured by the engine on the lowest-loss model per density: neurons from W_in "
             f"(<code>measure_neurons</code>: monosemantic at a top share ≥ {science.monosemantic_share:g}), "
             "the neuron pairs (<code>measure_abs_sides</code>), the features computed "
             "(<code>abs_one_hot_outputs</code>: y'_i(±e_i) − y'_i(0) ≥ "
             f"{science.abs_computed_output:g} for both signs) and the asymmetric motif "
             "(<code>asymmetric_neurons</code>: for a neuron j with largest input weights a and b, both own paths "
             f"|W_in,aj| W_out,aj and |W_in,bj| W_out,bj ≥ {science.asymmetric_path_gain:g}, a's interference on b "
             f"|W_in,aj| W_out,bj at least {science.asymmetric_ratio:g} times b's on a, and another neuron firing on "
             f"the same sign of x_a that cancels at least {science.inhibition_share:.0%} of it). Run folder: "
             "<code>abs/</code>.</p>")
    summary = dict(density=d, loss=[mo.loss for mo in models], monosemantic=[mo.monosemantic for mo in models],
                   polysemantic=[mo.polysemantic for mo in models],
                   highly_polysemantic=[mo.highly_polysemantic for mo in models],
                   dead=[int(mo.neurons.dead) for mo in models],
                   features_per_neuron=[mo.features_per_neuron for mo in models],
                   represented=[mo.represented for mo in models], computed=[mo.computed for mo in models],
                   computed_in_superposition=[mo.computed_in_superposition() for mo in models],
                   monosemantic_pairs=[mo.monosemantic_pairs for mo in models],
                   motifs_opposite=[len(mo.motifs(True)) for mo in models],
                   motifs_equal=[len(mo.motifs(False)) for mo in models],
                   one_sided=[len(mo.one_sided()) for mo in models],
                   asymmetric=[len(mo.asymmetric) for mo in models],
                   primary=[list(mo.neurons.primary) for mo in models],
                   secondary=[list(mo.neurons.secondary) for mo in models],
                   restarts=int(run.config["restarts"]), steps=steps, batch=run.config["batch"],
                   lr=run.config["lr"], train_seconds=float(run.seconds))
    return report.write(job, start=start, findings=findings, figures=figs,
                        runs=[dict(key="abs", name="abs model", run=run, folder="abs/",
                                   chosen=run.best_restart_indices())],
                        intro_html=intro, sections=[_table(models)], summary=summary,
                        numbering=f"feature 0 is the most important (I_i = {float(s['importance']):g}^i)")


TARGETS = (Target(
    name="computation", title="Computation in superposition: the absolute-value model, n = 100, m = 40",
    source="Elhage et al. 2022, section \"Computation in Superposition\" (the sparsity sweep and the asymmetric "
           "superposition motif)",
    # The notebook's optimiser (AdamW, lr 1e-3, batch 1024), one model per density (the paper does not say how
    # many it trained). Steps: on the abs model's tiled kernel 1,000 steps of the 7 densities cost about 3 s
    # of two cores, so 30,000 steps take under 2 minutes (96 s measured). 10,000 steps leave the sparse
    # densities less trained: at 10,000 steps 1−S = 0.01 already had all 40 neurons polysemantic and the features per
    # neuron fell from 4.6 at 0.003 to 4.4 at 0.001; at 30,000 they rise 1.6, 2.7, 3.8 and the neurons turn
    # polysemantic gradually (27, 39, 40 of 40), as in the paper's panels. lr 3e-3 and 1e-2 were worse at the
    # sparse densities (higher loss at 10,000 steps).
    defaults=dict(features=100, hidden=40, importance=0.8, densities=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
                  restarts=1, steps=30_000, batch=1024, lr=1e-3),
    quick=dict(features=100, hidden=40, importance=0.8, densities=(1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001),
               restarts=1, steps=300, batch=256, lr=1e-3),
    about="The absolute-value model h = ReLU(W_in x), y' = ReLU(W_out h + b) (untied, no hidden bias) trained to "
          "output |x| on signed inputs (x_i = 0 with probability S, else uniform on [−1, 1)): n = 100 features of "
          "importance I_i = 0.8^i in m = 40 neurons at 1−S = 1, 0.3, 0.1, 0.03, 0.01, 0.003 and 0.001. Each "
          "neuron's input weights (a column of W_in) say which features it responds to: monosemantic when one "
          f"feature holds at least {science.monosemantic_share:.0%} of its squared weight. The paper draws them as "
          "stack plots and reads off where neurons turn polysemantic, which features they carry, and a motif by "
          "which two features share a neuron asymmetrically.",
    plan=absolute.plan, run=_run),)
