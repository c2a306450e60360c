"""`import tms` is light and every submodule is an attribute of it, loaded on first use."""
import subprocess
import sys

import pytest

import tms

SUBMODULES = ("figures", "report", "reproduce", "claims", "cli", "phase", "nonuniform", "privileged", "science",
              "targets")


@pytest.mark.parametrize("name", SUBMODULES)
def test_each_submodule_is_an_attribute_of_a_fresh_import(name):
    # A fresh interpreter per name: here the suite has imported them all, and importing one (reproduce) imports
    # others (phase, nonuniform) as a side effect, which would hide a name the lazy loader does not know.
    code = ("import sys, tms\n"
            "assert 'matplotlib' not in sys.modules, 'import tms loads matplotlib'\n"
            f"module = tms.{name}\n"
            f"assert module.__name__ == 'tms.{name}', module\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_all_names_the_submodules_and_unknown_names_raise():
    assert set(SUBMODULES) <= set(tms.__all__)
    try:
        tms.no_such_module
    except AttributeError as e:
        assert "no_such_module" in str(e)
    else:
        raise AssertionError("tms.no_such_module did not raise AttributeError")
