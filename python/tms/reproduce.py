"""`tms reproduce TARGET`: trains the excerpt's experiments, draws the paper's figures, checks its claims and
writes a self-contained report.html.

Targets (paper sections in parentheses):
  intro        five features in two dimensions, n=5, m=2, I=0.9^i, 1−S in {1, 0.2, 0.1}; best of 10 restarts
               (the introduction figure)
  basic        n=20, m=5, I=0.7^i, linear and ReLU output models at 1−S in {1, 0.3, 0.1, 0.03, 0.01, 0.003,
               0.001} (Basic Results)
  basic-large  the same with n=80, m=20, I=0.9^i (Basic Results, scaled up)
  phase-2-1    the phase diagram for n=2, m=1: relative importance r x density, 10 models per cell (E5)
  phase-3-2    the same for n=3, m=2, importances [1, 1, r] (E6)
  geometry     n=400, m=30, I=1: m/|W|_F^2 and every D_i against 1/(1-S), tegum factors per density (E7, E8)
  nonuniform   n=5, m=2, I=1, 1-S=0.05 with feature 0's density x r, r from 0.1 to 3: the perturbed pentagon,
               pentagon and digon solutions and their crossing loss curves (E10)
  dynamics     D_i of every feature against the training step, with weight snapshots (E14)
  privileged-basis  the ReLU hidden-layer model n=10, m=5, I=0.75^i at 1-S = 1 ... 0.01, best of 200 restarts:
               monosemantic and polysemantic neurons, the paper's regimes, against the linear-hidden model (E18)
  (the last six live in experiments.py)

Output (DIR, default tms-output/TARGET): one run folder per model (DIR/linear, DIR/relu: weights.npz and
metrics.json, every restart), DIR/figures/*.png and *.svg, DIR/findings.json and DIR/report.html.

Every setting is validated before any folder is made, and a DIR whose run folders already hold finished runs is
refused before training unless overwrite is set. A quick run, or one with fewer steps than the target's default,
is too short to judge the paper's claims: its report says so at the top and marks every verdict not judged.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Callable, List, Optional, Sequence

from . import api, claims, experiments, figures, report

__all__ = ["TARGETS", "ALL_TARGETS", "Target", "reproduce", "main"]


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    title: str
    source: str
    features: int
    hidden: int
    importance: float
    density: tuple
    models: tuple
    restarts: int  # default restarts per (model, density); the lowest final loss is shown
    about: str


BASIC_DENSITIES = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)

TARGETS = {
    "intro": Target(
        name="intro", title="Five features in two dimensions (the introduction figure)",
        source="Elhage et al. 2022, introduction", features=5, hidden=2, importance=0.9,
        density=(1.0, 0.2, 0.1), models=("relu",), restarts=10,
        about="A ReLU output model x' = ReLU(WᵀWx + b) with n = 5 features of importance I_i = 0.9^i in m = 2 "
              "hidden dimensions, trained at feature densities 1−S = 1, 0.2 and 0.1 (sparsity 0%, 80%, 90%). The "
              "paper fits each model several times and keeps the solution with the lowest loss; so does this run."),
    "basic": Target(
        name="basic", title="Basic results: the linear and the ReLU output model across sparsity",
        source="Elhage et al. 2022, section \"Basic Results\"", features=20, hidden=5,
        importance=0.7, density=BASIC_DENSITIES, models=("linear", "relu"), restarts=1,
        about="n = 20 features of importance I_i = 0.7^i in m = 5 hidden dimensions: a linear model x' = WᵀWx + b "
              "and a ReLU output model x' = ReLU(WᵀWx + b), each trained at feature densities 1−S from 1 (dense) "
              "to 0.001 (very sparse)."),
    "basic-large": Target(
        name="basic-large", title="Basic results, scaled up: n = 80, m = 20",
        source="Elhage et al. 2022, section \"Basic Results\"", features=80, hidden=20,
        importance=0.9, density=BASIC_DENSITIES, models=("linear", "relu"), restarts=1,
        about="The basic experiment with n = 80 features and m = 20 hidden dimensions, importance increased to "
              "I_i = 0.9^i to account for having more features. The paper observes \"essentially a rescaled "
              "version\" of the n = 20, m = 5 result."),
}

QUICK = dict(steps=400, batch=256, max_restarts=2)

# Every target: the basic ones above and the experiments of experiments.py (phase diagrams, geometry, dynamics).
ALL_TARGETS = {**{name: t.title for name, t in TARGETS.items()},
               **{name: e.title for name, e in experiments.EXPERIMENTS.items()}}


def _log_default(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _command(target: str, out: str, given: dict) -> str:
    words = ["tms", "reproduce", target, "--out", out]
    for key, value in given.items():
        if value is True:
            words.append(f"--{key}")
        elif value is not None and value is not False:
            words += [f"--{key}", str(value)]
    return " ".join(words)


def _model_name(model: str) -> str:
    return "Linear" if model == "linear" else "ReLU output"


def reproduce(target: str, out: Optional[str] = None, *, restarts: Optional[int] = None,
              steps: Optional[int] = None, batch: Optional[int] = None, seed: Optional[int] = None,
              threads: Optional[int] = None, quick: bool = False, overwrite: bool = False, progress: bool = False,
              log: Callable[[str], None] = _log_default) -> dict:
    """Runs one target and writes its folder. Returns {"report", "figures", "runs", "findings", "seconds"}.

    quick: a short smoke run (steps 400, batch 256, at most 2 restarts) unless steps/batch/restarts are given;
    its findings, like those of any run with fewer steps than the target's default, are marked not meaningful.
    Unset training settings take the reference preset's defaults (10,000 steps, batch 1024, AdamW lr 1e-3).
    Raises ValueError for a bad setting and FileExistsError when out already holds finished runs of the target
    and overwrite is not set, both before any folder is made or model trained; overwrite replaces them (each run
    is saved once it has trained).
    """
    if target not in ALL_TARGETS:
        raise ValueError(f"target: unknown target '{target}'; allowed: {', '.join(ALL_TARGETS)}")
    given = dict(restarts=restarts, steps=steps, batch=batch, seed=seed, threads=threads, quick=quick,
                 overwrite=overwrite)
    out = out or os.path.join("tms-output", target)
    if target in experiments.EXPERIMENTS:
        return experiments.run_experiment(target, out, _command(target, out, given), quick=quick,
                                          overwrite=overwrite, log=log, progress=progress, restarts=restarts,
                                          steps=steps, batch=batch, seed=seed, threads=threads)
    t = TARGETS[target]
    if quick:
        steps = QUICK["steps"] if steps is None else steps
        batch = QUICK["batch"] if batch is None else batch
        restarts = min(t.restarts, QUICK["max_restarts"]) if restarts is None else restarts
    restarts = t.restarts if restarts is None else restarts
    trainings = [(model, dict(model=model, features=t.features, hidden=t.hidden, importance=t.importance,
                              density=list(t.density), restarts=restarts, steps=steps, batch=batch, seed=seed,
                              threads=threads)) for model in t.models]
    experiments.check_settings(trainings)
    experiments.refuse_finished_runs(out, [folder for folder, _ in trainings], overwrite)
    start = time.monotonic()
    os.makedirs(out, exist_ok=True)
    fig_dir = os.path.join(out, "figures")

    runs, best = {}, {}
    for model, train_settings in trainings:
        folder = os.path.join(out, model)
        log(f"tms reproduce {target}: training the {_model_name(model).lower()} model "
            f"(n={t.features}, m={t.hidden}, {len(t.density)} densities x {restarts} restart(s)) -> {folder}")
        run = api.train(progress=progress, **train_settings)
        runs[model] = run
        best[model] = run.best_restarts() if restarts > 1 else run
        log(f"  {run.seconds:.1f} s; represented features per instance: {run.represented.tolist()}")
    # Saved once every model has trained, so that a failed or interrupted run leaves all the old runs as they were.
    for model in t.models:
        runs[model].save(os.path.join(out, model), overwrite=overwrite)

    steps_used = runs[t.models[0]].config["steps"]
    settings = (f"n = {t.features}, m = {t.hidden}, I = {t.importance:g}^i, {steps_used:,} steps, "
                f"batch {runs[t.models[0]].config['batch']}")
    fig_settings = (f"n = {t.features}, m = {t.hidden}, $I_i = {t.importance:g}^i$, {steps_used:,} steps, "
                    f"batch {runs[t.models[0]].config['batch']}")
    figs: List[dict] = []

    def add(fig, name: str, caption: str) -> None:
        png, svg = figures.save(fig, os.path.join(fig_dir, name))
        figs.append(dict(png=png, svg=svg, caption=caption))

    restart_note = f", the lowest-loss of {restarts} restarts at each density" if restarts > 1 else ""
    if target == "intro":
        relu = best["relu"]
        add(figures.vectors_grid(relu, suptitle=f"ReLU output model, {fig_settings}"), "intro_vectors",
            "The columns Wᵢ of W drawn as vectors in the 2-D hidden space, coloured by importance, at 1−S = 1, "
            f"0.2 and 0.1 (sparsity 0%, 80%, 90%){restart_note}.")
        add(figures.basic_grid(columns=figures.basic_columns(None, relu), suptitle=f"ReLU output model, {fig_settings}"),
            "intro_grid", "WᵀW with the bias b beside it, and the feature norms ‖Wᵢ‖ coloured by superposition, "
            "for the same models.")
        findings = claims.intro_findings(relu, t.density)
    else:
        add(figures.basic_grid(best.get("linear"), best.get("relu"), suptitle=fig_settings), f"{target}_grid",
            "One column per model: the linear model, then the ReLU output model from dense to sparse. Top: WᵀW and "
            "the bias b (blue −1, white 0, red +1; features from most to least important). Bottom: ‖Wᵢ‖ coloured "
            f"by superposition Σⱼ≠ᵢ(Ŵᵢ·Wⱼ)² (dark blue 0, yellow ≥ 1); the dashed line marks m{restart_note}.")
        if "linear" in best:
            lin = best["linear"]
            cols = [(lin, k, f"Linear\n1−S = {float(lin.density[k]):g}")
                    for k in sorted(range(lin.K), key=lambda k: -float(lin.density[k]))]
            add(figures.basic_grid(columns=cols, suptitle=f"Linear model at every density, {fig_settings}"),
                f"{target}_linear", "The linear model at every density: the paper expects the same solution "
                "(the top m features) regardless of sparsity.")
        findings = claims.basic_findings(best.get("linear"), best.get("relu"), t.hidden)
    short = claims.short_run(steps_used, api.defaults()["steps"], quick)
    findings = claims.not_judged(findings, short)
    for model in t.models:
        add(figures.loss_curves(runs[model]), f"{target}_loss_{model}",
            f"{_model_name(model)} model: training loss of every instance (and restart) against steps.")

    seconds = time.monotonic() - start
    command = _command(target, out, given)
    run_entries = []
    for model in t.models:
        chosen = runs[model].best_restart_indices() if restarts > 1 else None
        run_entries.append(dict(name=f"{_model_name(model)} model", run=runs[model], folder=model + "/",
                                chosen=chosen))
    intro_html = (f"<p>{_html(t.about)}</p><p>Paper: {_html(t.source)}. Training: the companion notebook's recipe "
                  f"(AdamW, lr {runs[t.models[0]].config['lr']:g}, weight decay "
                  f"{runs[t.models[0]].config['weight_decay']:g}, a fresh batch every step), {settings}"
                  f"{_html(restart_note)}. Each model's run folder can be reopened with <code>tms.load()</code> or "
                  f"<code>tms analyze</code>.</p>")
    report_path = report.write_report(
        os.path.join(out, "report.html"), title=f"tms reproduce {target}: {t.title}",
        subtitle=f"tms {api._tms.__version__}, written {time.strftime('%Y-%m-%d %H:%M:%S')}", command=command,
        intro_html=intro_html, findings=findings, figures=figs, runs=run_entries, seconds=seconds,
        short_run=short, numbering=f"feature 0 is the most important (I_i = {t.importance:g}^i)")
    summary = dict(target=target, command=command, seconds=seconds, settings=settings, restarts=restarts,
                   meaningful=short is None, reason=short, findings=[f.as_dict() for f in findings],
                   runs={m: dict(folder=os.path.join(out, m), seconds=runs[m].seconds,
                                 represented=best[m].represented.tolist(),
                                 density=best[m].density.tolist(), loss=best[m].loss.tolist()) for m in t.models},
                   figures=[dict(png=f["png"], svg=f["svg"], caption=f["caption"]) for f in figs])
    with open(os.path.join(out, "findings.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    return dict(report=report_path, figures=figs, runs=runs, best=best, findings=findings, seconds=seconds)


def _html(text: str) -> str:
    import html

    return html.escape(text)


def main(argv: Sequence[str]) -> int:
    """`tms reproduce ...`; returns the exit status (2 usage, 1 run-time failure, 130 interrupted)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="tms reproduce",
        description="Reproduce an experiment of Elhage et al. (2022): train, draw the paper's figures, check its "
                    "claims, and write DIR/report.html (self-contained) with the run folders and figures.",
        epilog="targets: " + "; ".join(f"{name}: {title}" for name, title in ALL_TARGETS.items()))
    parser.add_argument("target", choices=list(ALL_TARGETS), help="which experiment")
    parser.add_argument("--out", "-o", metavar="DIR", help="output folder [default: tms-output/TARGET]")
    parser.add_argument("--restarts", type=int, metavar="N",
                        help="fits per (model, density); the lowest final loss is shown; for the phase diagrams "
                             "the models per cell; for nonuniform per relative density [default: intro 10, phase-* 10, "
                             "nonuniform 10, dynamics 8, privileged-basis 200, others 1]")
    parser.add_argument("--steps", type=int, metavar="N",
                        help="training steps [default: 10000; geometry 5000, dynamics 20000]; fewer than the "
                             "default: the report marks every verdict not judged")
    parser.add_argument("--batch", type=int, metavar="N", help="batch size [default: 1024]")
    parser.add_argument("--seed", type=int, metavar="N", help="random seed [default: 0]")
    parser.add_argument("--threads", type=int, metavar="N", help="threads, 0 = all cores [default: 0]")
    parser.add_argument("--quick", action="store_true",
                        help=f"a short smoke run ({QUICK['steps']} steps, batch {QUICK['batch']}, at most "
                             f"{QUICK['max_restarts']} restarts) unless those are given; its verdicts are not judged")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the finished runs already in DIR (each once its new run has trained); "
                             "without it such a DIR is refused before training")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 on --help
        return int(e.code or 0)
    log = (lambda message: None) if args.quiet else _log_default
    try:
        result = reproduce(args.target, args.out, restarts=args.restarts, steps=args.steps, batch=args.batch,
                           seed=args.seed, threads=args.threads, quick=args.quick, overwrite=args.overwrite,
                           progress=(not args.quiet and sys.stderr.isatty()), log=log)
    except (ValueError, FileExistsError) as e:  # a bad setting, or finished runs in DIR: usage, before training
        print(f"tms: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ntms: interrupted", file=sys.stderr)
        return 130
    except (RuntimeError, OSError) as e:
        print(f"tms: error: {e}", file=sys.stderr)
        return 1
    findings = result["findings"]
    print(f"tms reproduce {args.target}: {report.verdict_summary(findings)} ({result['seconds']:.1f} s)")
    reasons = sorted({f.reason for f in findings if not f.meaningful})
    if reasons:
        print(f"not meaningful: {'; '.join(reasons)}; no verdict is judged")
    print(f"report: {os.path.abspath(result['report'])}")
    return 0
