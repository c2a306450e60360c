"""Sparse autoencoders on toy models, scored against the features they are known to hold (`saes`).

Two toy models are trained, then SAEs of two families on their frozen hidden activations h = Wx across sparsity
settings: the n = 80, m = 20 ReLU output model of the basic results (I_i = 0.9^i) at two densities, and the
n = 5, m = 2 pentagon (uniform importance, ARENA's SAE setup). Every SAE is as wide as the toy model has
features and is scored by the engine (analysis_sae.hpp) against the embedding rows W_i: the one-to-one matched
cosine, the mean max cosine, features recovered, the MCC, L0, dead latents, explained variance, per-latent
precision and recall, absorption and splitting. The findings are the expectations of the SAE literature on
toy data (Sharkey et al. 2022; the ARENA exercises; Chanin et al. 2024 on absorption), checked on this run.
"""
from __future__ import annotations

import html
import os
import time

import numpy as np

from .. import api, claims, figures, report, saes as saes_api, science
from ..claims import Finding
from .common import Job, Target, engine_settings, figure_adder

__all__ = ["TARGETS", "saes_findings", "true_l0", "L0_FACTOR", "TOP_SHARE"]

L0_FACTOR = 2.0  # the best SAE's L0 within this factor of the data's true L0: "near the true L0"
TOP_SHARE = 0.9  # the represented features are "the most important" when the first 90% of their count are all
# among them (a trained toy model swaps a few neighbours at the edge)
_LARGE, _PENTAGON = "relu-80-20", "pentagon-5-2"


def _plan(target: Target, s: dict) -> list:
    eng = engine_settings(s)
    return [(_LARGE, dict(model="relu", features=80, hidden=20, importance=float(s["importance"]),
                          density=[float(d) for d in s["densities"]], **eng)),
            (_PENTAGON, dict(model="relu", features=5, hidden=2, importance=1.0,
                             density=[float(s["pentagon_density"])], restarts=int(s["restarts"]), **eng))]


def _ranges(indices) -> str:
    """Feature numbers as runs: 0 … 38, 40."""
    idx = sorted(int(i) for i in indices)
    parts, start = [], None
    for a, b in zip(idx, idx[1:] + [None]):
        start = a if start is None else start
        if b != a + 1:
            parts.append(f"{start}" if start == a else f"{start} … {a}")
            start = None
    return ", ".join(parts) or "none"


def true_l0(run, k: int) -> float:
    """The data's mean number of active represented features per sample in toy instance k: sum of their
    densities (the features an SAE could find)."""
    rep = np.linalg.norm(run.embedding[k], axis=1) > science.represented_norm
    return float(run.density[k]) * int(rep.sum())


def _best_by_setting(s: "saes_api.SAEs") -> dict:
    """(toy instance, coefficient) -> the SAE index with the lowest final loss over restarts."""
    return {(int(s.specs["toy_instance"][i]), float(s.specs["coefficient"][i])): i for i in s.best()}


def saes_findings(families: dict, large_run, pentagon_run, pentagon_instance: int) -> list:
    """families: name -> (SAEs on the large toy, SAEs on the pentagon)."""
    out = []
    # 1. The pentagon.
    rows = []
    best_recovered, rep5 = 0, 0
    for name, (_, pent) in families.items():
        for (k, c), i in sorted(_best_by_setting(pent).items()):
            if k != pentagon_instance:
                continue
            rep5 = int(pent.metrics["represented"][i])
            rec = int(pent.metrics["recovered"][i])
            best_recovered = max(best_recovered, rec)
            rows.append(f"{name} {c:g}: {rec}/{rep5} (matched cos {pent.metrics['matched_cosine'][i]:.3f}, MCC "
                        f"{pent.metrics['mcc'][i]:.2f}, L0 {pent.metrics['l0'][i]:.2f})")
    out.append(Finding(
        claim="An SAE as wide as the number of features recovers every feature of a toy model whose features lie in "
              "superposition as a regular polytope (the n = 5, m = 2 pentagon).",
        source="ARENA 1.3.2 / 1.5.4 SAE exercises on the n = 5, m = 2 toy model; Sharkey et al. 2022",
        found=f"features recovered (matched cosine ≥ {science.sae_recovered_cosine:g}) of the {rep5} represented, "
              "per family and coefficient (the best of the restarts): " + "; ".join(rows) + ".",
        verdict=claims.verdict(best_recovered == rep5 and rep5 > 0, best_recovered > 0)))
    # 2. The frontier on the large model: the best recovery near the true L0.
    rows, ok, partly = [], True, False
    for name, (large, _) in families.items():
        best = _best_by_setting(large)
        for k in range(large_run.K):
            pts = sorted(((float(large.metrics["l0"][i]), float(large.metrics["matched_cosine"][i]), c)
                          for (kk, c), i in best.items() if kk == k))
            if not pts:
                continue
            top = max(pts, key=lambda p: p[1])
            t = true_l0(large_run, k)
            near = t / L0_FACTOR <= top[0] <= t * L0_FACTOR
            interior = pts[0][1] < top[1] and pts[-1][1] < top[1]
            ok = ok and near
            partly = partly or near
            rows.append(f"{name}, 1−S = {float(large_run.density[k]):g}: best matched cosine {top[1]:.3f} at L0 "
                        f"{top[0]:.2f} ({name} {top[2]:g}); the data's L0 {t:.2f}; lower at both ends of the sweep: "
                        f"{'yes' if interior else 'no'}")
    out.append(Finding(
        claim="Recovery of the true features peaks where the SAE's L0 matches the data's: too few active latents "
              "merge features, too many split or blur them.",
        source="the SAE literature on toy data (Sharkey et al. 2022; Chanin et al. 2024, \"sparse but wrong\")",
        found="; ".join(rows) + f". Near: within {L0_FACTOR:g}× of the data's mean number of active represented "
              "features.",
        verdict=claims.verdict(ok and bool(rows), partly)))
    # 3. Which features are recovered: by importance, at each density.
    rows, ok_all, any_row = [], True, False
    for name, (large, _) in families.items():
        best = _best_by_setting(large)
        for k in range(large_run.K):
            cand = [i for (kk, _), i in best.items() if kk == k]
            if not cand:
                continue
            i = max(cand, key=lambda j: large.metrics["matched_cosine"][j])
            cos = large.features["cosine"][i]
            rep = np.flatnonzero(np.isfinite(cos))
            n = len(cos)
            recovered = [int(f) for f in rep if cos[f] >= science.sae_recovered_cosine]
            # The most important ones: every feature of the first TOP_SHARE of the count among them.
            top_set = rep.size > 0 and set(range(int(TOP_SHARE * rep.size))) <= set(int(f) for f in rep)
            any_row = True
            ok_all = ok_all and len(recovered) == rep.size and top_set
            missed = [int(f) for f in rep if cos[f] < science.sae_recovered_cosine]
            rows.append(f"{name}, 1−S = {float(large_run.density[k]):g}: the toy model represents {rep.size} of {n}"
                        + f" (features {_ranges(rep)})"
                        + f"; the best SAE ({name} {float(large.specs['coefficient'][i]):g}) recovers "
                          f"{len(recovered)} of them"
                        + (f", not {', '.join(str(f) for f in missed)}" if missed else "")
                        + f"; the least important represented feature's matched cosine {cos[rep[-1]]:.3f}"
                        if rep.size else f"{name}, 1−S = {float(large_run.density[k]):g}: nothing represented")
    out.append(Finding(
        claim="At the right sparsity an SAE recovers every feature the toy model represents, which are its most "
              "important ones; the features it loses are those the toy model itself does not represent.",
        source="toy-model SAE studies (ARENA; Sharkey et al. 2022)",
        found="; ".join(rows) + ".",
        verdict=claims.verdict(ok_all and any_row, any_row)))
    # 4. Absorption when sparser than the data.
    rows, cases, grown = [], 0, 0
    for name, (large, _) in families.items():
        best = _best_by_setting(large)
        for k in range(large_run.K):
            t = true_l0(large_run, k)
            pts = [(float(large.metrics["l0"][i]), i) for (kk, _), i in best.items() if kk == k]
            if not pts:
                continue
            top = max((i for _, i in pts), key=lambda j: large.metrics["matched_cosine"][j])
            # Sparser than the data and still alive: L0 below the data's, at least a tenth of it.
            sparse = [i for l0, i in pts if t / 10 <= l0 < t and i != top]
            if not sparse:
                rows.append(f"{name}, 1−S = {float(large_run.density[k]):g}: no live setting sparser than the data")
                continue
            cases += 1
            worst = max(sparse, key=lambda j: large.metrics["absorbed"][j])
            a_sparse, a_top = int(large.metrics["absorbed"][worst]), int(large.metrics["absorbed"][top])
            grown += 1 if a_sparse > a_top else 0
            rows.append(f"{name}, 1−S = {float(large_run.density[k]):g}: absorbed features {a_sparse} at L0 "
                        f"{large.metrics['l0'][worst]:.2f} ({name} {float(large.specs['coefficient'][worst]):g}, below "
                        f"the data's {t:.2f}), {a_top} at the best recovery (L0 {large.metrics['l0'][top]:.2f}); "
                        f"split features there {int(large.metrics['split'][worst])} / {int(large.metrics['split'][top])}")
    out.append(Finding(
        claim="Pushed sparser than the data, an SAE absorbs features: a feature's own latent stays silent while "
              "another latent carrying its direction fires.",
        source="Chanin et al. 2024, \"A is for absorption\"",
        found="; ".join(rows) + f". Absorbed: on at least {science.sae_absorbed_share:.0%} of its active samples "
              f"the feature's latent is silent and another with cosine ≥ {science.sae_absorption_cosine:g} fires. "
              f"More absorption than at the best recovery in {grown} of {cases} cases.",
        verdict=claims.verdict(cases > 0 and grown == cases, grown > 0)))
    return out


def _table(families: dict, runs: dict) -> str:
    head = ("<tr><th>toy</th><th>1−S</th><th>family</th><th>coefficient</th><th>L0</th><th>dead</th>"
            "<th>matched cos</th><th>MMCS</th><th>recovered</th><th>MCC</th><th>precision</th><th>recall</th>"
            "<th>explained var.</th><th>γ</th><th>absorbed</th><th>split</th></tr>")
    body = []
    for name, pair in families.items():
        for which, s in zip((_LARGE, _PENTAGON), pair):
            for i in s.best():
                k = int(s.specs["toy_instance"][i])
                mt = s.metrics
                body.append(
                    f"<tr><td>{which}</td><td class='num'>{float(runs[which].density[k]):g}</td><td>{name}</td>"
                    f"<td class='num'>{float(s.specs['coefficient'][i]):g}</td><td class='num'>{mt['l0'][i]:.2f}</td>"
                    f"<td class='num'>{int(mt['dead'][i])}</td><td class='num'>{mt['matched_cosine'][i]:.3f}</td>"
                    f"<td class='num'>{mt['mmcs'][i]:.3f}</td>"
                    f"<td class='num'>{int(mt['recovered'][i])}/{int(mt['represented'][i])}</td>"
                    f"<td class='num'>{mt['mcc'][i]:.3f}</td><td class='num'>{mt['precision'][i]:.2f}</td>"
                    f"<td class='num'>{mt['recall'][i]:.2f}</td><td class='num'>{mt['explained_variance'][i]:.3f}</td>"
                    f"<td class='num'>{mt['reconstruction_bias'][i]:.3f}</td><td class='num'>{int(mt['absorbed'][i])}</td>"
                    f"<td class='num'>{int(mt['split'][i])}</td></tr>")
    return ("<h2>Every SAE (the best restart of each setting)</h2><p>L0: active latents per sample; matched cos: "
            "the one-to-one (Hungarian) matched cosine; MMCS: the mean max cosine; recovered: matched cosine ≥ "
            f"{science.sae_recovered_cosine:g}; MCC: the mean |correlation| of matched latent and feature; γ: the "
            "relative reconstruction bias (below 1: shrinkage). Definitions: docs/experiments/saes.md.</p>"
            f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>")


def _run(job: Job) -> dict:
    start = time.monotonic()
    target, out, s = job.target, job.out, job.settings
    os.makedirs(out, exist_ok=True)
    runs = {}
    for folder, settings in job.trainings:
        job.log(f"tms reproduce saes: training the toy model {folder} -> {os.path.join(out, folder)}")
        runs[folder] = api.train(progress=job.progress, **settings)
        job.log(f"  {runs[folder].seconds:.1f} s")
    large_run, pent_run = runs[_LARGE], runs[_PENTAGON]
    pent_k = int(np.argmin(pent_run.loss))  # the pentagon's lowest-loss restart
    common = dict(steps=int(s["sae_steps"]), batch=int(s["sae_batch"]), restarts=int(s["sae_restarts"]),
                  seed=s.get("seed"), threads=s.get("threads"))
    families = {}
    for name, kind, coef_large, coef_pent in (("relu", "relu", s["l1"], s["l1"]),
                                              ("topk", "topk", s["k"], s["pentagon_k"])):
        job.log(f"tms reproduce saes: {kind} SAEs, coefficients {list(coef_large)} on {_LARGE}, "
                f"{list(coef_pent)} on {_PENTAGON}")
        a = saes_api.train_saes(large_run, kind=kind, widths=[large_run.n], coefficients=list(coef_large),
                                progress=job.progress, **common)
        b = saes_api.train_saes(pent_run, kind=kind, widths=[pent_run.n], coefficients=list(coef_pent),
                                instances=[pent_k], progress=job.progress, **common)
        job.log(f"  {a.S} + {b.S} SAEs in {a.seconds + b.seconds:.1f} s")
        families[name] = (a, b)
    # Saved once everything has trained, so an interrupted run leaves old results as they were.
    for folder, run in runs.items():
        run.save(os.path.join(out, folder), overwrite=job.overwrite)
    for name, (a, b) in families.items():
        a.save(os.path.join(out, f"saes-{name}-{_LARGE}"), overwrite=job.overwrite)
        b.save(os.path.join(out, f"saes-{name}-{_PENTAGON}"), overwrite=job.overwrite)
    figs: list = []
    add = figure_adder(os.path.join(out, "figures"), figs)
    curves = {}
    for name, (a, _) in families.items():
        best = _best_by_setting(a)
        for k in range(large_run.K):
            idx = sorted((i for (kk, _), i in best.items() if kk == k), key=lambda i: a.metrics["l0"][i])
            curves[(name, float(large_run.density[k]))] = dict(
                l0=[float(a.metrics["l0"][i]) for i in idx],
                matched=[float(a.metrics["matched_cosine"][i]) for i in idx],
                mmcs=[float(a.metrics["mmcs"][i]) for i in idx], mcc=[float(a.metrics["mcc"][i]) for i in idx],
                recovered=[int(a.metrics["recovered"][i]) / max(1, int(a.metrics["represented"][i])) for i in idx],
                coefficient=[float(a.specs["coefficient"][i]) for i in idx])
    l0s = {float(large_run.density[k]): true_l0(large_run, k) for k in range(large_run.K)}
    add(figures.sae_frontier(curves, l0s, suptitle=f"SAEs of width {large_run.n} on the n = 80, m = 20 ReLU model "
                             f"(I = {float(s['importance']):g}^i)"), "sae_frontier",
        "The recovery-vs-L0 frontier: matched cosine (Hungarian), mean max cosine and MCC of the best restart at "
        "each coefficient, against its L0, per family and toy density; the dotted line is the data's L0 (the mean "
        "number of active represented features).")
    recovery = {}
    for name, (a, _) in families.items():
        best = _best_by_setting(a)
        for k in range(large_run.K):
            idx = [i for (kk, _), i in sorted(best.items()) if kk == k]
            recovery[(name, float(large_run.density[k]))] = dict(
                cosine=np.stack([a.features["cosine"][i] for i in idx]),
                absorption=np.stack([a.features["absorption"][i] for i in idx]),
                labels=[f"{'k' if name == 'topk' else 'λ'} = {float(a.specs['coefficient'][i]):g}" for i in idx])
    add(figures.sae_feature_recovery(recovery, absorbed_share=science.sae_absorbed_share,
                                     suptitle="Each feature's recovery across the sweep (feature 0 the most "
                                              "important; grey: not represented by the toy model)"),
        "sae_features", "Each feature's matched cosine (colour) in the best restart at every coefficient (rows), by "
        "importance (feature 0 the most important), per family and density; grey: a feature the toy model does not "
        "represent; red crosses: absorbed features.")
    pa, pb = families["relu"][1], families["topk"][1]
    ib = max(range(pb.S), key=lambda j: pb.metrics["matched_cosine"][j])
    ia = max(range(pa.S), key=lambda j: pa.metrics["matched_cosine"][j])
    add(figures.sae_cosines([(pa.cosines(ia), f"relu {float(pa.specs['coefficient'][ia]):g}"),
                             (pb.cosines(ib), f"topk k = {float(pb.specs['coefficient'][ib]):g}")],
                            suptitle="The pentagon: cos(W_i, decoder row), each feature's best-matching latent on the diagonal"),
        "sae_pentagon", "The n = 5, m = 2 pentagon: the cosine of each feature's direction with each decoder row "
        "of the best SAE per family, latents ordered by each feature's best match (a recovered feature is a "
        "diagonal entry near 1).")
    findings = saes_findings(families, large_run, pent_run, pent_k)
    sae_config = families["relu"][0].config  # the settings every SAE of the run trained with
    intro = (f"<p>{html.escape(target.about)}</p><p>The toy models: the companion notebook's recipe, "
             f"{large_run.config['steps']:,} steps. The SAEs: Adam lr {sae_config['lr']:g}, batch "
             f"{int(s['sae_batch'])}, {int(s['sae_steps']):,} steps, {int(s['sae_restarts'])} restarts (the lowest "
             "final loss kept), decoder rows at unit norm; relu: MSE + λ Σ z (ARENA's recipe), topk: Gao et al.'s "
             "with AuxK. Each SAE's data is a fresh batch of the toy's own distribution every step through the "
             "frozen toy model; the metrics use "
             f"{sae_config['eval_samples']:,} fresh samples. SAE folders: "
             + ", ".join(f"<code>saes-{n}-{w}/</code>" for n in families for w in (_LARGE, _PENTAGON)) + ".</p>")
    summary = dict(
        true_l0=l0s, sae_seconds=float(sum(a.seconds + b.seconds for a, b in families.values())),
        saes={name: {which: s_.rows() for which, s_ in zip((_LARGE, _PENTAGON), pair)}
              for name, pair in families.items()})
    run_entries = [dict(key=folder, name=f"toy {folder}", run=run, folder=f"{folder}/", chosen=None)
                   for folder, run in runs.items()]
    return report.write(job, start=start, findings=findings, figures=figs, runs=run_entries, intro_html=intro,
                        sections=[_table(families, runs)], summary=summary,
                        numbering=f"feature 0 is the most important (I_i = {float(s['importance']):g}^i)")


TARGETS = (Target(
    name="saes", title="Sparse autoencoders on toy models, scored against the true features",
    source="Elhage et al. 2022 (the toy models); SAE recipes of ARENA, Gao et al. 2024; metrics of Sharkey et al. "
           "2022 and Chanin et al. 2024",
    # restarts: the pentagon toy model's (its lowest-loss one gets the SAEs); sae_restarts: each SAE setting's.
    # About 6 minutes on two cores: 2 densities x 14 settings x 2 restarts SAEs of width 80 for 10,000 steps,
    # and the pentagon's 20 small ones.
    defaults=dict(importance=0.9, densities=(0.03, 0.1), pentagon_density=0.05, restarts=4,
                  l1=(0.001, 0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.3), k=(1, 2, 3, 4, 6, 8), pentagon_k=(1, 2),
                  sae_steps=10_000, sae_batch=1024, sae_restarts=2, steps=10_000),
    quick=dict(importance=0.9, densities=(0.03,), pentagon_density=0.05, restarts=2, l1=(0.003, 0.03),
               k=(2, 4), pentagon_k=(1,), sae_steps=300, sae_batch=256, sae_restarts=1, steps=500, batch=256),
    about="SAEs of the ReLU-L1 and TopK families, as wide as the toy model has features, trained on the hidden "
          "activations of two trained toy models (the n = 80, m = 20 ReLU output model at two feature densities "
          "and the n = 5, m = 2 pentagon) across their sparsity coefficient, and scored against the toy models' "
          "known feature directions.",
    plan=_plan, run=_run),)
