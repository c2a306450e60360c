"""tms.train / tms.load: shapes, dtypes, defaults from the engine, errors with the engine's message,
cancellation, and run folders that round-trip."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import tms
from conftest import SMALL


def test_shapes_and_dtypes(relu_run):
    run = relu_run
    K, n, m = 2, SMALL["features"], SMALL["hidden"]
    P = run.curve_steps.shape[0]
    assert (run.K, run.n, run.m) == (K, n, m)
    expected = {
        "W": ((K, n, m), np.float32), "b": ((K, n), np.float32), "density": ((K,), np.float64),
        "importance": ((K, n), np.float32), "restart": ((K,), np.int64), "loss": ((K,), np.float64),
        "loss_curve": ((K, P), np.float64), "curve_steps": ((P,), np.int64), "norms": ((K, n), np.float64),
        "superposition": ((K, n), np.float64), "dimensionality": ((K, n), np.float64),
        "frobenius_sq": ((K,), np.float64), "dims_per_feature": ((K,), np.float64),
        "represented": ((K,), np.int64), "stream_seed": ((K,), np.uint64),
    }
    for name, (shape, dtype) in expected.items():
        a = getattr(run, name)
        assert isinstance(a, np.ndarray), name
        assert a.shape == shape, (name, a.shape)
        assert a.dtype == dtype, (name, a.dtype)
    assert 0 < P <= 200 and run.curve_steps[-1] == SMALL["steps"]
    assert np.allclose(run.density, [1, 0.1])
    assert np.allclose(run.importance[0], 0.8 ** np.arange(n))
    assert set(run.loss_decomposition) == {"feature_benefit", "interference", "bias", "one_sparse_loss"}
    assert run.model == "relu" and run.config["steps"] == 300 and run.config["model"] == "relu"
    assert "relu" in repr(run)


def test_measurements_match_numpy(relu_run):
    run = relu_run
    for k in range(run.K):
        W = run.W[k].astype(np.float64)
        G = W @ W.T
        assert np.allclose(run.gram(k), G, atol=1e-6)
        norms = np.linalg.norm(W, axis=1)
        assert np.allclose(run.norms[k], norms, atol=1e-6)
        assert np.isclose(run.frobenius_sq[k], (W**2).sum(), rtol=1e-6)
        assert run.represented[k] == int((norms > tms.represented_norm).sum())
        U = W / norms[:, None]
        sup = ((U @ W.T) ** 2).sum(axis=1) - norms**2
        assert np.allclose(run.superposition[k], sup, atol=1e-5)


def test_linear_loss_decomposition(linear_run):
    d = linear_run.loss_decomposition
    assert set(d) == {"feature_benefit", "interference", "bias", "expected_loss"}
    for a in d.values():
        assert a.shape == (linear_run.K,)
    assert np.allclose(d["expected_loss"], d["feature_benefit"] + d["interference"] + d["bias"])


def test_defaults_come_from_the_engine():
    d = tms.defaults()
    assert d["steps"] == 10000 and d["batch"] == 1024 and d["lr"] == 1e-3 and d["model"] == "relu"
    config = tms.make_config()
    assert config.features == d["features"] and list(config.density) == d["density"]
    assert "arena" in tms.preset_names() and tms.defaults("arena")["steps"] == 5000


def test_scalars_and_lists():
    config = tms.make_config(density=0.1, importance=0.9, features=4)
    assert list(config.density) == [0.1] and config.importance[0].base == 0.9
    config = tms.make_config(density=np.array([1, 0.5]), importance=[1, 0.5, 0.25, 0.1], features=4)
    assert list(config.density) == [1, 0.5] and list(config.importance[0].values) == [1, 0.5, 0.25, 0.1]
    config = tms.make_config(importances=[0.7, [1, 1, 1, 1]], features=4, steps=1e4)
    assert len(config.importance) == 2 and config.steps == 10000


def test_restarts_and_best(tmp_path):
    run = tms.train(model="relu", features=5, hidden=2, density=[1, 0.2], restarts=3, steps=200, batch=64, seed=5)
    assert run.K == 6 and run.restart.tolist() == [0, 1, 2, 0, 1, 2]
    assert run.stream_seed.tolist() == [5, 6, 7, 5, 6, 7]
    best = run.best_restarts()
    assert best.K == 2 and best.density.tolist() == [1, 0.2]
    for j, k in enumerate(run.best_restart_indices()):
        group = run.density == run.density[k]
        assert run.loss[k] == run.loss[group].min()
        assert np.array_equal(best.W[j], run.W[k])


@pytest.mark.parametrize("settings, fragment", [
    (dict(features=-1), "features: -1 is out of range"),
    (dict(density=[1, 1.5]), "density: 1.5"),
    (dict(density=[]), "density: the list is empty"),
    (dict(model="mlp"), "model: unknown model 'mlp'; allowed: linear, relu"),
    (dict(schedule="step"), "schedule: unknown"),
    (dict(preset="fast"), "preset"),
    (dict(importance=[1, 2, 3], features=4), "importance: an explicit list has 3 weights"),
    (dict(seed=-1), "seed: -1 is negative"),
    (dict(steps=2**40), "steps: 1099511627776 is too large"),
])
def test_bad_settings_raise_value_error_with_engine_message(settings, fragment):
    with pytest.raises(ValueError) as info:
        tms.train(**settings)
    assert fragment in str(info.value)


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match="unexpected keyword argument 'feature'"):
        tms.train(feature=5)
    with pytest.raises(TypeError, match="steps"):
        tms.train(steps="100")
    with pytest.raises(TypeError):
        tms.train(importance=0.7, importances=[0.7])


def test_run_time_error_raises_runtime_error():
    with pytest.raises(RuntimeError, match="loss became"):
        tms.train(features=5, hidden=2, density=1, steps=50, batch=64, lr=1e30)


def test_progress_callback_and_cancel():
    calls = []

    def record(done, total):
        calls.append((done, total))

    tms.train(features=5, hidden=2, density=[1, 0.5, 0.1], steps=300, batch=64, progress=record)
    # Training steps, not instance-steps: the last call reports all 300 steps of 300.
    assert calls and calls[-1] == (300, 300)
    with pytest.raises(KeyboardInterrupt):
        tms.train(features=20, hidden=5, density=1, restarts=4, steps=10**7, progress=lambda done, total: False)

    def fail(done, total):
        raise ZeroDivisionError("from the callback")

    with pytest.raises(ZeroDivisionError, match="from the callback"):
        tms.train(features=20, hidden=5, density=1, restarts=4, steps=10**7, progress=fail)


def test_ctrl_c_raises_keyboard_interrupt():
    # Deterministic: the child sends itself SIGINT from inside training (at the first progress call), which
    # is what a Ctrl-C does, without depending on how long training takes. The child restores Python's SIGINT
    # handler: a shell that runs the tests in the background starts every child with SIGINT ignored.
    script = textwrap.dedent("""
        import os, signal, sys, tms
        signal.signal(signal.SIGINT, signal.default_int_handler)
        def interrupt(done, total):
            os.kill(os.getpid(), signal.SIGINT)
        try:
            tms.train(features=20, hidden=5, density=1, restarts=4, steps=10**8, progress=interrupt)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        sys.exit(4)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "interrupted" in proc.stdout


def test_save_and_load_round_trip(relu_run, linear_run, tmp_path):
    for run in (relu_run, linear_run):
        folder = tmp_path / run.model
        run.save(folder)
        assert (folder / "weights.npz").exists() and (folder / "metrics.json").exists()
        back = tms.load(folder)
        assert back.path == os.fspath(folder)
        for name in ("W", "b", "density", "importance", "restart", "density_index", "importance_index",
                     "stream_seed", "curve_steps", "norms", "superposition", "dimensionality", "frobenius_sq",
                     "dims_per_feature", "represented"):
            a, b = getattr(run, name), getattr(back, name)
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        # metrics.json holds losses at float precision.
        assert np.allclose(back.loss, run.loss, rtol=1e-6)
        assert np.allclose(back.loss_curve, run.loss_curve, rtol=1e-6)
        assert back.config == run.config
        if run.model == "linear":
            for key in run.loss_decomposition:
                assert np.array_equal(back.loss_decomposition[key], run.loss_decomposition[key])
        # Saving a loaded run writes the same files again.
        again = tmp_path / (run.model + "-again")
        back.save(again)
        assert np.array_equal(tms.load(again).W, run.W)
        with np.load(again / "weights.npz") as z1, np.load(folder / "weights.npz") as z2:
            for key in z1.files:
                assert np.array_equal(z1[key], z2[key]), key


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        tms.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no metrics.json"):
        tms.load(tmp_path / "empty")
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        tms.load(tmp_path / "garbled")


def test_thread_count_never_changes_bits():
    a = tms.train(features=8, hidden=3, density=[1, 0.3, 0.1], steps=200, batch=64, threads=1, seed=9)
    b = tms.train(features=8, hidden=3, density=[1, 0.3, 0.1], steps=200, batch=64, threads=2, seed=9)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.b, b.b) and np.array_equal(a.loss, b.loss)


def test_training_releases_the_gil():
    import threading

    done = threading.Event()

    def work():
        tms.train(features=20, hidden=5, density=1, restarts=4, steps=3000, batch=512, threads=1)
        done.set()

    thread = threading.Thread(target=work)
    spins = 0
    thread.start()
    start = time.monotonic()
    while not done.is_set():
        spins += 1
    elapsed = time.monotonic() - start
    thread.join()
    # Python kept running here while the engine trained; holding the GIL would have stalled this loop.
    assert elapsed > 0.05 and spins > 1000 * elapsed, (spins, elapsed)


def test_select_has_numpy_semantics():
    run = tms.train(features=4, hidden=2, density=[1, 0.3, 0.1], restarts=2, steps=30, batch=32)
    assert np.array_equal(run.select(run.density == 0.1).W, run.W[run.density == 0.1])
    assert list(run.select(run.density == 0.1).density) == [0.1, 0.1]
    assert np.array_equal(run.select(slice(1, 4)).W, run.W[1:4])
    assert np.array_equal(run.select(slice(None, None, -2)).restart, run.restart[::-2])
    assert np.array_equal(run.select(-1).W, run.W[-1:])
    assert np.array_equal(run.select([5, 0, -6]).W, run.W[[5, 0, 0]])
    assert run.select(np.array([], dtype=int)).K == 0
    with pytest.raises(IndexError):
        run.select(6)
    with pytest.raises(IndexError):
        run.select(np.ones(5, dtype=bool))
    with pytest.raises(TypeError):
        run.select([0.5])


def test_repeated_instance_values_are_refused():
    with pytest.raises(ValueError, match="density: 0.1 is listed more than once.*restarts"):
        tms.train(features=4, hidden=2, density=[0.1, 0.1, 0.1], steps=10)
    with pytest.raises(ValueError, match="same importance vector"):
        tms.train(features=4, hidden=2, importances=[0.9, 0.9], steps=10)


def test_importance_limits():
    with pytest.raises(ValueError, match="importance: base 2 gives I_128"):
        tms.train(features=200, hidden=2, importance=2, steps=1)
    with pytest.warns(UserWarning, match="underflows to 0 in float32"):
        tms.train(features=200, hidden=2, density=1, importance=0.5, steps=1, batch=4)


def test_evaluate_is_the_training_loss_on_fresh_data():
    run = tms.train(features=8, hidden=3, density=[1, 0.1], steps=400, batch=128, seed=1)
    loss = run.evaluate(samples=20_000, seed=3)
    assert loss.shape == (2,) and np.all(np.isfinite(loss))
    assert np.all(loss < 2 * run.loss + 1e-4) and np.all(loss > 0.5 * run.loss)
    assert np.array_equal(loss, run.evaluate(samples=20_000, seed=3))
    assert not np.array_equal(loss, run.evaluate(samples=20_000, seed=4))
    # A model that outputs 0 (W = 0, b = 0) scores mean_i I_i p / 3 (E[x^2] = p / 3 for x ~ U[0, 1) w.p. p).
    zero = run.select([0, 1])
    zero.W = np.zeros_like(zero.W)
    zero.b = np.zeros_like(zero.b)
    expected = np.mean(zero.importance * zero.density[:, None] / 3, axis=1)
    assert np.allclose(zero.evaluate(samples=200_000), expected, rtol=0.02)
    # A selection evaluates its own instances, as the whole run would.
    assert np.array_equal(run.select([1]).evaluate(samples=20_000, seed=3), loss[1:])


def test_init_from_continues_a_run(tmp_path):
    first = tms.train(features=8, hidden=3, density=[1, 0.1], steps=200, batch=128, seed=2)
    first.save(tmp_path / "first")
    more = tms.train(init_from=tmp_path / "first", steps=200)
    assert more.config["features"] == 8 and more.config["seed"] == 2 and more.first_step == 200
    assert more.init_from == os.fspath(tmp_path / "first")
    assert np.all(more.loss < first.loss * 1.2)
    same = tms.train(init_from=first, steps=200)
    assert np.array_equal(same.W, more.W)
    more.save(tmp_path / "more")
    back = tms.load(tmp_path / "more")
    assert back.first_step == 200 and back.init_from == os.fspath(tmp_path / "first")
    with pytest.raises(ValueError, match="init_from"):
        tms.train(init_from=first, features=9, steps=10)


def test_callback_sees_every_instance_and_can_stop():
    seen = []

    def watch(step, loss):
        seen.append((step, loss.copy()))
        return step < 100

    run = tms.train(features=8, hidden=3, density=[1, 0.1], steps=300, batch=64, callback=watch,
                    callback_every=50)
    assert [s for s, _ in seen] == [50, 100]
    assert all(l.shape == (2,) for _, l in seen)
    assert run.steps_done == 100 and run.curve_steps[-1] <= 100
    plain = tms.train(features=8, hidden=3, density=[1, 0.1], steps=100, batch=64)
    assert np.array_equal(run.W, plain.W)  # constant lr: the first 100 steps of any longer run
    full = tms.train(features=8, hidden=3, density=[1, 0.1], steps=300, batch=64, callback=lambda s, l: None,
                     callback_every=64)
    assert np.array_equal(full.W, tms.train(features=8, hidden=3, density=[1, 0.1], steps=300, batch=64).W)


def test_tables(relu_run):
    pd = pytest.importorskip("pandas")
    df = relu_run.to_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == relu_run.K
    assert {"density", "restart", "loss", "represented", "one_sparse_loss"} <= set(df.columns)
    long = relu_run.features_dataframe()
    assert len(long) == relu_run.K * relu_run.n
    row = long[(long.instance == 1) & (long.feature == 2)].iloc[0]
    assert np.isclose(row.norm, relu_run.norms[1, 2]) and np.isclose(row.bias, relu_run.b[1, 2])
    assert np.isclose(row.importance, relu_run.importance[1, 2]) and row.density == relu_run.density[1]


@pytest.mark.parametrize("name, fragment", [
    ("sparsity", "density = 1 - S"), ("feature_probability", "density"), ("n_features", "features"),
    ("n_hidden", "hidden"), ("frobnicate", "allowed: "),
])
def test_unknown_settings_get_a_hint(name, fragment):
    with pytest.raises(TypeError, match=f"'{name}'.*{fragment}".replace("(", r"\(").replace(")", r"\)")):
        tms.train(**{name: 0.1})


def test_save_refuses_a_finished_run_and_snapshots_belong_to_their_run(tmp_path):
    with_snaps = tms.train(features=4, hidden=2, density=1, steps=20, batch=16, snapshots=3)
    with_snaps.save(tmp_path / "r")
    assert (tmp_path / "r" / "snapshots.npz").exists()
    assert tms.load(tmp_path / "r").snapshot_W.shape == with_snaps.snapshot_W.shape
    plain = tms.train(features=4, hidden=2, density=1, steps=20, batch=16)
    with pytest.raises(FileExistsError, match="already holds a finished run"):
        plain.save(tmp_path / "r")
    plain.save(tmp_path / "r", overwrite=True)
    back = tms.load(tmp_path / "r")
    assert back.snapshot_W is None and not (tmp_path / "r" / "snapshots.npz").exists()


def test_load_a_parent_folder_names_its_runs(relu_run, tmp_path):
    relu_run.save(tmp_path / "a")
    relu_run.save(tmp_path / "b")
    with pytest.raises(ValueError, match="holds the run folders a, b"):
        tms.load(tmp_path)


def test_progress_true_uses_tqdm_when_installed(capsys):
    pytest.importorskip("tqdm")
    tms.train(features=4, hidden=2, density=1, steps=50, batch=16, progress=True)
    assert "50/50" in capsys.readouterr().err


def test_a_selection_cannot_be_saved_as_a_run(relu_run, tmp_path):
    with pytest.raises(ValueError, match="not the 2 of the configuration"):
        relu_run.select([0]).save(tmp_path / "part")
    assert not (tmp_path / "part").exists()


def test_relu_hidden_model_round_trips(tmp_path):
    run = tms.train(model="relu-hidden", features=6, hidden=3, density=[1, 0.2], steps=60, batch=32)
    assert run.model == "relu-hidden" and run.loss_decomposition is None
    assert np.all(np.isfinite(run.loss)) and run.evaluate(samples=2000).shape == (2,)
    run.save(tmp_path / "rh")
    back = tms.load(tmp_path / "rh")
    assert np.array_equal(back.W, run.W) and back.loss_decomposition is None


def test_l1_penalty_is_a_setting_and_part_of_the_loss():
    plain = tms.train(features=20, hidden=5, density=0.03, steps=1500, batch=512, seed=4)
    penalised = tms.train(features=20, hidden=5, density=0.03, steps=1500, batch=512, seed=4, l1=0.01)
    assert penalised.config["l1"] == 0.01 and plain.config["l1"] == 0
    assert penalised.represented[0] < plain.represented[0]
    with pytest.raises(ValueError, match="l1"):
        tms.train(features=4, hidden=2, density=1, steps=5, l1=-1)


def test_signed_values_are_a_setting():
    run = tms.train(features=6, hidden=3, density=0.3, steps=100, batch=64, values="signed")
    assert run.config["values"] == "signed" and run.loss_decomposition is None
    with pytest.raises(ValueError, match="values: unknown values 'gaussian'"):
        tms.train(features=6, hidden=3, density=0.3, steps=10, values="gaussian")


def test_abs_model_through_the_table_of_tensors(tmp_path):
    # The untied abs model (E19-E21): its own tensors, signed values by default, every front door through them.
    assert tms.model_tensors("abs", 3, 6, hidden_bias=True) == [("W_in", (3, 6)), ("W_out", (3, 6)), ("b", (3,)),
                                                                ("b_hidden", (6,))]
    run = tms.train(model="abs", features=3, hidden=6, density=[1, 0.1], restarts=2, steps=300, batch=64,
                    snapshots=[0, 300])
    assert run.config["values"] == "signed" and list(run.weights) == ["W_in", "W_out", "b"]
    assert run.W_in.shape == (4, 3, 6) and run.W_out.shape == (4, 3, 6) and run.b.shape == (4, 3)
    assert np.array_equal(run.embedding, run.W_in) and run.snapshot_W_out.shape == (2, 4, 3, 6)
    assert np.array_equal(run.snapshot_W_in[-1], run.W_in)
    with pytest.raises(AttributeError, match="no tensor 'W'"):
        run.W
    back = tms.load(run.save(tmp_path / "abs"))
    for name in run.weights:
        assert np.array_equal(back.weights[name], run.weights[name])
        assert np.array_equal(back.snapshot_weights[name], run.snapshot_weights[name])
    assert np.array_equal(back.norms, run.norms)
    sel = run.select([3])
    assert sel.W_out.shape == (1, 3, 6) and np.array_equal(sel.W_out[0], run.W_out[3])
    assert np.array_equal(sel.evaluate(samples=5000), run.evaluate(samples=5000)[[3]])
    longer = tms.train(init_from=run, steps=10)
    assert longer.config["model"] == "abs" and longer.first_step == 300
    with pytest.raises(ValueError, match="tensors"):
        tms.train(init_from=run, steps=10, hidden_bias=True)
    # Setting a tensor replaces it in the weights that evaluate and save read.
    zero = run.select([0])
    zero.W_out = np.zeros_like(zero.W_out)
    assert "W_out" not in zero.__dict__ and not zero.W_out.any()
    with pytest.raises(ValueError, match="hidden_bias"):
        tms.train(model="relu", hidden_bias=True, steps=5)


def test_hidden_bias_goes_positive_and_keeps_the_model_linear():
    # The paper (E18): given a hidden bias, the ReLU hidden-layer model sets it positive, so its neurons
    # never switch off and the model is the linear-hidden one.
    run = tms.train(model="relu-hidden", hidden_bias=True, features=6, hidden=3, density=[0.3], steps=3000,
                    batch=256, lr=3e-3)
    assert run.b_hidden.shape == (1, 3) and np.all(run.b_hidden > 0)
