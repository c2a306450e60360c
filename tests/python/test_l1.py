"""`tms reproduce l1` (E22) end to end on a quick run, and its claim checks on hand-made ReLU output models: a sweep
that loses its superposition as the paper says agrees, perturbed copies differ."""
import json

import numpy as np
import pytest

import tms
from tms.targets import TARGETS
from tms.targets import l1 as l1_target


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("l1") / "l1"
    result = tms.reproduce.reproduce("l1", str(out), quick=True, log=lambda message: None)
    return out, result


def test_the_quick_target_writes_a_report_marked_not_judged(quick):
    out, result = quick
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "Short run: not meaningful" in text and "not judged (short run)" in text and "Superposition per λ" in text
    findings = json.loads((out / "findings.json").read_text())
    assert findings["target"] == "l1" and findings["meaningful"] is False and len(findings["findings"]) == 3
    assert all(not f["meaningful"] for f in findings["findings"])
    settings = TARGETS["l1"].quick
    assert findings["lambdas"] == sorted(settings["lambdas"]) and findings["density"] == settings["density"]
    for name in ("sweep", "grid"):
        assert (out / "figures" / f"l1_{name}.png").exists() and (out / "figures" / f"l1_{name}.svg").exists()
    for lam in settings["lambdas"]:
        run = tms.load(out / f"lambda-{lam:g}")
        assert run.model == "relu" and run.config["l1"] == lam and run.K == settings["restarts"]
    # The reconstruction loss is measured without the penalty: at λ > 0 the training objective is the larger.
    assert all(o > r for o, r, lam in zip(findings["objective"], findings["reconstruction_loss"], findings["lambdas"])
               if lam > 0)
    assert set(result["runs"]) == {f"lambda-{lam:g}" for lam in settings["lambdas"]}


def test_each_lambda_is_one_engine_call():
    t = TARGETS["l1"]
    trainings = t.plan(t, dict(t.defaults))
    assert [settings["l1"] for _, settings in trainings] == list(t.defaults["lambdas"])
    assert all(settings["density"] == [t.defaults["density"]] and settings["model"] == "relu"
               for _, settings in trainings)


def relu_run(W, lam):
    """A Run of one hand-made ReLU output model W [n, m] (I_i = 0.7^i) trained, nominally, with l1 = lam."""
    W = np.asarray(W, dtype=np.float32)[None]
    n, m = W.shape[1:]
    config = dict(tms.defaults(), model="relu", features=n, hidden=m, density=[0.05], l1=lam)
    zeros = np.zeros(1, dtype=np.int64)
    return tms.api._assemble(config=config, weights={"W": W, "b": np.zeros((1, n), np.float32)},
                             density=np.array([0.05]), importance=(0.7 ** np.arange(n))[None].astype(np.float32),
                             density_index=zeros, importance_index=zeros, restart=zeros,
                             stream_seed=zeros.astype(np.uint64), loss=np.zeros(1), loss_curve=np.zeros((1, 1)),
                             curve_steps=np.array([0]), seconds=0.0, threads=1, init_std=0.0,
                             steps_done=config["steps"], first_step=0)


def antipodal(represented, n=20, m=5):
    """The first `represented` features: up to m of them on the axes, the next ones antipodal to them."""
    W = np.zeros((n, m))
    for i in range(min(represented, m)):
        W[i, i] = 1.0
    for i in range(m, represented):
        W[i, i - m] = -1.0
    return W


LAMBDAS = [0.0, 1e-4, 1e-3, 1e-2]


def points(represented, losses, W=None):
    Ws = W or [antipodal(r) for r in represented]
    return [l1_target.L1Point(lam, relu_run(w, lam), loss) for lam, w, loss in zip(LAMBDAS, Ws, losses)]


def test_a_sweep_that_loses_its_superposition_agrees():
    findings = l1_target.l1_findings(points([10, 8, 5, 3], [1e-4, 1.1e-4, 2e-4, 5e-4]))
    assert [f.verdict for f in findings] == ["agrees"] * 3, [f.found for f in findings]
    assert "λ = 0: 10 / 10 / 5" in findings[0].found and "No superposition from λ = 0.001" in findings[0].found
    assert "5.00× λ = 0's" in findings[1].found


def test_perturbed_sweeps_differ():
    # Superposition at every λ (never fewer than m + 1 features).
    assert l1_target.l1_findings(points([10, 8, 7, 6], [1e-4] * 3 + [5e-4]))[0].verdict == "partly"
    assert l1_target.l1_findings(points([10] * 4, [1e-4] * 3 + [5e-4]))[0].verdict == "differs"
    # The loss does not rise; then it rises but falls by more than LOSS_NOISE on the way.
    assert l1_target.l1_findings(points([10, 8, 5, 3], [1e-4, 1e-4, 1e-4, 1e-4]))[1].verdict == "differs"
    assert l1_target.l1_findings(points([10, 8, 5, 3], [1e-4, 2e-4, 1e-4, 3e-4]))[1].verdict == "partly"
    # The features that survive are not the most important ones.
    Ws = [antipodal(r) for r in (10, 8, 5, 3)]
    Ws[3] = Ws[3][::-1].copy()  # features 17-19 instead of 0-2
    findings = l1_target.l1_findings(points([10, 8, 5, 3], [1e-4, 1.1e-4, 2e-4, 5e-4], W=Ws))
    assert findings[2].verdict == "partly" and "17, 18, 19" in findings[2].found  # 3 of 4 λ
    Ws[1], Ws[2] = Ws[1][::-1].copy(), Ws[2][::-1].copy()  # and at two more λ: 1 of 4
    assert l1_target.l1_findings(points([10, 8, 5, 3], [1e-4, 1.1e-4, 2e-4, 5e-4], W=Ws))[2].verdict == "differs"
