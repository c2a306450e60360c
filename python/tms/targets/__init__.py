"""The `tms reproduce` targets: one module per experiment, and this registry of them.

Each module holds its experiment whole: its settings (defaults, and --quick's), the engine calls it makes, the
analysis, the paper's claims checked against the run, the figures, and the report's own sections; what the
targets share is in common (the Target shape, Job, the checks before training) and report (the one writer of
report.html and findings.json). Each module exposes TARGETS, a tuple of common.Target:

    basic             intro, basic, basic-large (E1, E3, E4)
    phase             phase-2-1, phase-3-2 (E5, E6)
    geometry          geometry (E7, E8)
    nonuniform        nonuniform (E10)
    correlated        correlated, local-bases, collapse, dynamics-correlated (E11, E12, E13, E15)
    adversarial       adversarial, adversarial-training (E16, E17)
    dynamics          dynamics (E14)
    privileged_basis  privileged-basis (E18)
    abs_small         abs-small (E19)
    computation       computation (E20, E21)
    l1                l1 (E22)
    saes              saes (sparse autoencoders on toy models, scored against the true features)

(absolute holds the abs model's neuron analysis that abs_small and computation share; it defines no target.)

A new target is one new module here, TARGETS = (Target(name, title, source, about, defaults, quick, plan, run),)
with its run ending in report.write(job, ...), and its module's name added to MODULES below; `tms reproduce`
lists, validates and runs it from there.
"""
from __future__ import annotations

import importlib

from .common import Job, Target

__all__ = ["TARGETS", "MODULES", "Target", "Job"]

MODULES = ("basic", "phase", "geometry", "nonuniform", "correlated", "adversarial", "dynamics", "privileged_basis",
           "abs_small", "computation", "l1", "saes")


def _collect() -> dict:
    targets: dict = {}
    for module_name in MODULES:
        for target in importlib.import_module(f".{module_name}", __name__).TARGETS:
            if target.name in targets:
                raise RuntimeError(f"targets: '{target.name}' is defined twice (targets/{module_name}.py)")
            targets[target.name] = target
    return targets


TARGETS = _collect()  # name -> Target, in the order of MODULES
