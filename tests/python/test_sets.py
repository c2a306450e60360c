"""Correlated and anticorrelated features from Python: tms.sample (the engine's batches, what evaluate scores),
training on set data, the front doors' rules, the engine's set classifier, and the correlated, local-bases and
collapse targets end to end on quick runs, with their claim checks on hand-made models."""
import json

import numpy as np
import pytest

import tms
from tms import _tms, science
from tms.targets import TARGETS
from tms.targets import correlated as ct


def test_sample_draws_the_sets():
    x = tms.sample(features=6, data="correlated", set_size=3, density=[0.3, 1.0], samples=20_000, seed=4)
    assert x.shape == (2, 20_000, 6) and x.dtype == np.float32
    on = x != 0
    # A correlated set is all on or all off, and each feature fires with the set's probability.
    assert np.all(on[:, :, 0:3].all(axis=2) == on[:, :, 0:3].any(axis=2))
    se = np.sqrt(0.3 * 0.7 / 20_000)
    assert abs(on[0].mean() - 0.3) < 6 * se and on[1].all()
    assert abs(x[0][on[0]].mean() - 0.5) < 0.01  # values uniform on [0, 1)
    # Anticorrelated, the paper's convention: at most one per set, each with (1 - S) / k.
    a = tms.sample(features=4, data="anticorrelated", set_size=2, density=0.5, samples=40_000, seed=1)[0] != 0
    assert not np.any(a[:, 0] & a[:, 1]) and abs(a[:, 0].mean() - 0.25) < 0.01
    # ARENA's convention: each feature with 1 - S.
    f = tms.sample(features=4, data="anticorrelated", set_size=2, density=0.3, density_of="feature",
                   samples=40_000, seed=1)[0] != 0
    assert abs(f[:, 0].mean() - 0.3) < 0.01 and not np.any(f[:, 2] & f[:, 3])
    # The same seed gives the same samples; another seed others.
    again = tms.sample(features=6, data="correlated", set_size=3, density=[0.3, 1.0], samples=20_000, seed=4)
    assert np.array_equal(x, again)
    assert not np.array_equal(x, tms.sample(features=6, data="correlated", set_size=3, density=[0.3, 1.0],
                                            samples=20_000, seed=5))


def test_evaluate_scores_the_samples_tms_sample_gives():
    run = tms.train(features=6, hidden=2, data="correlated", set_size=2, density=[0.2, 0.05], steps=200, batch=128)
    x = tms.sample(**{k: run.config[k] for k in ("features", "data", "set_size", "density", "batch")},
                   samples=3000, seed=7)
    for k in range(run.K):
        W, b, I = run.W[k].astype(np.float64), run.b[k].astype(np.float64), run.importance[k].astype(np.float64)
        xk = x[k].astype(np.float64)
        out = np.maximum(xk @ W @ W.T + b, 0)
        by_hand = float(np.mean(I * (xk - out) ** 2))
        assert run.evaluate(samples=3000, seed=7)[k] == pytest.approx(by_hand, rel=1e-5)


def test_set_runs_record_their_data_and_round_trip(tmp_path):
    run = tms.train(features=4, hidden=2, data="anticorrelated", set_size=2, density_of="feature",
                    density=[0.4, 0.1], steps=50, batch=64)
    assert run.config["data"] == "anticorrelated" and run.config["set_size"] == 2
    assert run.config["density_of"] == "feature"
    assert run.loss_decomposition is None  # the loss split assumes independent features
    run.save(tmp_path / "r")
    columns = np.load(tmp_path / "r" / "instances.npz")
    assert columns["feature_density"][0] == pytest.approx(0.4)
    assert columns["set_activation"][0] == pytest.approx(0.8)
    back = tms.load(tmp_path / "r")
    assert back.config["data"] == "anticorrelated" and np.array_equal(back.W, run.W)
    plain = tms.train(features=4, hidden=2, steps=20, batch=16)
    assert "data" not in plain.config


def test_the_rules_of_the_set_options():
    with pytest.raises(ValueError, match="set_size: applies to sets of features only"):
        tms.make_config(set_size=3)
    with pytest.raises(ValueError, match="density_of: applies to sets"):
        tms.make_config(density_of="feature")
    with pytest.raises(ValueError, match="set_size: 4 does not divide features = 6"):
        tms.make_config(features=6, data="correlated", set_size=4)
    with pytest.raises(ValueError, match="data: unknown data 'clustered'"):
        tms.make_config(data="clustered")
    with pytest.raises(ValueError, match="relative_density: per-feature densities apply to independent"):
        tms.make_config(features=4, data="correlated", relative_density=[1, 1, 2, 2])
    with pytest.raises(ValueError, match="phase theory assumes independent"):
        tms.phase.train_settings("2-1", data="correlated")


def test_the_engine_reads_a_hexagon_and_a_collapse():
    a = np.radians([0, 60, 120, 180, 240, 300])
    hexagon = np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)
    g = _tms.measure_sets(hexagon, 2)
    assert g["counts"]["side by side"] == 3 and g["collapsed_sets"] == 0
    assert g["within_max"] == pytest.approx(0.5, abs=1e-6)
    collapsed = np.array([[0.7, 0], [0.7, 0], [0, 0.7], [0, 0.7], [0, 0], [0, 0]], dtype=np.float32)
    g = _tms.measure_sets(collapsed, 2)
    assert g["pairs"] == [["collapsed"], ["collapsed"], ["unlearned"]] and g["collapsed_sets"] == 2
    assert science.set_orthogonal == 0.3 and science.set_collapsed == 0.9


class _Fake:
    """A run-like object for SetModel: one model W of set data."""

    def __init__(self, Ws, densities, set_size=2):
        self.W = np.asarray(Ws, dtype=np.float32)
        self.density = np.asarray(densities, dtype=np.float64)
        self.loss = np.zeros(len(densities))
        self.config = dict(set_size=set_size)


def _angles(*degrees, norm=1.0):
    a = np.radians(degrees)
    return norm * np.stack([np.cos(a), np.sin(a)], axis=1)


def test_correlated_claims_agree_on_the_papers_pictures_and_not_on_others():
    square = ct.SetModel(_Fake([_angles(0, 90, 180, 270)], [0.05]), 0)
    antipodal = ct.SetModel(_Fake([_angles(0, 180, 90, 270)], [0.3]), 0)
    hexagon = ct.SetModel(_Fake([_angles(0, 60, 120, 180, 240, 300)], [0.01]), 0)
    found = ct.correlated_findings(([square], [square]), ([antipodal], [antipodal]), ([hexagon], [hexagon]))
    assert [f.verdict for f in found] == ["agrees"] * 3
    # Swapped pictures: correlated pairs antipodal, anticorrelated pairs orthogonal, the hexagon with its pairs
    # split (features 0 and 1 opposite).
    split = ct.SetModel(_Fake([_angles(0, 180, 60, 240, 120, 300)], [0.01]), 0)
    found = ct.correlated_findings(([antipodal], [antipodal]), ([square], [square]), ([split], [split]))
    assert all(f.verdict == "differs" for f in found)


def test_collapse_claims_follow_the_counts():
    def model(d, collapsed):
        # `collapsed` pairs on their (a + b)/sqrt 2 direction, the rest side by side.
        rows, angle = [], 0.0
        for j in range(3):
            if j < collapsed:
                rows += [_angles(angle, norm=0.707)[0]] * 2
            else:
                rows += [_angles(angle)[0], _angles(angle + 60)[0]]
            angle += 120
        return ct.SetModel(_Fake([np.array(rows)], [d]), 0)

    rising = [model(0.01, 0), model(0.1, 1), model(0.2, 2), model(0.5, 3)]
    verdicts = [f.verdict for f in ct.collapse_findings(rising, [0.2, 0.4, 0.7, 0.99])]
    assert verdicts == ["agrees", "agrees"]
    flat = [model(d, 0) for d in (0.01, 0.1, 0.5)]
    verdicts = [f.verdict for f in ct.collapse_findings(flat, [0.2, 0.3, 0.5])]
    assert verdicts == ["differs", "partly"]


def test_pca_loss_is_the_dropped_variance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200_000, 3)) * np.array([3.0, 2.0, 1.0]) + 5.0
    # Rank 2 keeps the two largest variances (9, 4): the loss is the third's, 1, over n = 3.
    assert ct.pca_loss(x, np.ones(3), 2) == pytest.approx(1 / 3, rel=0.02)
    # Importance rescales: I = (1, 1, 100) makes the third feature the one kept first.
    assert ct.pca_loss(x, np.array([1.0, 1.0, 100.0]), 2) == pytest.approx(4 / 3, rel=0.02)


def test_local_bases_claims():
    eye = np.concatenate([np.eye(3), np.eye(3)[[1, 2, 0]] @ np.array([[0.6, 0.8, 0], [-0.8, 0.6, 0], [0, 0, 1]])])
    good = ct.SetModel(_Fake([eye], [0.1], set_size=3), 0)
    assert [f.verdict for f in ct.local_bases_findings([good], 3)] == ["agrees", "agrees"]
    mixed = eye.copy()
    mixed[1] = (eye[0] + eye[1]) / np.sqrt(2)
    bad = ct.SetModel(_Fake([mixed], [0.1], set_size=3), 0)
    assert ct.local_bases_findings([bad], 3)[0].verdict == "differs"


@pytest.mark.parametrize("name", ["correlated", "local-bases", "collapse", "dynamics-correlated"])
def test_the_quick_targets_write_their_reports(tmp_path, name):
    out = tmp_path / name
    result = tms.reproduce.reproduce(name, str(out), quick=True, log=lambda message: None)
    findings = json.loads((out / "findings.json").read_text())
    assert findings["target"] == name and findings["meaningful"] is False and findings["findings"]
    assert (out / "report.html").exists() and all(f["png"] for f in findings["figures"])
    for key, run in result["runs"].items():
        assert run.config["data"] in ("correlated", "anticorrelated")
        assert tms.load(out / key).K == run.K


def test_the_octahedron_and_the_regimes():
    e = np.eye(3)
    octa = np.array([e[0], e[1], e[2], -e[1], -e[0], -e[2]])  # each antipodal partner in the other set
    assert ct.octahedron(octa, 3) and ct.regime(octa, 3) == "octahedron"
    same_set = np.array([e[0], -e[0], e[1], e[2], -e[1], -e[2]])  # 0 and 1 antipodal inside set 0
    assert not ct.octahedron(same_set, 3)
    collapsed = np.array([e[0] * 0.6] * 3 + [-e[0] * 0.6] * 3)
    assert ct.regime(collapsed, 3) == "collapsed" and ct.regime(collapsed * 0.1, 3) == "small"
    steps = [0, 10, 100, 200, 400, 800, 1600, 3200, 6400]
    labels = ["small", "small", "collapsed", "collapsed", "collapsed", "transition", "octahedron", "octahedron",
              "octahedron"]
    loss = [1.0, 0.9, 0.3, 0.29, 0.28, 0.1, 0.02, 0.02, 0.02]
    assert [f.verdict for f in ct.dynamics_findings(steps, labels, loss, 0.2, 4, 4)] == ["agrees"] * 3
    # No collapsed (PCA-like) regime first, and a final transition: the claims do not hold.
    labels = ["small", "small", "transition", "transition", "transition", "transition", "octahedron",
              "octahedron", "transition"]
    assert all(f.verdict != "agrees" for f in ct.dynamics_findings(steps, labels, loss, 0.2, 0, 4))


def test_init_scale_scales_the_init():
    a = tms.train(features=6, hidden=3, steps=1, snapshots=[0])
    b = tms.train(features=6, hidden=3, steps=1, snapshots=[0], init_scale=0.1)
    assert b.init_std == pytest.approx(0.1 * a.init_std)
    assert np.allclose(b.snapshot_W[0], 0.1 * a.snapshot_W[0], rtol=1e-5, atol=0)
    assert b.config["init_scale"] == 0.1 and "init_scale" not in a.config
    with pytest.raises(ValueError, match="init_scale"):
        tms.make_config(init_scale=0)
