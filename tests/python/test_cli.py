"""The `tms` command installed with the package: the same engine as tms.train (bit for bit), the C++ command
line's messages and exit statuses, and `reproduce` listed in the help."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tms

TMS = [sys.executable, "-m", "tms"]


def run(*args, **kwargs):
    return subprocess.run([*TMS, *args], capture_output=True, text=True, timeout=300, **kwargs)


@pytest.mark.parametrize("model", ["linear", "relu"])
def test_cli_and_python_are_bit_identical(model, tmp_path):
    out = tmp_path / model
    r = run("train", "--model", model, "--features", "12", "--hidden", "4", "--importance", "0.8", "--density",
            "1,0.1,0.01", "--restarts", "2", "--steps", "300", "--batch", "128", "--seed", "7", "--quiet",
            "--out", str(out))
    assert r.returncode == 0, r.stderr
    py = tms.train(model=model, features=12, hidden=4, importance=0.8, density=[1, 0.1, 0.01], restarts=2,
                   steps=300, batch=128, seed=7)
    with np.load(out / "weights.npz") as z:
        assert z["W"].dtype == np.float32 and np.array_equal(z["W"], py.W)
        assert np.array_equal(z["b"], py.b)
        assert np.array_equal(z["density"], py.density) and np.array_equal(z["restart"], py.restart)
    cli = tms.load(out)
    assert np.array_equal(cli.W, py.W) and np.array_equal(cli.norms, py.norms)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"] == py.config
    # instances.npz holds the loss exactly.
    assert np.array_equal(np.load(out / "instances.npz")["loss"], py.loss)


def test_analyze_reads_a_run_saved_from_python(relu_run, tmp_path):
    relu_run.save(tmp_path / "run")
    r = run("analyze", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    assert "relu model, n=8 m=3" in r.stdout


def test_help_lists_reproduce_and_version():
    r = run("--help")
    assert r.returncode == 0
    for word in ("train", "analyze", "reproduce"):
        assert word in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == tms.__version__
    r = run("reproduce", "--help")
    assert r.returncode == 0 and "basic-large" in r.stdout


def test_usage_errors_exit_2_with_one_line(tmp_path):
    r = run("train", "--features", "0", "--out", str(tmp_path / "x"))
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tms: error: features")
    assert not (tmp_path / "x" / "metrics.json").exists()
    r = run("analyze", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "is not a folder" in r.stderr
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown subcommand 'frobnicate'; allowed: train, analyze, merge, reproduce, sweep" in r.stderr
    r = run()
    assert r.returncode == 2
    r = run("reproduce", "everything")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = run("reproduce", "basic", "--steps", "0", "--out", str(tmp_path / "r"))
    assert r.returncode == 2 and "steps: 0 is out of range" in r.stderr


def test_console_script_is_installed():
    import shutil

    path = shutil.which("tms")
    if path is None:
        pytest.skip("the tms script is not on PATH (the package is not installed with pip)")
    r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == tms.__version__


def test_ctrl_c_in_tms_train_exits_130_without_a_run(tmp_path):
    import signal
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen([*TMS, "train", "--steps", "100000000", "--density", "1", "--restarts", "4", "--quiet", "--out",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline:  # the folder appears just before training
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted" in err
        assert not (out / "metrics.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
