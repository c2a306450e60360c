"""Per-feature relative densities through the binding (paper E10) and the `nonuniform` reproduce target."""
import json
import subprocess
import sys

import numpy as np
import pytest

import tms
from tms import nonuniform


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tms", *args], capture_output=True, text=True, timeout=300)

REL = [0.5, 1, 1, 2]
SETTINGS = dict(model="relu", features=4, hidden=2, importance=1.0, density=0.1, relative_density=REL, restarts=2,
                steps=200, batch=64, seed=5)


def test_bad_length_raises_value_error_naming_the_field():
    with pytest.raises(ValueError, match="relative_density"):
        tms.train(**{**SETTINGS, "relative_density": [1, 2]})
    with pytest.raises(ValueError, match="relative_density"):
        tms.train(**{**SETTINGS, "relative_density": [1, 0, 1, 1]})
    with pytest.raises(TypeError, match="relative_density"):
        tms.train(**{**SETTINGS, "relative_density": 2.0})


def test_relative_density_is_recorded_saved_and_loaded(tmp_path):
    run = tms.train(**SETTINGS)
    assert run.config["relative_density"] == REL
    assert run.loss_decomposition is None  # the ReLU split assumes one density for all features
    run.save(tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["config"]["relative_density"] == REL
    back = tms.load(tmp_path / "run")
    assert back.config["relative_density"] == REL and np.array_equal(back.W, run.W)
    uniform = tms.train(**{**SETTINGS, "relative_density": None})
    assert uniform.config["relative_density"] == [] and not np.array_equal(uniform.W, run.W)


def test_linear_decomposition_uses_each_features_density(tmp_path):
    run = tms.train(**{**SETTINGS, "model": "linear"})
    run.save(tmp_path / "lin")
    written = np.load(tmp_path / "lin" / "instances.npz")["loss_decomposition.expected_loss"]
    assert np.allclose(written, run.loss_decomposition["expected_loss"], rtol=1e-12)


def test_cli_and_python_give_the_same_bits(tmp_path):
    out = tmp_path / "cli"
    r = run_cli("train", "--model", "relu", "--features", "4", "--hidden", "2", "--importance", "1", "--density",
                "0.1", "--relative-density", "0.5,1,1,2", "--restarts", "2", "--steps", "200", "--batch", "64",
                "--seed", "5", "--quiet", "--out", str(out))
    assert r.returncode == 0, r.stderr
    py = tms.train(**SETTINGS)
    cli = tms.load(out)
    assert np.array_equal(cli.W, py.W) and np.array_equal(cli.b, py.b)
    assert cli.config == py.config


def test_families_canonical_forms_and_crossing():
    angles = np.radians(90 + 72 * np.arange(5) + 17)
    pentagon = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    assert nonuniform.family(pentagon) == "pentagon"
    V = nonuniform.canonical_pentagon(pentagon)
    assert np.allclose(V[0], [0, 1], atol=1e-9) and np.allclose(np.linalg.norm(V, axis=1), 1)
    digons = np.array([[0.01, 0.0], [0.6, 0.8], [-0.8, 0.6], [-0.6, -0.8], [0.8, -0.6]])
    assert nonuniform.family(digons) == "digons"
    D = nonuniform.canonical_digons(digons)
    assert np.allclose(D[1], [1, 0], atol=1e-9) and D[2, 1] > 0.9
    assert nonuniform.family(digons[[1, 0, 2, 3, 4]]) == "other"
    # The crossing of two lines in log r.
    r = np.array([0.1, 0.2, 0.4, 0.8])
    assert np.isclose(nonuniform.crossing(r, np.log(r) * 0 + 1.0, np.log(r / 0.3) + 1.0)[0], 0.3)
    assert nonuniform.crossing(r, [np.nan, 1, 2, 3], [0, 0, 0, 0]) == []


def test_expected_loss_matches_the_patterns():
    W = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
    b = np.zeros((1, 3))
    table = nonuniform.pattern_losses(W, b, np.ones(3), points=2000)
    # Features 1 and 2 are reconstructed exactly; feature 3 costs E[x²] = 1/3 whenever it is active.
    loss = nonuniform.expected_loss(table, [0.5, 0.5, 0.2])
    assert np.isclose(loss[0], 0.2 * (1 / 3) / 3, rtol=0.05)


def test_nonuniform_reproduce_writes_a_report(tmp_path):
    out = tmp_path / "nonuniform"
    status = tms.cli.main(["reproduce", "nonuniform", "--out", str(out), "--quick", "--restarts", "2", "--steps",
                           "200", "--quiet"])
    assert status == 0
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "Run time" in text and "The paper claims" in text and "<img " in text
    assert "Crossing of the two loss curves" in text and "The sweep" in text
    findings = json.loads((out / "findings.json").read_text())
    assert findings["seconds"] > 0 and len(findings["findings"]) == 5
    assert {f["verdict"] for f in findings["findings"]} <= {"agrees", "partly", "differs"}
    assert findings["meaningful"] is False and "Short run: not meaningful" in text
    assert "feature 0 is the varied one" in text
    rel = findings["relative"]
    assert len(rel) == 5 and 1.0 in rel and len(findings["best_family"]) == len(rel)
    assert (out / "figures" / "nonuniform.png").exists() and (out / "figures" / "nonuniform.svg").exists()
    run = tms.load(out / "relu" / "r00")
    assert run.K == 2 and run.n == 5 and run.m == 2
    assert np.isclose(run.config["relative_density"][0], rel[0]) and run.config["relative_density"][1:] == [1] * 4
    z = np.load(out / "nonuniform.npz")
    assert z["loss"].shape == (len(rel), 2)
