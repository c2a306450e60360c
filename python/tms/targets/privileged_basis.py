"""Superposition in a privileged basis (paper E18, `privileged-basis`): the ReLU hidden-layer model n = 10,
m = 5, best of many restarts per density, its monosemantic and polysemantic neurons and the paper's regimes,
against the linear-hidden comparison (the neuron analysis is tms.privileged).
"""
from __future__ import annotations

import html
import os
import time
from typing import List

import numpy as np

from .. import api, claims, figures, privileged, report, science
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder

__all__ = ["TARGETS", "privileged_findings"]

# Share of densities in the paper's regime for "agrees", half of it for "partly" (the phase diagrams' share).
REGIME_AGREE = claims.AGREE_SHARE
TREND_EXCEPTIONS = 1  # steps against the trend allowed in each of the two counts
TABLE_INSTANCES = 400  # a run of more instances gets no per-instance table in the report (the regime table stays)


def _plan(target: Target, s: dict) -> list:
    """One engine call per model, the same densities: the ReLU hidden-layer model (`restarts`), then the
    linear-hidden comparison, the ReLU output model (`comparison_restarts`, at most `restarts`)."""
    restarts = {"relu-hidden": s["restarts"], "relu": min(int(s["restarts"]), int(s["comparison_restarts"]))}
    return [(model, dict(model=model, features=s["features"], hidden=s["hidden"], importance=s["importance"],
                         density=[float(d) for d in s["densities"]], restarts=restarts[model], lr=s.get("lr"),
                         **engine_settings(s))) for model in ("relu-hidden", "relu")]


def _recipe(run) -> str:
    c = run.config
    notebook = c["lr"] == api.defaults()["lr"] and c["batch"] == api.defaults()["batch"]
    optimiser = (f"AdamW, lr {c['lr']:g}, weight decay {c['weight_decay']:g}, a fresh batch every step")
    return ((f"the companion notebook's recipe ({optimiser})" if notebook else
             f"a faster recipe than the notebook's ({optimiser}; the notebook: lr {api.defaults()['lr']:g}, batch "
             f"{api.defaults()['batch']})") + f", {c['steps']:,} steps, batch {c['batch']}")


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    fig_dir = os.path.join(out, "figures")
    os.makedirs(out, exist_ok=True)
    runs = {}
    for folder, settings in job.trainings:
        job.log(f"tms reproduce privileged-basis: training the {settings['model']} model (n={s['features']}, "
                f"m={s['hidden']}, {len(settings['density'])} densities x {settings['restarts']} restarts) -> "
                f"{os.path.join(out, folder)}")
        runs[folder] = api.train(progress=job.progress, **settings)
        job.log(f"  {runs[folder].seconds:.1f} s")
    # Saved once both models have trained, so that a failed or interrupted run leaves the old runs as they were.
    for folder, _ in job.trainings:
        runs[folder].save(os.path.join(out, folder), overwrite=job.overwrite)
    hidden, linear = runs["relu-hidden"], runs["relu"]
    sweep = privileged.analyse(hidden, linear)
    figs: list = []
    add = figure_adder(fig_dir, figs)
    steps = hidden.config["steps"]
    settings = (f"n = {hidden.n}, m = {hidden.m}, I = {float(s['importance']):g}^i, best of {sweep.restarts} restarts, "
                f"{steps:,} steps")
    add(figures.neuron_stacks(sweep.hidden, suptitle=f"ReLU hidden-layer model, {settings}"), "privileged-basis_stacks",
        "The neuron stack plot: one panel per density (the lowest-loss restart), one column per neuron, one "
        "rectangle per input weight Wᵢⱼ of height |Wᵢⱼ| (positive above the axis, negative below, the order inside "
        "a column not significant), coloured by feature. Neurons run by the importance of their primary feature; "
        f"M (bold) marks a monosemantic neuron (one feature holds ≥ {science.monosemantic_share:.0%} of its squared "
        "weight), P a polysemantic one. Each panel names the regime the engine reads off its counts.")
    dense, sparse = float(sweep.density[0]), float(sweep.density[-1])
    add(figures.neuron_weights(sweep.linear, sweep.hidden, [dense, sparse],
                               suptitle=f"W as a matrix (features × neurons), {settings}"), "privileged-basis_weights",
        f"W of the linear-hidden model (the ReLU output model, h = Wx) against the ReLU hidden-layer model at 1−S = "
        f"{dense:g} and {sparse:g} (lowest-loss restarts): blue −1, white 0, red +1; features from most to least "
        "important, neurons as in the stack plot, each neuron's top share max Wᵢⱼ²/‖wⱼ‖² under its column. The "
        "linear-hidden model's neurons mix features (its W is any rotation of a solution); the ReLU hidden "
        "layer's are aligned with them.")
    add(figures.privileged_counts(hidden, linear, title=f"Represented features and monosemantic neurons ({settings})"),
        "privileged-basis_counts",
        f"Represented features (‖Wᵢ‖ > {science.represented_norm:g}) and monosemantic neurons of the lowest-loss "
        "ReLU hidden-layer model against 1−S (log), over the paper's regimes shaded at the 1−S ranges it prints "
        "(the regimes printed at one value, 0.15 and 0.12, as narrow bands), with the counts each regime is named for dashed; dotted grey: "
        "the monosemantic neurons of the linear-hidden model.")
    add(figures.loss_curves(sweep.hidden, title="ReLU hidden-layer model: training loss (lowest-loss restarts)"),
        "privileged-basis_loss", "ReLU hidden-layer model: the training loss of the lowest-loss restart at each "
        "density against steps.")
    findings = privileged_findings(sweep)
    sections = [_table(sweep)]
    agree = [a for a in sweep.agree if a is not None]
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)} (E18). Training: "
             f"{_recipe(hidden)}, {len(sweep.density)} densities × {sweep.restarts} restarts (the paper: "
             f"1,000) and the linear-hidden comparison at the same densities × {int(linear.config['restarts'])} "
             "restarts, each model's grid in one engine call; the lowest final training loss is kept per density. "
             "Neurons: the engine's <code>measure_neurons</code> (monosemantic when the top share max Wᵢⱼ²/‖wⱼ‖² ≥ "
             f"{science.monosemantic_share:g}, dead when ‖wⱼ‖ &lt; {science.dead_neuron_norm:g}); "
             "regimes: the engine's <code>privileged_regime</code> (represented features, monosemantic neurons → "
             "the paper's name, or \"other\"). Run folders: <code>relu-hidden/</code> and <code>relu/</code> (every "
             f"restart).</p><p><b>Densities in the regime the paper names: {sum(agree)} of {len(agree)}</b>.</p>")
    run_entries = [dict(key="relu-hidden", name="ReLU hidden-layer model", run=hidden, folder="relu-hidden/",
                        chosen=hidden.best_restart_indices(), table=hidden.K <= TABLE_INSTANCES),
                   dict(key="relu", name="Linear-hidden comparison (ReLU output model)", run=linear, folder="relu/",
                        chosen=linear.best_restart_indices())]
    lin_mean = sweep.linear_top_share.mean(axis=1)
    summary = dict(density=sweep.density.tolist(), regime=sweep.regime, paper_regime=sweep.expected,
                   agree=sweep.agree, agreeing=int(sum(agree)), judged=len(agree),
                   represented=sweep.represented.tolist(), monosemantic=sweep.monosemantic.tolist(),
                   polysemantic=sweep.polysemantic.tolist(), dead=sweep.dead.tolist(),
                   mean_top_share=sweep.top_share.mean(axis=1).tolist(),
                   features_per_neuron=[float(v) if np.isfinite(v) else None for v in sweep.features_per_live_neuron],
                   linear_mean_top_share=lin_mean.tolist(),
                   linear_monosemantic=sweep.linear_monosemantic.tolist(), restart_regimes=sweep.restart_regimes,
                   loss=sweep.hidden.loss.tolist(), restarts=sweep.restarts,
                   comparison_restarts=int(linear.config["restarts"]), steps=steps, batch=hidden.config["batch"],
                   lr=hidden.config["lr"], train_seconds=float(hidden.seconds + linear.seconds))
    return report.write(job, start=start, findings=findings, figures=figs, runs=run_entries, intro_html=intro,
                        sections=sections, summary=summary,
                        numbering=f"feature 0 is the most important (I_i = {float(s['importance']):g}^i)")


def _counts_text(sweep, js) -> str:
    return "; ".join(f"1−S = {float(sweep.density[j]):g}: {int(sweep.represented[j])} / {int(sweep.monosemantic[j])}"
                     for j in js)


def privileged_findings(sweep) -> List[Finding]:
    """E18's claims for a privileged.PrivilegedSweep (densest first)."""
    out = []
    n, m = sweep.hidden.n, sweep.hidden.m
    d = sweep.density
    all_mono = privileged.PAPER_REGIMES[0][0]
    dense_lo = privileged.PAPER_REGIMES[0][1]
    dense = [j for j in range(len(d)) if d[j] >= dense_lo - 1e-9]
    ok = [sweep.regime[j] == all_mono for j in dense]
    out.append(Finding(
        claim=f"Dense features (1−S ≥ ~{dense_lo:g}): all monosemantic neurons, each of the m = {m} most important "
              f"features gets a dedicated neuron ({m} represented, {m} monosemantic).",
        source="Superposition in a Privileged Basis (E18, regime table)",
        found=(f"represented features / monosemantic neurons of the lowest-loss model: {_counts_text(sweep, dense)}; "
               f"{all_mono} at {sum(ok)} of {len(ok)} densities ≥ {dense_lo:g}." if dense else
               f"no density ≥ {dense_lo:g} in this run."),
        verdict=claims.verdict(all(ok), sum(ok) * 2 >= len(ok) or (bool(ok) and ok[0])) if dense else "n/a"))
    judged = [j for j in range(len(d)) if sweep.expected[j] is not None]
    hits = [j for j in judged if sweep.regime[j] == sweep.expected[j]]
    misses = [j for j in judged if j not in hits]
    share = len(hits) / len(judged) if judged else float("nan")
    out.append(Finding(
        claim="The solution moves through named regimes as sparsity grows: " + ", ".join(
            f"{name} (1−S {privileged.PAPER_RANGES[name]})" for name, _, _ in privileged.PAPER_REGIMES) + ".",
        source="Superposition in a Privileged Basis (E18, regime table)",
        found=(f"the lowest-loss model is in the paper's regime at {len(hits)} of {len(judged)} densities with a "
               "printed range"
               + (". Elsewhere: " + "; ".join(
                   f"1−S = {float(d[j]):g}: {sweep.regime[j]} ({int(sweep.represented[j])} represented, "
                   f"{int(sweep.monosemantic[j])} monosemantic; the paper: {sweep.expected[j]})" for j in misses)
                  if misses else "")
               + ". Regimes found, dense → sparse: " + ", ".join(
                   f"{float(d[j]):g}: {sweep.regime[j]}" for j in range(len(d))) + "."
               if judged else "no density of this run lies in a range the paper prints (or n, m are not 10, 5)."),
        verdict=claims.verdict(share >= REGIME_AGREE, share >= REGIME_AGREE / 2) if judged else "n/a"))
    rep = [int(v) for v in sweep.represented]
    mono = [int(v) for v in sweep.monosemantic]
    rep_back = sum(1 for a, b in zip(rep, rep[1:]) if b < a)
    mono_back = sum(1 for a, b in zip(mono, mono[1:]) if b > a)
    mixed = [j for j in range(len(d)) if sweep.monosemantic[j] > 0 and sweep.polysemantic[j] > 0]
    ends = len(d) >= 2 and rep[0] == m and rep[-1] == n and mono[0] == m and mono[-1] == 0
    out.append(Finding(
        claim=f"There is a shift from monosemantic to polysemantic neurons as sparsity increases: the represented "
              f"features rise from m = {m} to n = {n} and the monosemantic neurons fall from {m} to 0; both kinds "
              "can exist in the same model.",
        source="Superposition in a Privileged Basis (E18, claim 1)",
        found=f"represented features / monosemantic neurons, dense → sparse: {_counts_text(sweep, range(len(d)))}. "
              f"Steps against the trend: {rep_back} in the represented features, {mono_back} in the monosemantic "
              f"neurons (allowed: {TREND_EXCEPTIONS} each). Models with both kinds of neuron: "
              + (", ".join(f"1−S = {float(d[j]):g}" for j in mixed) or "none") + ".",
        verdict=claims.verdict(ends and rep_back <= TREND_EXCEPTIONS and mono_back <= TREND_EXCEPTIONS,
                                len(d) >= 2 and rep[-1] > rep[0] and mono[-1] < mono[0])))
    if sweep.linear is None:
        out.append(Finding(claim="The linear-hidden model's W is not neuron-aligned; the ReLU hidden layer's is.",
                           source="Superposition in a Privileged Basis (E18, W as a matrix)",
                           found="no linear-hidden run was given.", verdict="n/a"))
        return out
    j = 0  # the densest
    hid_top, lin_top = sweep.top_share[j], sweep.linear_top_share[j]
    hid_mono, lin_mono = int(sweep.monosemantic[j]), int(sweep.linear_monosemantic[j])
    lin_mean_all = sweep.linear_top_share.mean(axis=1)
    share = science.monosemantic_share
    out.append(Finding(
        claim="Without an activation on the neurons (linear hidden, here the ReLU output model) nothing privileges "
              "the neuron basis and W is not neuron-aligned; with the ReLU hidden layer it is.",
        source="Superposition in a Privileged Basis (E18, W as a raw matrix for both models)",
        found=f"at 1−S = {float(d[j]):g}: mean neuron top share {float(hid_top.mean()):.2f} for the ReLU hidden layer "
              f"({hid_mono} of {m} neurons monosemantic) against {float(lin_top.mean()):.2f} for the linear-hidden "
              f"model ({lin_mono} of {m}; per neuron " + ", ".join(f"{v:.2f}" for v in np.sort(lin_top)[::-1])
              + "). Linear-hidden mean top share at every density, dense → sparse: "
              + ", ".join(f"{v:.2f}" for v in lin_mean_all) + ".",
        verdict=claims.verdict(hid_mono == m and lin_mono * 2 < m and float(lin_top.mean()) < share,
                                float(lin_top.mean()) < float(hid_top.mean()))))
    return out


def _table(sweep) -> str:
    rows = []
    for j, dj in enumerate(sweep.density):
        exp = sweep.expected[j]
        hit = sweep.agree[j]
        style = "" if hit is None or hit else ' style="background:#f6d5d5"'
        mark = "—" if hit is None else ("yes" if hit else "no")
        others = ", ".join(f"{c} {html.escape(r)}" for r, c in sweep.restart_regimes[j].items())
        lin = (f'<td class="num">{float(sweep.linear_top_share[j].mean()):.2f}</td>'
               if sweep.linear_top_share is not None else "<td>—</td>")
        rows.append(f'<tr{style}><td class="num">{float(dj):g}</td><td>{html.escape(sweep.regime[j])}</td>'
                    f"<td>{html.escape(exp) if exp else '— (between printed ranges)'}"
                    f"{' <small>(' + privileged.PAPER_RANGES[exp] + ')</small>' if exp else ''}</td><td>{mark}</td>"
                    f'<td class="num">{int(sweep.represented[j])}</td><td class="num">{int(sweep.monosemantic[j])}'
                    f'</td><td class="num">{int(sweep.polysemantic[j])}</td><td class="num">{int(sweep.dead[j])}</td>'
                    f'<td class="num">{float(sweep.top_share[j].mean()):.2f}</td>'
                    f'<td class="num">{float(sweep.features_per_live_neuron[j]):.1f}</td>{lin}'
                    f'<td class="num">{float(sweep.hidden.loss[j]):.5f}</td><td><small>{others}</small></td></tr>')
    return ("<h2>Regimes per density</h2><p>Per density, the lowest-loss ReLU hidden-layer model: the regime the "
            "engine names from its counts, the one the paper's table names at that 1−S (red rows differ), its "
            "represented features, monosemantic / polysemantic / dead neurons, the mean neuron top share and features "
            "per live neuron (the engine's participation ratio ‖wⱼ‖⁴/Σᵢ Wᵢⱼ⁴), the mean top share of the "
            "lowest-loss linear-hidden model, the training loss, and the regimes of all restarts. The regime is "
            "named from the two counts alone, not from how the features share the neurons.</p>"
            "<div style=\"overflow-x:auto\"><table><thead><tr><th>1−S</th><th>regime found</th><th>the paper's "
            "regime</th><th>same</th><th>represented</th><th>monosemantic</th><th>polysemantic</th><th>dead</th>"
            "<th>mean top share</th><th>features per neuron</th><th>linear hidden: mean top share</th><th>loss</th>"
            "<th>all restarts</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table></div>")


TARGETS = (Target(
    name="privileged-basis", title="Superposition in a privileged basis: the ReLU hidden-layer model (n = 10, "
                                   "m = 5)",
    source="Elhage et al. 2022, section \"Superposition in a Privileged Basis\"",
    # The notebook's recipe (lr 1e-3, batch 1024, 10,000 steps). relu-hidden takes the small-model kernel:
    # 12 densities cost about 0.75 s of two cores per restart, so 200 restarts (the paper: 1,000) and the
    # linear-hidden grid at 16 (its claim does not need more) take about 3 minutes on two cores.
    # comparison_restarts: the relu (linear-hidden) model's restarts, at most `restarts`.
    defaults=dict(features=10, hidden=5, importance=0.75,
                  densities=(1.0, 0.7, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05, 0.03, 0.01), restarts=200,
                  comparison_restarts=16, steps=10_000, batch=1024, lr=1e-3),
    quick=dict(features=10, hidden=5, importance=0.75, densities=(1.0, 0.5, 0.2, 0.12, 0.05, 0.01), restarts=3,
               comparison_restarts=3, steps=300, batch=256, lr=1e-3),
    about="The ReLU hidden-layer model h = ReLU(Wx), x' = ReLU(Wᵀh + b) (tied weights, no hidden bias), whose "
          "neurons are a privileged basis: n = 10 features of importance Iᵢ = 0.75ⁱ in m = 5 neurons, "
          "trained at feature densities 1−S from 1 to 0.01, several restarts each, the lowest-loss one kept "
          "(the paper keeps the best of 1,000). Each neuron j (column j of W, its input weights) is "
          f"monosemantic when one feature holds at least {science.monosemantic_share:.0%} of its squared weight, "
          "polysemantic otherwise; "
          "the paper names the solutions it finds by how many features are represented and how many neurons "
          "are monosemantic. The same grid is trained with the ReLU output model x' = ReLU(WᵀWx + b) (the "
          "paper's \"linear-hidden\" comparison: its neurons h = Wx have no activation), whose W has no "
          "reason to align with the neurons.",
    plan=_plan, run=_run),)
