"""SAEs on toy models from Python: tms.train_saes on a trained run, its table of metrics, the same bits for any
thread count, save and load (a damaged folder is one ValueError), bad settings refused by name, and the saes
target's quick report."""
import json

import numpy as np
import pytest

import tms
from tms import reproduce, science


@pytest.fixture(scope="module")
def toy():
    return tms.train(model="relu", features=12, hidden=4, density=[0.05, 0.2], importance=0.95, steps=600,
                     batch=256, seed=1)


def test_train_saes_returns_the_grid_and_its_metrics(toy):
    s = tms.train_saes(toy, kind="topk", widths=[6, 12], coefficients=[1, 2], restarts=2, steps=200, batch=128,
                       eval_samples=2048, threads=2)
    assert s.S == toy.K * 2 * 2 * 2
    assert list(s.specs["toy_instance"][:8]) == [0] * 8 and list(s.specs["width"][:4]) == [6] * 4
    for name in tms.saes.METRICS:
        assert s.metrics[name].shape == (s.S,)
    assert s.features["cosine"].shape == (s.S, toy.n)
    assert s.W_dec(0).shape == (6, toy.m) and s.W_enc(0).shape == (toy.m, 6)
    np.testing.assert_allclose(np.linalg.norm(s.W_dec(3), axis=1), 1, atol=1e-5)
    # The engine's matched cosine is the Python cosines' at the assignment.
    i = 5
    C = s.cosines(i)
    a = s.features["latent"][i]
    rep = np.flatnonzero(a >= 0)
    np.testing.assert_allclose(s.features["cosine"][i][rep], C[rep, a[rep]], atol=1e-6)
    np.testing.assert_allclose(s.features["max_cosine"][i][rep], C[rep].max(axis=1), atol=1e-6)
    # TopK keeps at most k latents per sample.
    enc = s.encode(i, samples=300)
    assert enc["z"].shape == (300, 12) and ((enc["z"] > 0).sum(axis=1) <= s.specs["coefficient"][i]).all()
    np.testing.assert_allclose(enc["h"], enc["x"] @ toy.W[int(s.specs["toy_instance"][i])], atol=1e-5)
    rows = s.rows()
    assert len(rows) == s.S and rows[0]["kind"] == "topk" and 0 <= rows[0]["matched_cosine"] <= 1
    assert len(s.best()) == s.S // 2


def test_the_same_bits_for_any_thread_count(toy):
    settings = dict(kind="relu", widths=[8], coefficients=[0.01, 0.1], steps=150, batch=64, eval_samples=500)
    one = tms.train_saes(toy, threads=1, **settings)
    two = tms.train_saes(toy, threads=2, **settings)
    for a, b in zip(one.params, two.params):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_array_equal(one.metrics["mcc"], two.metrics["mcc"])


def test_save_and_load_round_trip_and_damage(toy, tmp_path):
    run_dir = tmp_path / "toy"
    toy.save(run_dir)
    s = tms.train_saes(tms.load(run_dir), kind="jumprelu", widths=[8], coefficients=[0.003], steps=100, batch=64,
                       eval_samples=500)
    s.save(tmp_path / "saes")
    with pytest.raises(FileExistsError):
        s.save(tmp_path / "saes")
    back = tms.load_saes(tmp_path / "saes")
    for a, b in zip(s.params, back.params):
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
    np.testing.assert_array_equal(s.metrics["matched_cosine"], back.metrics["matched_cosine"])
    np.testing.assert_array_equal(back.encode(0, samples=50)["z"], s.encode(0, samples=50)["z"])
    (tmp_path / "saes" / "saes.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="does not hold readable SAEs"):
        tms.load_saes(tmp_path / "saes")
    (tmp_path / "saes" / "saes.json").write_text("{")
    with pytest.raises(ValueError, match="not readable saved SAEs"):
        tms.load_saes(tmp_path / "saes")


@pytest.mark.parametrize("settings, field", [
    (dict(kind="vanilla"), "kind"),
    (dict(kind="topk", coefficients=[2.5]), "coefficients"),
    (dict(kind="topk", coefficients=[50], widths=[8]), "coefficients"),
    (dict(coefficients=[-1.0]), "coefficients"),
    (dict(widths=[0]), "widths"),
    (dict(instances=[7]), "instances"),
    (dict(kind="topk", coefficients=[1], resample="simple"), "resample"),
    (dict(resample="sometimes"), "resample"),
    (dict(steps=0), "steps"),
])
def test_bad_settings_are_refused_by_name(toy, settings, field):
    with pytest.raises(ValueError, match=f"^{field}:"):
        tms.train_saes(toy, steps=settings.pop("steps", 10), **settings)


def test_unknown_settings_and_runs(toy):
    with pytest.raises(TypeError, match="unknown setting 'width'"):
        tms.train_saes(toy, width=8)
    with pytest.raises(TypeError, match="not a tms.Run"):
        tms.train_saes(np.zeros((3, 3)))


def test_defaults_are_the_engines():
    d = tms.saes.sae_defaults()
    assert d["kind"] == "relu" and d["lr"] == 1e-3 and d["resample"] == "none"
    assert 0 < science.sae_recovered_cosine < 1


def test_saes_target_quick_report(tmp_path):
    out = tmp_path / "saes"
    result = reproduce.reproduce("saes", str(out), quick=True, log=lambda message: None)
    assert result["report"].endswith("report.html")
    findings = json.loads((out / "findings.json").read_text())
    assert findings["meaningful"] is False and len(findings["findings"]) == 4
    for name in ("sae_frontier", "sae_features", "sae_pentagon"):
        assert (out / "figures" / f"{name}.png").exists()
    back = tms.load_saes(out / "saes-topk-relu-80-20")
    assert back.S > 0 and back.toy.n == 80
