"""E16 and E17 from Python: Run.adversarial (the engine's attack) on hand-made models, adversarial training as a
training option, the `adversarial` and `adversarial-training` targets' claim checks, and both targets end to end on
quick runs."""
import json

import numpy as np
import pytest

import tms
from tms.targets import adversarial as adv


def _run(W, b, density=0.1, model="relu"):
    """A Run of hand-made tied models W [K, n, m], b [K, n] (I = 1), one density each."""
    W = np.asarray(W, dtype=np.float32)
    K, n, m = W.shape
    base = tms.train(model=model, features=n, hidden=m, importance=1.0, density=density, restarts=K, steps=1)
    base.W = W
    base.b = np.asarray(b, dtype=np.float32)
    return base


def test_superposition_is_more_vulnerable_than_its_reference():
    reference = np.zeros((4, 2), dtype=np.float32)
    reference[0, 0] = reference[1, 1] = 1  # features 0 and 1 on their own directions, b = 0
    square = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.float32)  # antipodal pairs
    run = _run([reference, square], np.zeros((2, 4)))
    a = run.adversarial(samples=20_000, seed=3)
    assert a["vulnerability"][0] == pytest.approx(1.0)
    assert a["vulnerability"][1] > 1.5
    assert np.all(a["attacked"] >= a["clean"]) and np.all(a["attack_norm"] > 0)
    assert a["features_per_dimension"].tolist() == pytest.approx([1.0, 2.0])
    again = run.adversarial(samples=20_000, seed=3)
    assert np.array_equal(a["vulnerability"], again["vulnerability"])
    # Twice the attack norm: the loss rises more.
    assert run.adversarial(samples=20_000, seed=3, relative_norm=0.2)["attacked"][1] > a["attacked"][1]


def test_the_attack_is_refused_where_it_is_not_defined():
    run = tms.train(model="abs", features=3, hidden=4, density=0.5, steps=1)
    with pytest.raises(ValueError, match="model: the adversarial attack is defined for"):
        run.adversarial(samples=100)


def test_the_claims_follow_the_numbers():
    d = [1.0, 0.3, 0.1, 0.03]
    found = adv.adversarial_findings(d, [1.0, 2.0, 4.0, 5.0], [1.0, 2.0, 3.0, 3.8])
    assert [f.verdict for f in found] == ["agrees", "agrees"]
    found = adv.adversarial_findings(d, [1.0, 1.2, 1.1, 1.3], [1.0, 2.0, 3.0, 3.8])
    assert found[0].verdict == "differs"
    found = adv.adversarial_findings(d, [1.0, 5.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    assert found[1].verdict != "agrees"


def test_the_quick_target(tmp_path):
    out = tmp_path / "adversarial"
    result = tms.reproduce.reproduce("adversarial", str(out), quick=True, log=lambda message: None)
    findings = json.loads((out / "findings.json").read_text())
    assert findings["target"] == "adversarial" and findings["meaningful"] is False and len(findings["findings"]) == 2
    assert len(findings["vulnerability"]) == len(adv.TARGETS[0].quick["density"])
    assert (out / "figures" / "adversarial.png").exists() and "Per density" in (out / "report.html").read_text()
    assert tms.load(out / "adversarial").K == result["runs"]["adversarial"].K


def test_metrics_json_holds_the_vulnerability_when_asked(tmp_path):
    run = tms.train(features=6, hidden=2, density=[1.0, 0.1], steps=50, batch=64, adversarial_samples=3000)
    run.save(tmp_path / "r")
    columns = np.load(tmp_path / "r" / "instances.npz")
    a = run.adversarial(samples=3000, seed=run.config["seed"])
    assert np.array_equal(columns["adversarial.vulnerability"], a["vulnerability"])  # exact: the same engine call
    assert np.array_equal(columns["adversarial.feature"], a["feature"])
    assert tms.load(tmp_path / "r").config["adversarial_samples"] == 3000
    plain = tms.train(features=6, hidden=2, steps=5, batch=16)
    plain.save(tmp_path / "p")
    assert not any(c.startswith("adversarial") for c in np.load(tmp_path / "p" / "instances.npz").files)


def test_adversarial_training_is_a_training_option_checked_and_recorded(tmp_path):
    run = tms.train(model="relu", features=6, hidden=2, density=0.2, steps=40, batch=64, adversarial_training=0.5)
    run.save(tmp_path / "r")
    assert tms.load(tmp_path / "r").config["adversarial_training"] == 0.5
    plain = tms.train(model="relu", features=6, hidden=2, density=0.2, steps=40, batch=64)
    assert not np.array_equal(run.W, plain.W)  # the attack changed the training
    assert "adversarial_training" not in plain.config  # written only when set
    for bad, message in ((-1.0, "adversarial_training: -1 is not allowed"), (float("nan"), "adversarial_training")):
        with pytest.raises(ValueError, match=message):
            tms.make_config(adversarial_training=bad)
    with pytest.raises(ValueError, match="adversarial_training: the attack is defined for"):
        tms.make_config(model="relu-hidden", adversarial_training=0.3)


def test_adversarial_training_findings_judge_reduction_and_the_elimination_norm():
    norms = [0.0, 0.2, 0.5, 0.8, 1.2]
    found = adv.adversarial_training_findings(norms, [5.0, 4.5, 3.0, 2.0, 1.0], [20, 18, 10, 4, 0])
    assert [f.verdict for f in found] == ["agrees", "agrees"]
    found = adv.adversarial_training_findings(norms, [5.0, 4.5, 3.0, 2.0, 1.0], [20, 0, 0, 0, 0])
    assert found[1].verdict != "agrees"  # eliminated by a small attack (0.2): not "unreasonably large"
    found = adv.adversarial_training_findings(norms, [5.0, 5.1, 4.9, 5.0, 5.0], [20, 20, 20, 20, 20])
    assert [f.verdict for f in found] == ["differs", "differs"]


def test_adversarial_training_target_quick_writes_its_report(tmp_path):
    out = tmp_path / "e17"
    result = tms.reproduce.reproduce("adversarial-training", str(out), quick=True, log=lambda message: None)
    findings = json.loads((out / "findings.json").read_text())
    assert findings["target"] == "adversarial-training" and len(findings["findings"]) == 2
    assert findings["attack_norm"] == [0.0, 0.8, 1.5]
    assert (out / "figures" / "adversarial_training.png").exists()
    assert "Per training attack norm" in (out / "report.html").read_text()
    assert tms.load(out / "attack-0.8").config["adversarial_training"] == 0.8
    assert set(result["runs"]) == {"attack-0", "attack-0.8", "attack-1.5"}
