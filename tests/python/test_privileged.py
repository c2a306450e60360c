"""`tms reproduce privileged-basis` (paper E18) end to end on a quick run, the paper's regime table against the
engine's names, and the target's figures drawn from a small run."""
import json

import numpy as np
import pytest

import tms
from tms import figures, privileged
from tms.targets import TARGETS
from tms.targets.common import resolve_settings


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("privileged") / "privileged-basis"
    status = tms.cli.main(["reproduce", "privileged-basis", "--out", str(out), "--quick", "--quiet"])
    assert status == 0
    return out


def test_the_quick_target_writes_a_report_marked_not_judged(quick):
    text = (quick / "report.html").read_text(encoding="utf-8")
    assert "Short run: not meaningful" in text and "Regimes per density" in text and "<img " in text
    assert text.count("Features are numbered from 0") == 1 and "not judged (short run)" in text
    findings = json.loads((quick / "findings.json").read_text())
    assert findings["target"] == "privileged-basis" and findings["meaningful"] is False
    assert "quick run" in findings["reason"] and len(findings["findings"]) == 4
    assert all(not f["meaningful"] and f["reason"] == findings["reason"] for f in findings["findings"])
    assert {f["verdict"] for f in findings["findings"]} <= {"agrees", "partly", "differs", "n/a"}
    quick_settings = TARGETS["privileged-basis"].quick
    D = len(quick_settings["densities"])
    assert findings["density"] == sorted(quick_settings["densities"], reverse=True)
    assert len(findings["regime"]) == D and findings["judged"] == sum(a is not None for a in findings["agree"])
    assert findings["paper_regime"][0] == "all monosemantic neurons"
    for name in ("stacks", "weights", "counts", "loss"):
        assert (quick / "figures" / f"privileged-basis_{name}.png").exists()
        assert (quick / "figures" / f"privileged-basis_{name}.svg").exists()
    hidden, linear = tms.load(quick / "relu-hidden"), tms.load(quick / "relu")
    assert hidden.model == "relu-hidden" and linear.model == "relu"
    assert hidden.K == linear.K == D * quick_settings["restarts"] and (hidden.n, hidden.m) == (10, 5)
    assert np.allclose(hidden.importance[0], 0.75 ** np.arange(10), rtol=1e-6)


def test_a_finished_target_is_refused_without_overwrite(quick):
    before = (quick / "relu-hidden" / "metrics.json").read_bytes()
    assert tms.cli.main(["reproduce", "privileged-basis", "--out", str(quick), "--quick", "--quiet"]) == 2
    assert (quick / "relu-hidden" / "metrics.json").read_bytes() == before


def test_bad_settings_are_refused_before_any_folder(tmp_path):
    with pytest.raises(ValueError, match="restarts"):
        tms.reproduce.reproduce("privileged-basis", str(tmp_path / "bad"), quick=True, restarts=0)
    assert not (tmp_path / "bad").exists()


def test_the_paper_s_table_uses_the_engine_s_names():
    names = [name for name, _, _ in privileged.PAPER_REGIMES]
    assert names[0] == tms._tms.privileged_regime(10, 5, 5, 5)
    for name in names:  # each row's counts, read off the engine, give that row's name back
        rep, mono = privileged.regime_counts(name)
        assert tms._tms.privileged_regime(10, 5, rep, mono) == name
    assert privileged.expected_regime(1.0) == privileged.expected_regime(0.5) == names[0]
    assert privileged.expected_regime(0.3) == privileged.expected_regime(0.2) == names[1]
    assert [privileged.expected_regime(d) for d in (0.15, 0.12, 0.065, 0.04, 0.01)] == names[2:4] + [names[4]] + \
        names[5:] * 2
    assert privileged.expected_regime(0.1) is None and privileged.expected_regime(0.045) is None
    with pytest.raises(ValueError, match="regime: 'other'"):
        privileged.regime_counts("other")


def test_neurons_are_ordered_by_their_primary_feature():
    W = np.zeros((10, 5))
    W[3, 0], W[0, 1], W[1, 3], W[2, 3] = 1.0, 1.0, 0.9, 0.8  # neuron 2 and 4 dead, neuron 3 polysemantic
    order = privileged.neuron_order(W, 0.75 ** np.arange(10))
    assert order.tolist() == [1, 3, 0, 2, 4]
    nm = privileged.neurons(W)
    assert (nm.monosemantic, nm.polysemantic, nm.dead) == (2, 1, 2)


def test_analyse_takes_a_relu_hidden_run_and_the_same_grid(quick):
    hidden, linear = tms.load(quick / "relu-hidden"), tms.load(quick / "relu")
    sweep = privileged.analyse(hidden, linear)
    assert list(sweep.density) == sorted(sweep.density, reverse=True) and sweep.restarts == 3
    assert sweep.top_share.shape == sweep.linear_top_share.shape == (len(sweep.density), 5)
    assert all(sum(c.values()) == 3 for c in sweep.restart_regimes)
    with pytest.raises(ValueError, match="'relu' run"):
        privileged.analyse(linear)
    with pytest.raises(ValueError, match="densities"):
        privileged.analyse(hidden, linear.select(linear.density != 1.0))


def test_the_figures_draw_from_a_small_run(tmp_path):
    kw = dict(features=6, hidden=3, importance=0.8, density=[1.0, 0.1], steps=100, batch=64, restarts=2)
    hidden, linear = tms.train(model="relu-hidden", **kw), tms.train(model="relu", **kw)
    best = hidden.best_restarts()
    fig = figures.neuron_stacks(best, path=tmp_path / "stacks.svg")
    assert (tmp_path / "stacks.svg").exists() and len(fig.axes) == 2
    figures.neuron_weights(linear.best_restarts(), best, [1.0, 0.1], path=tmp_path / "weights.png")
    figures.privileged_counts(hidden, linear, path=tmp_path / "counts")  # no suffix: both formats
    assert (tmp_path / "weights.png").exists() and (tmp_path / "counts.png").exists()
    assert (tmp_path / "counts.svg").exists()
    with pytest.raises(ValueError, match="no instance at 1−S = 0.5"):
        figures.neuron_weights(linear, best, [0.5])


def test_the_comparison_model_takes_at_most_the_restarts_of_the_hidden_one():
    exp = TARGETS["privileged-basis"]
    for restarts, expected in ((None, exp.defaults["comparison_restarts"]), (4, 4)):
        s = resolve_settings(exp, False, dict(restarts=restarts))
        (hidden_folder, hidden), (linear_folder, linear) = exp.plan(exp, s)
        assert (hidden_folder, linear_folder) == ("relu-hidden", "relu")
        assert hidden["restarts"] == (restarts or exp.defaults["restarts"]) and linear["restarts"] == expected
        assert hidden["density"] == linear["density"] == list(exp.defaults["densities"])
