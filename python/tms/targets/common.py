"""The shape every `tms reproduce` target has, and what the targets share.

A Target names its experiment and holds its settings (defaults, and what --quick uses instead), `plan`: the
engine calls it will make for the resolved settings, as (run folder under DIR, tms.train settings) pairs, and
`run`: what trains, analyses, draws and reports, given a Job. `prepare` resolves the settings, validates every
engine call and refuses finished runs before anything is made or trained, so every target stops on a bad
setting the same way.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, List, Optional, Sequence, Tuple

from .. import api, claims, figures

__all__ = ["Target", "Job", "prepare", "resolve_settings", "engine_settings", "check_settings",
           "refuse_finished_runs", "recipe", "figure_adder"]


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    title: str
    source: str
    about: str
    defaults: dict  # the target's own default settings (restarts, sizes, ...; steps absent: the preset's)
    quick: dict  # what --quick uses instead
    plan: Callable[["Target", dict], List[Tuple[str, dict]]]  # settings -> (run folder, tms.train settings)
    run: Callable[["Job"], dict]  # trains, analyses, draws, writes (report.write); returns its result

    @property
    def default_steps(self) -> int:
        """The training steps of a default run: shorter runs are not judged."""
        return int(self.defaults.get("steps", api.defaults()["steps"]))


@dataclasses.dataclass(frozen=True)
class Job:
    """One run of a target: its resolved settings and engine calls, where it writes, how it reports."""

    target: Target
    out: str
    settings: dict  # resolve_settings
    trainings: list  # (run folder under out, tms.train settings) per engine call: target.plan(settings)
    command: str
    log: Callable[[str], None]
    progress: object
    overwrite: bool  # passed to every Run.save
    short_run: Optional[str]  # why the run is too short to judge the claims (claims.short_run), or None


def resolve_settings(target: Target, quick: bool, given: dict) -> dict:
    """The target's defaults (or its quick settings), with every given setting that is not None in their place."""
    out = dict(target.quick if quick else target.defaults)
    for key, value in given.items():
        if value is not None:
            out[key] = value
    return out


def engine_settings(s: dict) -> dict:
    """The training settings every target passes through to tms.train as they were given."""
    return dict(steps=s.get("steps"), batch=s.get("batch"), seed=s.get("seed"), threads=s.get("threads"))


def check_settings(trainings: Sequence[tuple]) -> None:
    """Validates the tms.train settings of every (folder, settings) engine call a target will make: raises
    ValueError naming the field (tms.make_config's message), so that a bad value stops the target before it makes
    any folder."""
    for _, settings in trainings:
        api.make_config(**settings)


def refuse_finished_runs(out: str, folders: Sequence[str], overwrite: bool) -> None:
    """Unless overwrite is set, raises FileExistsError (one line naming out) when one of the run folders a target
    will write under out already holds a finished run (metrics.json, which is written last): checked before
    training, so the old results stay untouched."""
    if overwrite:
        return
    done = [folder for folder in folders if os.path.exists(os.path.join(out, folder, "metrics.json"))]
    if done:
        listed = ", ".join(f"{folder}/" for folder in done[:3])
        if len(done) > 3:
            listed += f", … ({len(done)} in all)"
        raise FileExistsError(f"out: '{out}' already holds finished runs ({listed}); pass --overwrite "
                              "(overwrite=True) to replace them")


def prepare(target: Target, out: str, command: str, *, quick: bool, overwrite: bool, log: Callable[[str], None],
            progress, given: dict) -> Job:
    """The Job of one run of `target` into out. Every setting is validated (ValueError) and the run folders
    checked for finished runs (FileExistsError unless overwrite) before any folder is made; a run that is quick
    or has fewer steps than the target's default is marked too short to judge."""
    s = resolve_settings(target, quick, given)
    trainings = target.plan(target, s)
    check_settings(trainings)
    refuse_finished_runs(out, [folder for folder, _ in trainings], overwrite)
    steps = int(s.get("steps", target.default_steps))
    return Job(target=target, out=out, settings=s, trainings=trainings, command=command, log=log,
               progress=progress, overwrite=overwrite,
               short_run=claims.short_run(steps, target.default_steps, quick))


def recipe(run) -> str:
    c = run.config
    return (f"the companion notebook's recipe (AdamW, lr {c['lr']:g}, weight decay {c['weight_decay']:g}, a fresh "
            f"batch every step), {c['steps']:,} steps, batch {c['batch']}")


def figure_adder(fig_dir: str, figs: list):
    """add(fig, name, caption): saves the figure as fig_dir/name.png and .svg and appends it to figs."""

    def add(fig, name: str, caption: str) -> None:
        png, svg = figures.save(fig, os.path.join(fig_dir, name))
        figs.append(dict(png=png, svg=svg, caption=caption))

    return add


def train_single(job, what: str):
    """The target's one engine call (job.trainings holds exactly one): trains it with the job's progress,
    logs what and how long, saves the run folder, and returns the Run."""
    (folder, settings), = job.trainings
    path = os.path.join(job.out, folder)
    job.log(f"tms reproduce {job.target.name}: training {what} -> {path}")
    run = api.train(progress=job.progress, **settings)
    job.log(f"  {run.seconds:.1f} s")
    run.save(path, overwrite=job.overwrite)
    return run
