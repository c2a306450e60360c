"""One registry of `tms reproduce` targets: every target exactly once, each with the same interface, and the front
door (the API, the command line) takes its list from there."""
import importlib
import inspect
import re

import pytest

import tms
from tms import reproduce, targets
from tms.targets.common import Target, resolve_settings

NAMES = ["intro", "basic", "basic-large", "phase-2-1", "phase-3-2", "geometry", "nonuniform", "correlated",
         "local-bases", "collapse", "dynamics-correlated", "adversarial", "adversarial-training", "dynamics",
         "privileged-basis", "abs-small", "computation", "l1", "saes"]


def test_the_registry_lists_every_target_exactly_once():
    assert list(targets.TARGETS) == NAMES
    defined = [t.name for module in targets.MODULES
               for t in importlib.import_module(f"tms.targets.{module}").TARGETS]
    assert sorted(defined) == sorted(NAMES)  # each defined in one module, once
    assert reproduce.TARGETS is targets.TARGETS


@pytest.mark.parametrize("name", NAMES)
def test_every_target_has_the_common_interface(name):
    t = targets.TARGETS[name]
    assert isinstance(t, Target) and t.name == name
    assert t.title and t.source and t.about
    assert isinstance(t.defaults, dict) and isinstance(t.quick, dict) and set(t.defaults) <= set(t.quick)
    assert "restarts" in t.defaults and t.default_steps > 0
    assert list(inspect.signature(t.plan).parameters) == ["target", "s"]
    assert list(inspect.signature(t.run).parameters) == ["job"]
    # Its engine calls are planned from the settings alone, and each is a valid tms.train configuration.
    for quick in (False, True):
        trainings = t.plan(t, resolve_settings(t, quick, {}))
        assert trainings and len({folder for folder, _ in trainings}) == len(trainings)
        for folder, settings in trainings:
            tms.make_config(**settings)


def test_the_front_door_lists_the_registry(capsys):
    assert reproduce.main(["--help"]) == 0
    text = re.sub(r"\s+", " ", re.sub(r"-\n\s*", "-", capsys.readouterr().out))  # argparse's wrapping undone
    for name, t in targets.TARGETS.items():
        assert f"{name}: {t.title}" in text
    with pytest.raises(ValueError, match="allowed: " + ", ".join(NAMES)):
        reproduce.reproduce("everything")
