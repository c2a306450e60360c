"""Non-uniform superposition (paper E10, `nonuniform`): n = 5 equally important features in m = 2 dimensions at
1−S = 0.05, feature 0's density scaled by r; the perturbed pentagon, the digons and where their loss curves cross
(the sweep's analysis is tms.nonuniform).
"""
from __future__ import annotations

import html
import os
import time
from typing import List

import numpy as np

from .. import api, claims, figures, nonuniform, report, science
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder, recipe

__all__ = ["TARGETS", "nonuniform_findings"]

PAPER_CROSSING = 1 / 2.5  # "~2.5x less" dense than the others
CROSSING_AGREE = (1 / 3.2, 1 / 2.0)  # r of the crossing for "agrees" (1/r from 2 to 3.2); a factor 1.5 wider: partly


def _plan(target: Target, s: dict) -> list:
    """One engine call per relative density r of the varied feature (nonuniform.VARIED, feature 0)."""
    n = int(s["features"])
    rel = nonuniform.relative_grid(int(s["values"]), float(s["low"]), float(s["high"]))
    return [(f"relu/r{j:02d}", dict(model="relu", features=n, hidden=s["hidden"], importance=1.0,
                                    density=[float(s["density"])],
                                    relative_density=nonuniform.relative_vector(r, n).tolist(),
                                    restarts=s["restarts"], **engine_settings(s))) for j, r in enumerate(rel)]


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    fig_dir = os.path.join(out, "figures")
    os.makedirs(out, exist_ok=True)
    n, base = int(s["features"]), float(s["density"])
    rel = np.array([settings["relative_density"][nonuniform.VARIED] for _, settings in job.trainings])
    job.log(f"tms reproduce nonuniform: n={n}, m={s['hidden']}, 1-S={base:g}, {len(rel)} relative densities of "
            f"feature 0 from {rel[0]:.3g} to {rel[-1]:.3g}, {s['restarts']} restarts each (one engine call per "
            "value)")
    runs = [api.train(progress=job.progress, **settings) for _, settings in job.trainings]
    # Saved once every value of r has trained, so that a failed or interrupted sweep leaves the old runs as they were.
    entries = [(folder, run) for (folder, _), run in zip(job.trainings, runs)]
    for folder, run in entries:
        run.save(os.path.join(out, folder), overwrite=job.overwrite)
    sweep = nonuniform.analyse(rel, base, runs, points=int(s["points"]))
    train_seconds = float(sum(run.seconds for run in runs))
    job.log(f"  {train_seconds:.1f} s of training; crossing of the loss curves at r = {sweep.crossing_r:.3g}")
    figs: list = []
    add = figure_adder(fig_dir, figs)
    steps = runs[0].config["steps"]
    add(figures.nonuniform(sweep, suptitle=f"n = {n}, m = {runs[0].m}, I = 1, 1−S = {base:g} (feature 0: "
                                            f"{base:g} × r), best of {runs[0].K} restarts, {steps:,} steps"),
        "nonuniform",
        "Left: the pentagon solutions, rotated so that the varied feature (ringed) points up and reflected so that "
        "its nearest neighbour is on the right; middle: the digon solutions, rotated so that feature 1 points "
        "along +x and reflected so that the next feature off that axis points up. Colour: the varied feature's "
        "relative density r (blue sparser, yellow denser); solid: the lowest-loss restart at that r, faint: the "
        "best restart of the other family. Right: the expected loss of the best pentagon and of the best digon "
        "solution against r (small points: every restart, coloured by family), the crossing dashed and the "
        "paper's ~1/2.5 dotted; below, the pentagon's loss relative to the digons' (negative: the pentagon wins).")
    findings = nonuniform_findings(sweep)
    sections = [_table(sweep)]
    np.savez_compressed(os.path.join(out, "nonuniform.npz"), relative=sweep.relative, loss=sweep.loss,
                        best=sweep.best, pentagon_best=sweep.pentagon_best, digons_best=sweep.digons_best,
                        pentagon_loss=sweep.pentagon_loss, digons_loss=sweep.digons_loss,
                        families=np.array(sweep.families))
    src = sweep.digons_source
    intro = (f"<p>{html.escape(target.about)}</p><p>Paper: {html.escape(target.source)}. Training: {recipe(runs[0])}, "
             f"{len(rel)} relative densities × {runs[0].K} restarts, one engine call per relative density "
             "(<code>relative_density = [r, 1, 1, 1, 1]</code>); run folders <code>relu/r00</code> … "
             f"<code>relu/r{len(rel) - 1:02d}</code>, the sweep in <code>nonuniform.npz</code>.</p>"
             "<p>Loss curves: every model's expected loss, exact over the 2⁵ patterns of active features, each "
             f"pattern's conditional loss averaged over the same {sweep.points} uniform points for every model (so "
             "the curves are smooth and comparable). The pentagon curve is the best pentagon trained at each r "
             "(a gap where none was found); the digon curve is the best digon solution found anywhere in the sweep "
             "evaluated at each r: a digon solution leaves the varied feature out, so the same weights are a digon "
             "solution at every r"
             + (f" (mostly the one trained at r = {sweep.relative[src[0]]:.3g}, restart {src[1]})" if src else "")
             + ". The crossing is interpolated linearly in log r.</p>"
             f"<p><b>Crossing of the two loss curves: r = {sweep.crossing_r:.3g}</b> (the varied feature "
             + (f"{1 / sweep.crossing_r:.2f}× less dense than the others" if np.isfinite(sweep.crossing_r)
                else "— none found")
             + f"); the paper: about 2.5× less dense (r ≈ {PAPER_CROSSING:g}).</p>")
    runs_meta = [dict(key=folder, name=f"r = {run.config['relative_density'][0]:.3g}", run=run, folder=folder + "/",
                      chosen=[int(sweep.best[j])]) for j, (folder, run) in enumerate(entries)]
    summary = dict(relative=sweep.relative.tolist(), base_density=base,
                   crossing=sweep.crossing_r if np.isfinite(sweep.crossing_r) else None,
                   crossings=sweep.crossings, paper_crossing=PAPER_CROSSING,
                   best_family=[sweep.best_family(j) for j in range(len(rel))],
                   pentagon_loss=[None if not np.isfinite(v) else float(v) for v in sweep.pentagon_loss],
                   digons_loss=[None if not np.isfinite(v) else float(v) for v in sweep.digons_loss],
                   families=sweep.families, restarts=runs[0].K, steps=steps, train_seconds=train_seconds)
    return report.write(job, start=start, findings=findings, figures=figs, runs=runs_meta, intro_html=intro,
                        sections=sections, summary=summary, numbering="feature 0 is the varied one")


def nonuniform_findings(sweep) -> List[Finding]:
    out = []
    r = sweep.relative
    j1 = int(np.argmin(np.abs(np.log(r))))
    run = sweep.runs[j1]
    k = int(sweep.best[j1])
    W = np.asarray(run.W[k], dtype=np.float64)
    fam = sweep.families[j1][k]
    gaps = np.diff(np.concatenate([claims.angles_deg(W), [claims.angles_deg(W)[0] + 360.0]]))
    deviation = float(np.abs(gaps - 72.0).max()) if fam == "pentagon" else float("nan")
    out.append(Finding(
        claim="In the uniform case (every feature at 1−S = 0.05) the solution is a regular pentagon.",
        source="Non-Uniform Superposition",
        found=f"at r = {r[j1]:.3g} the lowest-loss restart is a {fam}"
              + (f"; angles between neighbouring directions " + ", ".join(f"{g:.0f}°" for g in gaps)
                 + f" (largest deviation from 72°: {deviation:.0f}°)" if fam == "pentagon" else "")
              + f"; norms " + ", ".join(f"{v:.2f}" for v in np.linalg.norm(W, axis=1)) + ".",
        verdict=claims.verdict(fam == "pentagon" and deviation < claims.PENTAGON_DEG, fam == "pentagon")))
    # The angle the varied feature's two neighbours span, for every pentagon.
    spans = []
    for j, kp in enumerate(sweep.pentagon_best):
        if kp < 0:
            continue
        V = nonuniform.canonical_pentagon(sweep.runs[j].W[int(kp)])
        angles = np.sort((np.degrees(np.arctan2(V[1:, 1], V[1:, 0])) - 90.0) % 360.0)
        spans.append((float(r[j]), float(angles[0] + 360.0 - angles[-1])))
    if len(spans) >= 3:
        x = np.log([a for a, _ in spans])
        y = np.array([b for _, b in spans])
        corr = float(np.corrcoef(x, y)[0, 1]) if y.std() > 0 else 0.0
        text = (f"angle between the varied feature's two neighbours in the best pentagon at each r: "
                + ", ".join(f"{a:.2g}: {b:.0f}°" for a, b in spans)
                + f" (144° in a regular pentagon); correlation with log r: {corr:.2f}.")
        ok, part = corr >= 0.8, corr > 0.3
    else:
        text, ok, part = f"pentagons found at {len(spans)} relative densities: too few to compare.", False, False
    out.append(Finding(
        claim="Making the varied feature denser makes the others repel from it, giving it more space; making it "
              "sparser makes it take less space (a continuous deformation of the pentagon).",
        source="Non-Uniform Superposition", found=text, verdict=claims.verdict(ok, part)))
    c = sweep.crossing_r
    best = [sweep.best_family(j) for j in range(len(r))]
    below = [best[j] for j in range(len(r)) if np.isfinite(c) and r[j] < c]
    above = [best[j] for j in range(len(r)) if np.isfinite(c) and r[j] > c]
    share_below = below.count("digons") / len(below) if below else float("nan")
    lo, hi = CROSSING_AGREE
    in_range = np.isfinite(c) and lo <= c <= hi
    near = np.isfinite(c) and lo / 1.5 <= c <= hi * 1.5
    out.append(Finding(
        claim="When the varied feature is about 2.5× less dense than the others, the pentagon changes to two "
              "digons with the sparser feature at zero.",
        source="Non-Uniform Superposition",
        found=(f"the pentagon and digon loss curves cross at r = {c:.3g} (the varied feature {1 / c:.2f}× less "
               f"dense; paper ≈ 2.5×)" if np.isfinite(c) else "the pentagon and digon loss curves do not cross")
              + (f"; other crossings (noise): {', '.join(f'{v:.3g}' for v in sweep.crossings[:-1])}"
                 if len(sweep.crossings) > 1 else "")
              + (f". Lowest-loss restart below the crossing: digons at {below.count('digons')} of {len(below)} "
                 f"values; above it: a pentagon at {above.count('pentagon')} of {len(above)}" if below or above else "")
              + ". Best solution per r (ascending): " + ", ".join(best) + ".",
        verdict=claims.verdict(in_range and (not below or share_below >= 0.5), near)))
    # First order: the varied feature's norm in the best solution jumps rather than shrinking smoothly.
    norms = np.array([float(np.linalg.norm(sweep.runs[j].W[int(sweep.best[j])][nonuniform.VARIED]))
                      for j in range(len(r))])
    jump = float(np.abs(np.diff(norms)).max()) if len(norms) > 1 else 0.0
    out.append(Finding(
        claim="The transition is first order: each geometry has its own loss curve and the phase change is where "
              "they cross, so the varied feature's norm jumps instead of shrinking gradually.",
        source="Non-Uniform Superposition",
        found="‖W₀‖ of the varied feature in the lowest-loss restart per r (ascending): "
              + ", ".join(f"{v:.2f}" for v in norms) + f"; largest change between neighbouring r: {jump:.2f}. "
              + f"Both families found at {int(((sweep.pentagon_best >= 0) & (sweep.digons_best >= 0)).sum())} of "
              f"{len(r)} values of r.",
        verdict=claims.verdict(jump > 0.5 and np.isfinite(c), jump > 0.5 or np.isfinite(c))))
    kp = int(sweep.pentagon_best[j1])
    if kp >= 0:
        W = np.asarray(run.W[kp], dtype=np.float64)
        b = np.asarray(run.b[kp], dtype=np.float64)
        nrm = np.linalg.norm(W, axis=1)
        found = (f"best pentagon at r = {r[j1]:.3g}: biases " + ", ".join(f"{v:+.3f}" for v in b) + "; norms "
                 + ", ".join(f"{v:.3f}" for v in nrm) + "; 1/(1−|bᵢ|) = "
                 + ", ".join(f"{1 / (1 - abs(v)):.3f}" for v in b) + " (the paper's law), √(1+|bᵢ|) = "
                 + ", ".join(f"{np.sqrt(1 + abs(v)):.3f}" for v in b) + " (output 1 at xᵢ = 1).")
        ok = bool((b < science.negative_bias).all() and (nrm > 1).all())
        part = bool((b < 0).any() and (nrm > 1).any())
    else:
        found, ok, part = f"no pentagon was found at r = {r[j1]:.3g}.", False, False
    out.append(Finding(
        claim="Pentagon solutions are not on the unit circle: a slight negative bias cuts off the positive "
              "interference and ‖Wᵢ‖ = 1/(1−bᵢ) > 1 compensates (b read as the bias's magnitude).",
        source="Non-Uniform Superposition", found=found, verdict=claims.verdict(ok, part)))
    return out


def _table(sweep) -> str:
    rows = []
    for j, r in enumerate(sweep.relative):
        fams = sweep.families[j]
        counts = ", ".join(f"{fams.count(f)} {f}" for f in nonuniform.FAMILIES if fams.count(f))
        run = sweep.runs[j]
        k = int(sweep.best[j])

        def cell(v):
            return f"{v:.5f}" if np.isfinite(v) else "—"

        rows.append(f'<tr><td class="num">{r:.3g}</td><td>{html.escape(sweep.best_family(j))}</td>'
                    f'<td class="num">{run.loss[k]:.5f}</td><td class="num">{cell(sweep.pentagon_loss[j])}</td>'
                    f'<td class="num">{cell(sweep.digons_loss[j])}</td><td>{html.escape(counts)}</td></tr>')
    return ("<h2>The sweep</h2><p>Per relative density r of the varied feature: the family of the lowest-loss "
            "restart (by the final training loss), its training loss, the two curves (expected loss of the best "
            "pentagon trained at r, and of the best digon solution of the sweep at r) and the families of all "
            "restarts.</p><table><thead><tr><th>r</th><th>best</th><th>its training loss</th><th>pentagon curve"
            "</th><th>digon curve</th><th>restarts</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


TARGETS = (Target(
    name="nonuniform", title="Non-uniform superposition: the pentagon with one feature's density varied",
    source="Elhage et al. 2022, section \"Non-Uniform Superposition\" (perturbing a single feature)",
    defaults=dict(features=5, hidden=2, density=0.05, values=16, low=0.1, high=3.0, restarts=10,
                  steps=10_000, batch=1024, points=4096),
    quick=dict(features=5, hidden=2, density=0.05, values=4, low=0.2, high=2.0, restarts=3, steps=400,
               batch=256, points=1024),
    about="A ReLU output model with n = 5 features of equal importance (I = 1) in m = 2 dimensions. Every "
          "feature has density 1−S = 0.05 except feature 0 (the varied feature), whose density is 0.05 × r "
          "for relative densities r log-spaced from 0.1 to 3 (and r = 1, the uniform case). Each r is fitted "
          "several times; every model is classified as a pentagon (all five features represented), two "
          "digons (the varied feature dropped, the other four in two antipodal pairs) or other. The paper "
          "finds that below r ≈ 1/2.5 the pentagon gives way to two digons, where the loss curves of the two "
          "geometries cross.",
    plan=_plan, run=_run),)
