"""L1 regularization removes superposition (paper E22, `l1`): the ReLU output model of the basic results (n = 20,
m = 5, I_i = 0.7^i) at a sparse density, 1−S = 0.05, trained with λ‖h‖₁ added to the loss for λ from 0 up a log
scale. The paper gives no setting for this claim; this target takes the model and importance of its basic results
(E3), where superposition at 1−S = 0.05 is plain (ten features in five dimensions, as antipodal pairs).
"""
from __future__ import annotations

import html
import os
import time
from typing import List

import numpy as np

from .. import api, claims, figures, report, science
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder

__all__ = ["TARGETS", "l1_findings", "L1Point", "measure", "LOSS_RISE", "LOSS_NOISE", "EVAL_SAMPLES"]

LOSS_RISE = 0.05  # the largest λ's reconstruction loss at least this much (relative) above λ = 0's: "higher loss"
LOSS_NOISE = 0.05  # a step between neighbouring λ may fall this much (relative) without breaking the rise: the
# restart choice and the evaluation's samples move the loss by about 1% between equal solutions
EVAL_SAMPLES = 500_000  # fresh samples for each λ's reconstruction loss
TREND_EXCEPTIONS = 1


def _folder(lam: float) -> str:
    return f"lambda-{lam:g}"


def _plan(target: Target, s: dict) -> list:
    lambdas = [float(v) for v in s["lambdas"]]
    return [(_folder(lam), dict(model=s["model"], features=s["features"], hidden=s["hidden"],
                                importance=s["importance"], density=[float(s["density"])], restarts=s["restarts"],
                                lr=s.get("lr"), l1=lam, **engine_settings(s))) for lam in lambdas]


class L1Point:
    """The lowest-loss restart at one λ and its measurements."""

    def __init__(self, lam: float, best, reconstruction: float):
        self.lam = lam
        self.run = best  # a Run of one instance
        self.objective = float(best.loss[0])  # the training loss, λ‖h‖₁ included
        self.reconstruction = reconstruction  # the weighted MSE alone (λ = 0) on fresh samples
        W = np.asarray(best.W[0], dtype=np.float64)
        self.norms = np.linalg.norm(W, axis=1)
        self.represented_set = [i for i in range(len(self.norms)) if self.norms[i] > science.represented_norm]
        self.represented = len(self.represented_set)
        self.m = best.m
        self.in_superposition = claims.features_in_superposition(self.norms, best.superposition[0])
        cos = claims.cosines(W)
        rep = self.represented_set
        self.antipodal_pairs = sum(1 for a in range(len(rep)) for b in range(a + 1, len(rep))
                                   if cos[rep[a], rep[b]] < science.antipodal_pair_cos)
        self.features_per_dim = float(best.frobenius_sq[0]) / self.m

    @property
    def superposition(self) -> bool:
        """More features represented than dimensions, or a represented feature sharing its direction."""
        return self.represented > self.m or self.in_superposition > 0

    @property
    def top_k(self) -> bool:
        """The represented features are the most important ones (features 0 … k−1, I_i = base^i)."""
        return self.represented_set == list(range(self.represented))


def measure(lam: float, run, samples: int = EVAL_SAMPLES, seed: int = 0) -> L1Point:
    """The L1Point of one λ's run: its lowest-loss restart, evaluated without the penalty on fresh samples."""
    best = run.best_restarts()
    plain = best.select([0])
    plain.config = dict(plain.config, l1=0.0)  # the reconstruction loss alone
    return L1Point(lam, best, float(plain.evaluate(samples=samples, seed=seed)[0]))


def l1_findings(points: List[L1Point]) -> List[Finding]:
    """E22's claims for one L1Point per λ, ascending (the first λ = 0)."""
    out = []
    lam = [p.lam for p in points]
    m = points[0].m
    sup = [p.in_superposition for p in points]
    back = sum(1 for a, b in zip(sup, sup[1:]) if b > a)
    rep = [p.represented for p in points]
    rep_back = sum(1 for a, b in zip(rep, rep[1:]) if b > a)
    gone = [p for p in points if not p.superposition]
    first_gone = gone[0].lam if gone else None
    ok = (points[0].lam == 0 and points[0].superposition and not points[-1].superposition
          and back <= TREND_EXCEPTIONS and rep_back <= TREND_EXCEPTIONS)
    out.append(Finding(
        claim="An L1 penalty on the hidden activations (λ‖h‖₁ added to the loss) gets rid of superposition: with "
              "λ large enough no more features are represented than there are dimensions, and none shares its "
              "direction.",
        source="Strategic Picture, approach 1: L1 regularization (E22)",
        found="per λ, represented features (‖W_i‖ > "
              f"{science.represented_norm:g}) / of them in superposition (Σ_j≠i (Ŵ_i·W_j)² > "
              f"{science.superposition_shared:g}) / antipodal pairs (cos < {science.antipodal_pair_cos:g}) / "
              "‖W‖_F²/m: " + "; ".join(f"λ = {p.lam:g}: {p.represented} / {p.in_superposition} / {p.antipodal_pairs}"
                                     f" / {p.features_per_dim:.2f}" for p in points)
              + f" (m = {m}). " + (f"No superposition from λ = {first_gone:g}." if gone else
                                   "Superposition at every λ.")
              + f" Steps against the trend: {back} in superposition, {rep_back} represented "
                f"(allowed: {TREND_EXCEPTIONS} each).",
        verdict=claims.verdict(ok, points[0].superposition and sup[-1] < sup[0])))
    rec = [p.reconstruction for p in points]
    drops = [(a, b) for a, b in zip(points, points[1:]) if b.reconstruction < a.reconstruction * (1 - LOSS_NOISE)]
    rise = rec[-1] > rec[0] * (1 + LOSS_RISE)
    out.append(Finding(
        claim="Removing superposition this way costs a higher loss.",
        source="Strategic Picture, approach 1 (E22)",
        found=f"the reconstruction loss (the weighted MSE alone, on {EVAL_SAMPLES:,} fresh samples) per λ: "
              + ", ".join(f"{p.lam:g}: {p.reconstruction:.3g}" for p in points)
              + f"; {rec[-1] / rec[0]:.2f}× λ = 0's at the largest λ (a rise: more than {1 + LOSS_RISE:g}×); "
              + (f"falls of more than {LOSS_NOISE:.0%} between neighbouring λ: "
                 + ", ".join(f"{a.lam:g} → {b.lam:g}" for a, b in drops) if drops
                 else f"no fall of more than {LOSS_NOISE:.0%} between neighbouring λ")
              + ". The training objective with the penalty: " + ", ".join(f"{p.objective:.3g}" for p in points) + ".",
        verdict=claims.verdict(rise and not drops, rec[-1] > rec[0])))
    tops = [p for p in points if p.top_k]
    out.append(Finding(
        claim="It amounts to \"killing features below a certain importance threshold\": the features that survive "
              "are the most important ones.",
        source="Strategic Picture, approach 1 (E22)",
        found="the represented features at each λ: " + "; ".join(
            f"λ = {p.lam:g}: " + (f"0 … {p.represented - 1}" if p.top_k and p.represented else
                                  ", ".join(str(i) for i in p.represented_set) or "none") for p in points)
              + f"; the most important ones at {len(tops)} of {len(points)} λ.",
        verdict=claims.verdict(len(tops) == len(points), 2 * len(tops) >= len(points))))
    return out


def _table(points) -> str:
    rows = []
    for p in points:
        rows.append(f'<tr><td class="num">{p.lam:g}</td><td class="num">{p.represented}</td>'
                    f'<td class="num">{max(0, p.represented - p.m)}</td><td class="num">{p.in_superposition}</td>'
                    f'<td class="num">{p.antipodal_pairs}</td><td class="num">{p.features_per_dim:.2f}</td>'
                    f'<td class="num">{p.reconstruction:.4g}</td><td class="num">{p.objective:.4g}</td>'
                    f"<td><small>{', '.join(f'{v:.2f}' for v in p.norms[:12])}</small></td></tr>")
    return ("<h2>Superposition per λ</h2><p>The lowest-loss restart at each λ: represented features and how many "
            "beyond m, features in superposition, antipodal pairs, features per dimension ‖W‖_F²/m, the "
            "reconstruction loss (no penalty, fresh samples) and the training objective (penalty included), and "
            "the norms ‖W_i‖ of features 0–11.</p><table><thead><tr><th>λ</th><th>represented</th><th>beyond m</th>"
            "<th>in superposition</th><th>antipodal pairs</th><th>‖W‖_F²/m</th><th>reconstruction loss</th>"
            "<th>objective</th><th>‖W_i‖</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    runs = []
    for folder, settings in job.trainings:
        job.log(f"tms reproduce l1: training the {settings['model']} model with λ = {settings['l1']:g} "
                f"({settings['restarts']} restarts) -> {os.path.join(out, folder)}")
        run = api.train(progress=job.progress, **settings)
        job.log(f"  {run.seconds:.1f} s")
        runs.append((folder, settings["l1"], run))
    # Saved once every λ has trained, so that a failed or interrupted run leaves the old runs as they were.
    for folder, _, run in runs:
        run.save(os.path.join(out, folder), overwrite=job.overwrite)
    order = sorted(range(len(runs)), key=lambda j: runs[j][1])
    points = [measure(runs[j][1], runs[j][2]) for j in order]
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    first = runs[0][2]
    steps = first.config["steps"]
    label = (f"ReLU output model, n = {first.n}, m = {first.m}, I = {float(s['importance']):g}^i, 1−S = "
             f"{float(s['density']):g}, best of {int(first.config['restarts'])} restarts, {steps:,} steps")
    add(figures.l1_sweep([p.lam for p in points],
                         {"represented features": [p.represented for p in points],
                          "features in superposition": [p.in_superposition for p in points],
                          "antipodal pairs": [p.antipodal_pairs for p in points],
                          "features per dimension ‖W‖²_F/m": [p.features_per_dim for p in points]},
                         {"reconstruction loss (no penalty)": [p.reconstruction for p in points],
                          "training objective (with λ‖h‖₁)": [p.objective for p in points]},
                         reference={"m": first.m}, suptitle=label), "l1_sweep",
        "Against λ (log; λ = 0 at the left): represented features (‖W_i‖ > "
        f"{science.represented_norm:g}), features in superposition (Σ_j≠i (Ŵ_i·W_j)² > "
        f"{science.superposition_shared:g}), antipodal pairs (cos < {science.antipodal_pair_cos:g}) and features "
        "per dimension; right: the reconstruction loss on fresh samples and the training objective.")
    add(figures.basic_grid(columns=[(p.run, 0, f"λ = {p.lam:g}") for p in points], suptitle=label), "l1_grid",
        "WᵀW (blue −1, white 0, red +1) with b beside it, above the feature norms ‖W_i‖ coloured by superposition, "
        "for the lowest-loss restart at each λ: the paper's basic-results figure across the L1 sweep.")
    findings = l1_findings(points)
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)} (E22). Training: AdamW, lr "
             f"{first.config['lr']:g}, weight decay {first.config['weight_decay']:g}, batch {first.config['batch']}, "
             f"{steps:,} steps, one engine call per λ ({len(points)} values, each with "
             f"{int(first.config['restarts'])} restarts; the lowest final training loss is kept). The penalty is "
             "the engine's <code>l1</code>: λ × the batch mean of Σ_j |h_j|, h = Wx. Run folders: "
             + ", ".join(f"<code>{_folder(p.lam)}/</code>" for p in points) + ".</p>")
    summary = dict(lambdas=[p.lam for p in points], represented=[p.represented for p in points],
                   in_superposition=[p.in_superposition for p in points],
                   antipodal_pairs=[p.antipodal_pairs for p in points],
                   features_per_dim=[p.features_per_dim for p in points],
                   reconstruction_loss=[p.reconstruction for p in points], objective=[p.objective for p in points],
                   represented_set=[p.represented_set for p in points], density=float(s["density"]),
                   restarts=int(first.config["restarts"]), steps=steps, batch=first.config["batch"],
                   lr=first.config["lr"], train_seconds=float(sum(r.seconds for _, _, r in runs)))
    run_entries = [dict(key=folder, name=f"λ = {lam:g}", run=run, folder=f"{folder}/",
                        chosen=run.best_restart_indices()) for folder, lam, run in (runs[j] for j in order)]
    return report.write(job, start=start, findings=findings, figures=figs, runs=run_entries, intro_html=intro,
                        sections=[_table(points)], summary=summary,
                        numbering=f"feature 0 is the most important (I_i = {float(s['importance']):g}^i)")


TARGETS = (Target(
    name="l1", title="L1 regularization removes superposition (ReLU output model, n = 20, m = 5, 1−S = 0.05)",
    source="Elhage et al. 2022, section \"The Strategic Picture of Superposition\" (approach 1: L1 regularization)",
    # The basic results' model (relu, I = 0.7^i), where 1−S = 0.05 holds ten features in antipodal pairs. Its
    # hidden layer h = Wx takes the penalty on both signs of W (a ReLU hidden layer on non-negative inputs would
    # not: negative weights never activate it, so L1 pushes weights negative instead of to zero, and the
    # weight-based counts misread them). λ > 0 trains on the engine's reference path, about 0.2 s of two
    # cores per restart per 1,000 steps: 7 penalised λ × 8 restarts × 10,000 steps take about 2 minutes.
    defaults=dict(model="relu", features=20, hidden=5, importance=0.7, density=0.05,
                  lambdas=(0.0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2), restarts=8, steps=10_000, batch=1024,
                  lr=1e-3),
    quick=dict(model="relu", features=20, hidden=5, importance=0.7, density=0.05, lambdas=(0.0, 1e-3, 1e-2),
               restarts=2, steps=300, batch=256, lr=1e-3),
    about="The ReLU output model x' = ReLU(WᵀWx + b) with n = 20 features of importance I_i = 0.7^i in m = 5 "
          "dimensions at feature density 1−S = 0.05, trained with an L1 penalty λ × mean Σ_j |h_j| on its hidden "
          "activations h = Wx, for λ = 0 and a log-spaced range of λ > 0. At λ = 0 it represents more features than "
          "dimensions, in superposition; the paper says the penalty removes that, at a cost in loss, by dropping "
          "the features below an importance threshold.",
    plan=_plan, run=_run),)
