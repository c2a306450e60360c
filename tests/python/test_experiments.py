"""The experiment targets of `tms reproduce` with tiny settings: each writes a complete report."""
import json

import numpy as np
import pytest

import tms
from tms import phase, reproduce


def _report(out):
    """The report of a --quick run: complete, and marked not meaningful at the top and in every finding."""
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "Run time" in text and "The paper claims" in text and "<img " in text
    assert "Short run: not meaningful" in text and text.count("Features are numbered from 0") == 1
    findings = json.loads((out / "findings.json").read_text())
    assert findings["seconds"] > 0 and findings["findings"]
    assert {f["verdict"] for f in findings["findings"]} <= {"agrees", "partly", "differs", "n/a"}
    assert findings["meaningful"] is False and "quick run" in findings["reason"]
    assert all(not f["meaningful"] and f["reason"] == findings["reason"] for f in findings["findings"])
    return text, findings


def test_phase_diagram_reproduce(tmp_path):
    out = tmp_path / "phase"
    status = tms.cli.main(["reproduce", "phase-2-1", "--out", str(out), "--restarts", "3", "--steps", "200",
                           "--batch", "128", "--quick", "--quiet"])
    assert status == 0
    text, findings = _report(out)
    grid = findings["grid"]
    assert findings["cells"] == grid * grid and 0 <= findings["agreement"] <= 1
    assert sum(findings["counts"].values()) == grid * grid
    z = np.load(out / "phase.npz")
    assert z["model_phase"].shape == (grid, grid, 3) and z["phase"].shape == (grid, grid)
    run = tms.load(out / "models")
    assert run.K == grid * grid * 3 and run.n == 2 and run.m == 1
    assert np.allclose(run.importance[:, 0], 1) and np.allclose(run.importance[3 * np.arange(grid), 1], z["r"])
    for name in ("The grid", "theory", "phase-2-1"):
        assert name in text
    assert (out / "figures" / "phase-2-1.svg").exists()


def test_phase_train_settings_are_the_trained_ones():
    settings = phase.train_settings("3-2", r=[0.2, 5.0], density=[0.5, 0.05], models=3, steps=150)
    assert settings["importances"] == [[1.0, 1.0, 0.2], [1.0, 1.0, 5.0]] and settings["restarts"] == 3
    assert tms.make_config(**settings).steps == 150
    with pytest.raises(ValueError, match="models: 1"):
        phase.train_settings("2-1", models=1)


def test_phase_diagram_cells_follow_the_protocol():
    d = phase.phase_diagram("3-2", r=[0.2, 5.0], density=[0.5, 0.05], models=3, steps=150, batch=64)
    assert d.run.K == 12 and np.allclose(d.run.importance[d.instance(0, 1, 2)], [1, 1, 5])
    for di in range(2):
        for ri in range(2):
            ks = [d.instance(di, ri, j) for j in range(3)]
            assert d.dropped[di, ri] == int(np.argmax(d.run.loss[ks]))
            kept = [j for j in range(3) if j != d.dropped[di, ri]]
            assert np.isclose(d.mean_loss[di, ri], d.run.loss[[ks[j] for j in kept]].mean())
            assert d.theory[di, ri] == phase.predict("3-2", d.density[di], d.r[ri])[0]
    assert d.agreement == float((d.phase == d.theory).mean())


@pytest.mark.parametrize("target", ["geometry", "dynamics"])
def test_experiment_targets_write_reports(tmp_path, target):
    out = tmp_path / target
    result = reproduce.reproduce(target, str(out), quick=True, steps=200, log=lambda message: None)
    text, findings = _report(out)
    assert result["report"].endswith("report.html")
    if target == "geometry":
        assert "Tegum factors per density" in text and len(findings["geometry"]) == 6
        assert (out / "figures" / "geometry_dimensionality.png").exists()
    else:
        run = tms.load(out / "relu")
        assert run.snapshot_steps[0] == 0 and run.snapshot_steps[-1] == 200
        assert (out / "figures" / "dynamics.png").exists()
