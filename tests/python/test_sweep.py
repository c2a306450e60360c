"""tms sweep: a grid's shards trained one after another on this machine or on a real Dask cluster (a scheduler
and two workers on loopback, started as `dask scheduler` and `dask worker` processes), merged into the grid's own
run bit for bit; a worker killed mid-sweep costs only its shard; a driver killed mid-sweep (local and on Dask),
then the same command again, trains only the shards not yet finished; two live sweeps into one folder are
refused, and a killed sweep's lock does not block the rerun; a sweep over TLS (a throwaway CA from openssl) works
with the certificates and is refused without them."""
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import tms

SETTINGS = dict(model="relu", features=6, hidden=2, density=[1.0, 0.3, 0.1, 0.03], restarts=3, steps=200,
                batch=64)
# Slow enough shards (about a second each) that a kill lands while some are still training.
SLOW = dict(model="relu", features=40, hidden=8, density=[1.0, 0.3, 0.1, 0.03], restarts=3, steps=2000, batch=256,
            threads=1)


def same_bits(a, b):
    assert a.K == b.K
    for name in a.weights:
        assert np.array_equal(a.weights[name], b.weights[name]), name
    assert np.array_equal(a.loss, b.loss) and np.array_equal(a.loss_curve, b.loss_curve)


def cli_args(settings):
    out = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        out += [flag, ",".join(str(v) for v in value) if isinstance(value, list) else str(value)]
    return out


def test_local_sweep_is_the_whole_run_and_resumes(tmp_path):
    whole = tms.train(**SETTINGS)
    out = tmp_path / "grid"
    run = tms.sweep(out, shards=5, progress=False, **SETTINGS)
    same_bits(run, whole)
    assert sorted(os.listdir(out / "shards")) == [f"{i}-of-5" for i in range(5)]
    # A lost shard (as after a killed sweep): only it is trained again.
    stamps = {i: os.stat(out / "shards" / f"{i}-of-5" / "metrics.json").st_mtime_ns for i in range(5)}
    import shutil
    shutil.rmtree(out / "shards" / "2-of-5")
    os.remove(out / "metrics.json")
    again = tms.sweep(out, shards=5, progress=False, **SETTINGS)
    same_bits(again, whole)
    for i in (0, 1, 3, 4):
        assert os.stat(out / "shards" / f"{i}-of-5" / "metrics.json").st_mtime_ns == stamps[i]
    # Finished: the same call returns the run; other settings are refused unless overwrite.
    same_bits(tms.sweep(out, shards=5, progress=False, **SETTINGS), whole)
    with pytest.raises(ValueError, match="holds a sweep of other settings"):
        tms.sweep(out, shards=4, progress=False, **SETTINGS)
    other = tms.sweep(out, shards=4, progress=False, overwrite=True, **{**SETTINGS, "seed": 3})
    assert other.config["seed"] == 3 and sorted(os.listdir(out / "shards")) == [f"{i}-of-4" for i in range(4)]
    # A finished run of other settings in the folder (written there by hand) is never replaced unasked.
    tms.train(**{**SETTINGS, "seed": 5}).save(out, overwrite=True)
    with pytest.raises(ValueError, match="holds a finished run of other settings"):
        tms.sweep(out, shards=4, progress=False, **{**SETTINGS, "seed": 3})


def test_more_shards_than_models(tmp_path):
    settings = {**SETTINGS, "density": [0.3], "restarts": 2}
    same_bits(tms.sweep(tmp_path / "g", shards=5, progress=False, **settings), tms.train(**settings))


def test_a_live_sweep_holds_the_folder(tmp_path):
    out = tmp_path / "locked"
    os.makedirs(out)
    with open(out / ".sweep.lock", "a+") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match="being written by another tms sweep"):
            tms.sweep(out, shards=2, progress=False, **SETTINGS)
    same_bits(tms.sweep(out, shards=2, progress=False, **SETTINGS), tms.train(**SETTINGS))  # released


def test_bad_sweeps_are_refused(tmp_path):
    for kwargs, message in ((dict(shards=0), "shards: 0 is out of range"),
                            (dict(shards=2, shard="0/2"), "a sweep makes its own shards"),
                            (dict(shards=2, features=0), "features"),
                            (dict(shards=2, scheduler="tcp://127.0.0.1:9"), "scheduler: cannot reach")):
        with pytest.raises(ValueError, match=message):
            tms.sweep(tmp_path / "bad", progress=False, **{**SETTINGS, **kwargs})
    r = subprocess.run([sys.executable, "-m", "tms", "sweep", *cli_args(SETTINGS), "--out", str(tmp_path / "c")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr == "tms: error: shards: required (tms sweep --help)\n"
    r = subprocess.run([sys.executable, "-m", "tms", "sweep", "--features", "0", "--shards", "2", "--out",
                        str(tmp_path / "c")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("tms: error: features") and r.stderr.count("\n") == 1


@pytest.mark.parametrize("where", ["local", "dask"])
def test_a_killed_driver_resumes_with_the_same_bits(tmp_path, where, request):
    out = tmp_path / "grid"
    scheduler = request.getfixturevalue("cluster")[0] if where == "dask" else "local"
    cmd = [sys.executable, "-m", "tms", "sweep", *cli_args(SLOW), "--shards", "6", "--out", str(out), "--quiet",
           "--scheduler", scheduler]
    driver = subprocess.Popen(cmd)
    deadline = time.monotonic() + 120
    done = lambda: [d for d in (os.listdir(out / "shards") if (out / "shards").exists() else [])
                    if (out / "shards" / d / "metrics.json").exists()]
    while len(done()) < 2 and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    finished = done()
    assert 2 <= len(finished) < 6, finished
    stamps = {d: os.stat(out / "shards" / d / "metrics.json").st_mtime_ns for d in finished}
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for d, stamp in stamps.items():  # the finished shards were not trained again
        assert os.stat(out / "shards" / d / "metrics.json").st_mtime_ns == stamp
    same_bits(tms.load(out), tms.train(**SLOW))


@pytest.fixture
def cluster(tmp_path):
    pytest.importorskip("distributed")
    scheduler_file = tmp_path / "scheduler.json"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    procs = [subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(scheduler_file)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    deadline = time.monotonic() + 60
    while not scheduler_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    address = json.loads(scheduler_file.read_text())["address"]
    workers = [subprocess.Popen(["dask", "worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                                 "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for _ in range(2)]
    procs += workers
    from distributed import Client

    client = Client(address, timeout="30s")
    client.wait_for_workers(2, timeout=60)
    try:
        yield address, client, workers
    finally:
        client.close()
        for p in procs:
            p.kill()
            p.wait()


def test_a_dask_sweep_survives_a_killed_worker(tmp_path, cluster):
    address, client, workers = cluster
    assert address.startswith("tcp://127.0.0.1:")  # loopback only
    out = tmp_path / "grid"
    import threading

    result = {}
    thread = threading.Thread(target=lambda: result.update(run=tms.sweep(out, shards=6, client=client,
                                                                         progress=False, **SLOW)))
    thread.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
            (out / "shards" / d / "metrics.json").exists()
            for d in (os.listdir(out / "shards") if (out / "shards").exists() else [])):
        time.sleep(0.05)
    workers[0].kill()  # mid-sweep: its shard is given to the other worker
    thread.join(timeout=300)
    assert "run" in result, "the sweep did not finish after a worker was killed"
    same_bits(result["run"], tms.train(**SLOW))
    # The same sweep by address, from the command line, finds every shard done and merges them again.
    r = subprocess.run([sys.executable, "-m", "tms", "sweep", *cli_args(SLOW), "--shards", "6", "--out",
                        str(tmp_path / "cli"), "--scheduler", address, "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    same_bits(tms.load(tmp_path / "cli"), result["run"])


def _certificates(folder):
    """A throwaway CA and one certificate it signs for 127.0.0.1 (openssl), for every party of the cluster."""
    run = lambda *args: subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=tms-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=127.0.0.1")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "req.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
        "cert.pem", "-days", "1", "-extfile", "san.ext")
    return [str(folder / name) for name in ("ca.pem", "cert.pem", "key.pem")]


def test_a_sweep_over_tls(tmp_path):
    pytest.importorskip("distributed")
    if subprocess.run(["openssl", "version"], capture_output=True).returncode != 0:
        pytest.skip("openssl is not installed")
    ca, cert, key = _certificates(tmp_path)
    tls = ["--tls-ca-file", ca, "--tls-cert", cert, "--tls-key", key]
    scheduler_file = tmp_path / "scheduler.json"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen(["dask", "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(scheduler_file), *tls], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tls://127.0.0.1:")
        procs.append(subprocess.Popen(["dask", "worker", address, "--nthreads", "1", "--no-nanny", "--host",
                                       "127.0.0.1", "--no-dashboard", *tls], **quiet))
        r = subprocess.run([sys.executable, "-m", "tms", "sweep", *cli_args(SETTINGS), "--shards", "3", "--out",
                            str(tmp_path / "grid"), "--scheduler", address, "--quiet", *tls],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        same_bits(tms.load(tmp_path / "grid"), tms.train(**SETTINGS))
        # Without the client certificate the scheduler cannot be reached.
        r = subprocess.run([sys.executable, "-m", "tms", "sweep", *cli_args(SETTINGS), "--shards", "3", "--out",
                            str(tmp_path / "plain"), "--scheduler", address, "--quiet"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 2 and r.stderr.startswith("tms: error: scheduler") and r.stderr.count("\n") == 1, \
            r.stderr
    finally:
        for p in procs:
            p.kill()
            p.wait()
