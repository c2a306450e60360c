"""Shared fixtures: small, short runs (a few hundred steps) so the whole suite stays quick on two cores."""
import os
import shutil

import pytest

import tms

SMALL = dict(features=8, hidden=3, importance=0.8, density=[1, 0.1], steps=300, batch=128, seed=3)


@pytest.fixture(scope="session")
def relu_run():
    return tms.train(model="relu", **SMALL)


@pytest.fixture(scope="session")
def linear_run():
    return tms.train(model="linear", **SMALL)


@pytest.fixture(scope="session")
def m2_run():
    return tms.train(model="relu", features=5, hidden=2, importance=0.9, density=[1, 0.1], steps=300, batch=128)


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory):
    """A short `tms reproduce basic` (through the command line), shared by the report and browser tests."""
    out = tmp_path_factory.mktemp("reproduce") / "basic"
    status = tms.cli.main(["reproduce", "basic", "--out", str(out), "--steps", "200", "--batch", "128", "--quiet"])
    assert status == 0
    return out


def chromium_path():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require_browser():
    """The browser tests run wherever Chromium is installed; TMS_REQUIRE_BROWSER=1 (scripts/test.sh) makes a
    missing browser a failure instead of a skip."""
    path = chromium_path()
    if path is None:
        if os.environ.get("TMS_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is not installed (scripts/deps.sh installs it)")
        pytest.skip("Chromium is not installed")
    return path
