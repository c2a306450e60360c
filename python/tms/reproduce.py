"""`tms reproduce TARGET`: trains the excerpt's experiments, draws the paper's figures, checks its claims and
writes a self-contained report.html.

The front door: every target is a module of tms.targets, run through its registry (tms.targets.TARGETS, from
which `tms reproduce --help` lists them with their titles).

Output (DIR, default tms-output/TARGET): one run folder per model (DIR/linear, DIR/relu: weights.npz and
metrics.json, every restart), DIR/figures/*.png and *.svg, DIR/findings.json and DIR/report.html.

Every setting is validated before any folder is made, and a DIR whose run folders already hold finished runs is
refused before training unless overwrite is set. A quick run, or one with fewer steps than the target's default,
is too short to judge the paper's claims: its report says so at the top and marks every verdict not judged.
"""
from __future__ import annotations

import os
import sys
from typing import Callable, Optional, Sequence

from . import api, report
from .targets import TARGETS
from .targets.basic import QUICK
from .targets.common import prepare

__all__ = ["TARGETS", "reproduce", "main"]


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


def reproduce(target: str, out: Optional[str] = None, *, restarts: Optional[int] = None,
              steps: Optional[int] = None, batch: Optional[int] = None, seed: Optional[int] = None,
              threads: Optional[int] = None, quick: bool = False, overwrite: bool = False, progress: bool = False,
              log: Callable[[str], None] = _log_default) -> dict:
    """Runs one target and writes its folder. Returns {"report", "figures", "runs", "findings", "seconds",
    "summary"} (and "best", the lowest-loss restarts by model, for intro, basic and basic-large).

    quick: a short smoke run with the target's smaller settings (intro, basic, basic-large: steps 400, batch 256,
    at most 2 restarts) unless steps/batch/restarts are given; its findings, like those of any run with fewer
    steps than the target's default, are marked not meaningful. Unset training settings take the target's
    defaults, else the reference preset's (10,000 steps, batch 1024, AdamW lr 1e-3).
    Raises ValueError for a bad setting and FileExistsError when out already holds finished runs of the target
    and overwrite is not set, both before any folder is made or model trained; overwrite replaces them (each run
    is saved once it has trained).
    """
    if target not in TARGETS:
        raise ValueError(f"target: unknown target '{target}'; allowed: {', '.join(TARGETS)}")
    given = dict(restarts=restarts, steps=steps, batch=batch, seed=seed, threads=threads)
    out = out or os.path.join("tms-output", target)
    command = _command(target, out, dict(given, quick=quick, overwrite=overwrite))
    job = prepare(TARGETS[target], out, command, quick=quick, overwrite=overwrite, log=log, progress=progress,
                  given=given)
    return job.target.run(job)


def _defaults_text(key: str, fallback) -> str:
    """"[default: F; name V, ...]": the targets whose default for key is not F, from the registry."""
    others = [f"{name} {t.defaults[key]}" for name, t in TARGETS.items() if t.defaults.get(key, fallback) != fallback]
    return f"[default: {fallback}" + (f"; {', '.join(others)}" if others else "") + "]"


def main(argv: Sequence[str]) -> int:
    """`tms reproduce ...`; returns the exit status (2 usage, 1 run-time failure, 130 interrupted)."""
    import argparse

    preset = api.defaults()
    parser = argparse.ArgumentParser(
        prog="tms reproduce",
        description="Reproduce an experiment of Elhage et al. (2022): train, draw the paper's figures, check its "
                    "claims, and write DIR/report.html (self-contained) with the run folders and figures.",
        epilog="targets: " + "; ".join(f"{name}: {t.title}" for name, t in TARGETS.items()))
    parser.add_argument("target", choices=list(TARGETS), help="which experiment")
    parser.add_argument("--out", "-o", metavar="DIR", help="output folder [default: tms-output/TARGET]")
    parser.add_argument("--restarts", type=int, metavar="N",
                        help="fits per (model, density); the lowest final loss is shown; for the phase diagrams "
                             "the models per cell; for nonuniform per relative density "
                             + _defaults_text("restarts", 1))
    parser.add_argument("--steps", type=int, metavar="N",
                        help="training steps " + _defaults_text("steps", preset["steps"]) + "; fewer than "
                             "the default: the report marks every verdict not judged")
    parser.add_argument("--batch", type=int, metavar="N", help="batch size " + _defaults_text("batch", preset["batch"]))
    parser.add_argument("--seed", type=int, metavar="N", help="random seed [default: 0]")
    parser.add_argument("--threads", type=int, metavar="N", help="threads, 0 = all cores [default: 0]")
    parser.add_argument("--quick", action="store_true",
                        help="a short smoke run with the target's smaller settings (intro, basic, basic-large: "
                             f"{QUICK['steps']} steps, batch {QUICK['batch']}, at most {QUICK['max_restarts']} "
                             "restarts) unless those are given; its verdicts are not judged")
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
