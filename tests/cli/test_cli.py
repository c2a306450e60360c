"""End-to-end checks of the tms program: a good run writes a loadable, complete run folder; every bad input
gets one line on stderr naming the field, exit status 2 (usage) or 1 (run-time), and no complete run folder.

Usage: python tests/cli/test_cli.py path/to/tms"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

TMS = sys.argv[1]
failures = []
passed = 0


def run(*args):
    return subprocess.run([TMS, *args], capture_output=True, text=True, timeout=300)


def check(name, condition, detail=""):
    global passed
    if condition:
        passed += 1
    else:
        failures.append(f"{name}: {detail}")
        print(f"FAIL {name}: {detail}", file=sys.stderr)


def expect_error(name, args, code, fragment, out_dir=None):
    r = run(*args)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    check(name + " exit", r.returncode == code, f"exit {r.returncode}, stderr {r.stderr!r}")
    check(name + " one line", len(lines) == 1 and lines[0].startswith("tms: error: "), repr(r.stderr))
    check(name + " names the field", fragment in r.stderr, f"{fragment!r} not in {r.stderr!r}")
    check(name + " no traceback", "terminate called" not in r.stderr and "Traceback" not in r.stderr, r.stderr)
    if out_dir:
        check(name + " no complete run", not os.path.exists(os.path.join(out_dir, "metrics.json")), out_dir)


with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "run")
    # A good run, from a TOML file with a flag overriding it.
    cfg = os.path.join(tmp, "c.toml")
    with open(cfg, "w") as f:
        f.write('model = "relu"\nfeatures = 8\nhidden = 3\ndensity = [1, 0.1]\nsteps = 999\nbatch = 64\n'
                'importance = 0.8\nrestarts = 2\n')
    r = run("train", "--config", cfg, "--steps", "300", "--threads", "2", "--quiet", "--out", out)
    check("train exit", r.returncode == 0, r.stderr)
    check("quiet", r.stdout == "" and r.stderr == "", repr(r.stdout + r.stderr))
    w = np.load(os.path.join(out, "weights.npz"))
    check("W shape", w["W"].shape == (4, 8, 3) and w["W"].dtype == np.float32, str(w["W"].shape))
    check("b shape", w["b"].shape == (4, 8) and w["b"].dtype == np.float32, str(w["b"].shape))
    check("density", list(w["density"]) == [1, 1, 0.1, 0.1], str(w["density"]))
    check("importance", np.allclose(w["importance"][0], 0.8 ** np.arange(8)), str(w["importance"][0]))
    m = json.load(open(os.path.join(out, "metrics.json")))
    check("flag overrides file", m["config"]["steps"] == 300, str(m["config"]["steps"]))
    check("file overrides preset", m["config"]["features"] == 8 and m["config"]["restarts"] == 2, "")
    cols = np.load(os.path.join(out, "instances.npz"))
    for key in ["density", "loss", "norms", "bias", "superposition", "dimensionality", "frobenius_sq",
                "represented", "loss_curve", "dims_per_feature"]:
        check("column " + key, key in cols.files and cols[key].shape[0] == 4 and key in m["instance_columns"], key)
    check("curve >= 100 points", cols["loss_curve"].shape[1] >= 100 and len(m["curve_steps"]) == cols["loss_curve"].shape[1],
          str(cols["loss_curve"].shape))
    norms = np.linalg.norm(w["W"][0].astype(np.float64), axis=1)
    check("norms agree with weights", np.allclose(norms, cols["norms"][0], rtol=1e-12, atol=1e-12), "")
    check("summary", m["summary"]["loss"]["min"] <= m["summary"]["loss"]["max"], str(m.get("summary")))
    check("no temporaries", sorted(os.listdir(out)) == ["instances.npz", "metrics.json", "weights.npz"],
          str(os.listdir(out)))

    # Same seed, one thread: the same bits.
    out1 = os.path.join(tmp, "run1")
    run("train", "--config", cfg, "--steps", "300", "--threads", "1", "--quiet", "--out", out1)
    check("threads do not change bits", np.array_equal(np.load(os.path.join(out1, "weights.npz"))["W"], w["W"]), "")

    r = run("analyze", out)
    check("analyze", r.returncode == 0 and "density" in r.stdout and len(r.stdout.splitlines()) == 6, r.stdout)
    r = run("analyze", out, "--json")
    check("analyze --json", r.returncode == 0 and json.loads(r.stdout)["config"]["features"] == 8, r.stderr)
    r = run("analyze", out, "--features")
    check("analyze --features", r.returncode == 0 and "D_i" in r.stdout, r.stdout)

    # The linear model reports its loss decomposition.
    lin = os.path.join(tmp, "lin")
    r = run("train", "--model", "linear", "-n", "6", "-m", "2", "--density", "0.5", "--steps", "50", "--quiet",
            "--out", lin)
    d = [c for c in np.load(os.path.join(lin, "instances.npz")).files if c.startswith("loss_decomposition.")]
    check("linear decomposition", sorted(d) == ["loss_decomposition." + t for t in (
        "bias", "expected_loss", "feature_benefit", "interference")], str(d))

    # The ReLU hidden-layer model (E18) trains through the reference path and reads back; it has no loss split.
    rh = os.path.join(tmp, "rh")
    r = run("train", "--model", "relu-hidden", "-n", "6", "-m", "3", "--density", "1,0.2", "--steps", "50",
            "--batch", "32", "--quiet", "--out", rh)
    check("relu-hidden run", r.returncode == 0, r.stderr)
    m_rh = json.load(open(os.path.join(rh, "metrics.json")))
    check("relu-hidden recorded", m_rh["config"]["model"] == "relu-hidden", str(m_rh["config"]["model"]))
    check("relu-hidden has no split", not any(c.startswith("loss_decomposition") for c in np.load(
        os.path.join(rh, "instances.npz")).files), "")
    check("relu-hidden analyze", run("analyze", rh).returncode == 0, "")

    # Per-feature densities are recorded in the resolved configuration.
    rel = os.path.join(tmp, "rel")
    r = run("train", "-n", "3", "-m", "2", "--density", "0.1", "--relative-density", "1,2,0.5", "--steps", "20",
            "--quiet", "--out", rel)
    check("relative density run", r.returncode == 0, r.stderr)
    cfg_rel = json.load(open(os.path.join(rel, "metrics.json")))["config"]
    check("relative density recorded", cfg_rel["relative_density"] == [1, 2, 0.5], str(cfg_rel.get("relative_density")))

    bad = os.path.join(tmp, "bad")
    cases = [
        ("density > 1", ["--density", "0.5,1.5"], 2, "density"),
        ("density 0", ["--density", "0"], 2, "density"),
        ("density text", ["--density", "0.5,abc"], 2, "density"),
        ("features 0", ["--features", "0"], 2, "features"),
        ("hidden 0", ["--hidden", "0"], 2, "hidden"),
        ("batch 0", ["--batch", "0"], 2, "batch"),
        ("steps 0", ["--steps", "0"], 2, "steps"),
        ("steps text", ["--steps", "ten"], 2, "steps"),
        ("steps fraction", ["--steps", "10.5"], 2, "steps"),
        ("lr nan", ["--lr", "nan"], 2, "lr"),
        ("lr inf", ["--lr", "inf"], 2, "lr"),
        ("lr negative", ["--lr", "-1"], 2, "lr"),
        ("importance inf", ["--importance", "inf"], 2, "importance"),
        ("importance wrong length", ["--importance", "1,0.5"], 2, "importance"),
        ("unknown model", ["--model", "mlp"], 2, "model"),
        ("unknown preset", ["--preset", "fast"], 2, "preset"),
        ("unknown schedule", ["--schedule", "step"], 2, "schedule"),
        ("unknown flag", ["--densty", "0.1"], 2, "densty"),
        ("negative seed", ["--seed", "-1"], 2, "seed"),
        ("relative density length", ["--relative-density", "1,2"], 2, "relative_density"),
        ("relative density zero", ["-n", "2", "--relative-density", "1,0"], 2, "relative_density"),
        ("divergence", ["--lr", "1e30", "--steps", "50", "--batch", "16"], 1, "loss became"),
    ]
    for name, args, code, fragment in cases:
        expect_error(name, ["train", "--quiet", "--out", bad, *args], code, fragment, bad)
    check("failed run leaves no folder", not os.path.exists(bad), str(os.listdir(bad)) if os.path.exists(bad) else "")

    # A finished run is never lost: refused without --overwrite; with it, a failed retrain leaves it as it was.
    before = open(os.path.join(out, "metrics.json")).read()
    weights_before = open(os.path.join(out, "weights.npz"), "rb").read()
    expect_error("finished out refused", ["train", "--quiet", "--out", out, "--steps", "20"], 2,
                 "already holds a finished run")
    r = run("train", "--quiet", "--out", out, "--lr", "1e30", "--steps", "20", "--overwrite")
    check("failed overwrite exit", r.returncode == 1 and "loss became" in r.stderr, r.stderr)
    check("failed overwrite keeps the old run", open(os.path.join(out, "metrics.json")).read() == before and
          open(os.path.join(out, "weights.npz"), "rb").read() == weights_before, "")
    check("old run still reads", run("analyze", out).returncode == 0, "")
    check("no temporaries after a failure", sorted(os.listdir(out)) == ["instances.npz", "metrics.json", "weights.npz"],
          str(os.listdir(out)))

    # Repeated instance values, overflowing importances, impossible sizes: refused before any folder exists.
    more = [
        ("repeated density", ["--density", "0.1,0.1,0.1"], 2, "restarts"),
        ("importance overflow", ["-n", "200", "--importance", "2"], 2, "importance: base 2 gives I_128"),
        ("impossible sizes", ["-n", "100000", "-m", "100000", "--density", "1"], 2, "instances, features, hidden"),
        ("too many instances", ["--density", "0.5", "--restarts", "1000000", "-n", "400", "-m", "30"], 2,
         "instances, features, hidden"),
        ("non-finite weights", ["-n", "5", "-m", "2", "--density", "1", "--steps", "1", "--lr", "1e38"], 1,
         "non-finite"),
    ]
    for name, args, code, fragment in more:
        expect_error(name, ["train", "--quiet", "--out", bad, *args], code, fragment, bad)
        check(name + " leaves no folder", not os.path.exists(bad), "")
    r = run("train", "--quiet", "--out", bad, "-n", "200", "-m", "2", "--density", "1", "--importance", "0.5",
            "--steps", "2", "--batch", "8")
    check("underflow warns", r.returncode == 0 and "tms: warning: importance: base 0.5 underflows" in r.stderr,
          r.stderr)
    shutil.rmtree(bad, ignore_errors=True)

    # --threads beyond the instances records the threads that trained.
    th = os.path.join(tmp, "threads")
    run("train", "--quiet", "--out", th, "-n", "4", "-m", "2", "--density", "1", "--steps", "5", "--threads", "1024")
    check("threads recorded", json.load(open(os.path.join(th, "metrics.json")))["run"]["threads"] == 1, "")

    # Leftovers of a killed writer are removed by the next run into the folder.
    open(os.path.join(th, "weights.npz.tmp.4242.0"), "w").write("partial")
    run("train", "--quiet", "--out", th, "-n", "4", "-m", "2", "--density", "1", "--steps", "5", "--overwrite")
    check("stale temporaries removed", sorted(os.listdir(th)) == ["instances.npz", "metrics.json", "weights.npz"],
          str(os.listdir(th)))

    # Two runs into one folder at once: the second is refused while the first holds the folder.
    busy = os.path.join(tmp, "busy")
    first = subprocess.Popen([TMS, "train", "--quiet", "--out", busy, "-n", "100", "-m", "20", "--density", "1",
                              "--steps", "100000"], stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if os.path.isdir(busy):
            break
        time.sleep(0.05)
    time.sleep(0.2)
    r = run("train", "--quiet", "--out", busy, "-n", "4", "-m", "2", "--density", "1", "--steps", "5", "--overwrite")
    first.kill()
    first.wait()
    check("concurrent run refused", r.returncode == 2 and "being written by another tms run" in r.stderr, r.stderr)
    check("killed run leaves no finished run", not os.path.exists(os.path.join(busy, "metrics.json")), "")

    # TOML wiring: every key with a distinct, non-default value lands in the resolved configuration.
    wiring = os.path.join(tmp, "wiring.toml")
    with open(wiring, "w") as f:
        f.write('preset = "arena"\nmodel = "relu-hidden"\nhidden_bias = true\nfeatures = 3\nhidden = 2\n'
                'density = [0.7, 0.35]\n'
                'importances = [0.6, [1, 0.25, 0.125]]\nrelative_density = [1.5, 1, 0.5]\nrestarts = 2\n'
                'steps = 7\nbatch = 9\nlr = 0.0021\nschedule = "cosine"\nbeta1 = 0.81\nbeta2 = 0.991\n'
                'eps = 3e-7\nweight_decay = 0.013\nl1 = 0.0007\nvalues = "signed"\ninit = "independent"\nseed = 17\nthreads = 1\n')
    wired = os.path.join(tmp, "wired")
    r = run("train", "--config", wiring, "--quiet", "--out", wired)
    check("toml wiring run", r.returncode == 0, r.stderr)
    got = json.load(open(os.path.join(wired, "metrics.json")))["config"]
    want = dict(preset="arena", model="relu-hidden", hidden_bias=True, features=3, hidden=2, density=[0.7, 0.35],
                importance=[0.6, [1, 0.25, 0.125]], relative_density=[1.5, 1, 0.5], restarts=2, steps=7, batch=9,
                lr=0.0021, schedule="cosine", beta1=0.81, beta2=0.991, eps=3e-7, weight_decay=0.013, l1=0.0007,
                values="signed", init="independent", seed=17, threads=1, optimizer="adamw")
    check("toml wiring", got == want, f"{got} != {want}")
    # ... and every flag, overriding the file.
    wired2 = os.path.join(tmp, "wired2")
    r = run("train", "--config", wiring, "--quiet", "--out", wired2, "--preset", "reference", "--model", "relu",
            "-n", "4", "-m", "3", "--density", "0.9", "--importance", "0.55", "--relative-density", "1,1,2,1",
            "--restarts", "3", "--steps", "6", "--batch", "5", "--lr", "0.0031", "--schedule", "linear",
            "--beta1", "0.71", "--beta2", "0.981", "--eps", "4e-7", "--weight-decay", "0", "--l1", "0.0009",
            "--values", "uniform", "--no-hidden-bias", "--init", "arena",
            "--seed", "19", "--threads", "2")
    check("flag wiring run", r.returncode == 0, r.stderr)
    got = json.load(open(os.path.join(wired2, "metrics.json")))["config"]
    want = dict(preset="reference", model="relu", features=4, hidden=3, density=[0.9], importance=[0.55],
                relative_density=[1, 1, 2, 1], restarts=3, steps=6, batch=5, lr=0.0031, schedule="linear",
                beta1=0.71, beta2=0.981, eps=4e-7, weight_decay=0, l1=0.0009, values="uniform", init="arena", seed=19, threads=2,
                optimizer="adam")
    check("flag wiring", got == want, f"{got} != {want}")

    # abs: its own tensors, signed values unless named; a hidden bias only where there is a hidden ReLU.
    absdir = os.path.join(tmp, "abs")
    r = run("train", "--model", "abs", "-n", "3", "-m", "4", "--density", "0.5", "--steps", "20", "--batch", "16",
            "--hidden-bias", "--quiet", "--out", absdir)
    check("abs run", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        import numpy as np
        z = np.load(os.path.join(absdir, "weights.npz"))
        check("abs tensors", sorted(z.files) == ["W_in", "W_out", "b", "b_hidden", "density", "importance", "restart"]
              and z["W_in"].shape == (1, 3, 4) and z["b_hidden"].shape == (1, 4), str(z.files))
        cfg = json.load(open(os.path.join(absdir, "metrics.json")))["config"]
        check("abs values default to signed", cfg["values"] == "signed" and cfg["hidden_bias"] is True, str(cfg))
        r = run("analyze", absdir)
        check("abs analyze", r.returncode == 0 and "abs model" in r.stdout, r.stderr)
    r = run("train", "--model", "abs", "-n", "3", "-m", "4", "--density", "0.5", "--steps", "5", "--values", "uniform",
            "--quiet", "--out", os.path.join(tmp, "abs_uniform"))
    check("abs with uniform values", r.returncode == 0 and json.load(open(os.path.join(
        tmp, "abs_uniform", "metrics.json")))["config"]["values"] == "uniform", r.stderr)
    expect_error("hidden bias on linear", ["train", "--model", "linear", "--hidden-bias", "--out", bad], 2,
                 "hidden_bias: the model 'linear' has no hidden activation")

    # Set data: correlated or anticorrelated sets, their fields in metrics.json, the rules of the set options.
    setdir = os.path.join(tmp, "sets")
    r = run("train", "-n", "6", "-m", "2", "--data", "anticorrelated", "--set-size", "3", "--density-of", "feature",
            "--density", "0.3,0.1", "--steps", "50", "--batch", "32", "--quiet", "--out", setdir)
    check("set run", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        doc = json.load(open(os.path.join(setdir, "metrics.json")))
        cfg = doc["config"]
        check("set config", (cfg["data"], cfg["set_size"], cfg["density_of"]) == ("anticorrelated", 3, "feature"),
              str(cfg))
        cols = np.load(os.path.join(setdir, "instances.npz"))
        check("set marginals", abs(cols["feature_density"][0] - 0.3) < 1e-12 and abs(cols["set_activation"][0] - 0.9) < 1e-12,
              str(cols.files))
        check("no loss split for sets", not any(c.startswith("loss_decomposition") for c in cols.files), str(cols.files))
        r = run("analyze", setdir)
        check("set analyze", r.returncode == 0, r.stderr)
    plain = json.load(open(os.path.join(out, "metrics.json")))["config"]
    check("independent runs keep their fields", "data" not in plain and "set_size" not in plain, str(plain))
    expect_error("set size with independent data", ["train", "--set-size", "3", "--out", bad], 2,
                 "set_size: applies to sets of features only")
    expect_error("density-of with independent data", ["train", "--density-of", "feature", "--out", bad], 2,
                 "density_of: applies to sets")
    expect_error("set size not a divisor", ["train", "-n", "7", "--data", "correlated", "--set-size", "2", "--out",
                                            bad], 2, "set_size: 2 does not divide features = 7")
    expect_error("unknown data", ["train", "--data", "clustered", "--out", bad], 2,
                 "data: unknown data 'clustered'; allowed: independent, correlated, anticorrelated")
    expect_error("feature density too high", ["train", "-n", "4", "--data", "anticorrelated", "--density-of",
                                              "feature", "--density", "0.7", "--out", bad], 2, "density: 0.7")
    expect_error("relative densities with sets", ["train", "-n", "4", "--data", "correlated", "--relative-density",
                                                  "1,1,1,2", "--out", bad], 2, "relative_density: per-feature")
    cfgset = os.path.join(tmp, "sets.toml")
    with open(cfgset, "w") as f:
        f.write('features = 4\nhidden = 2\nsteps = 20\nbatch = 16\ndata = "correlated"\nset_size = 2\n')
    r = run("train", "--config", cfgset, "--quiet", "--out", os.path.join(tmp, "sets_toml"))
    check("set TOML", r.returncode == 0 and json.load(open(os.path.join(tmp, "sets_toml", "metrics.json")))[
        "config"]["data"] == "correlated", r.stderr)
    with open(cfgset, "w") as f:
        f.write('features = 4\nset_size = 2\n')
    expect_error("set size in TOML with independent data", ["train", "--config", cfgset, "--out", bad], 2,
                 "set_size: applies")

    small = os.path.join(tmp, "small_init")
    r = run("train", "-n", "4", "-m", "2", "--init-scale", "0.1", "--steps", "5", "--batch", "16", "--quiet", "--out",
            small)
    doc = json.load(open(os.path.join(small, "metrics.json"))) if r.returncode == 0 else {}
    ref = json.load(open(os.path.join(setdir, "metrics.json"))) if os.path.exists(setdir) else {}
    check("init scale", r.returncode == 0 and doc["config"]["init_scale"] == 0.1, r.stderr)
    advdir = os.path.join(tmp, "adv")
    r = run("train", "-n", "6", "-m", "2", "--density", "1,0.1", "--steps", "50", "--batch", "32",
            "--adversarial-samples", "2000", "--quiet", "--out", advdir)
    doc = json.load(open(os.path.join(advdir, "metrics.json"))) if r.returncode == 0 else {"config": {}}
    a = np.load(os.path.join(advdir, "instances.npz")) if r.returncode == 0 else {}
    check("adversarial columns", r.returncode == 0 and a["adversarial.attacked"][0] >= a["adversarial.clean"][0]
          and "adversarial.vulnerability" in a.files and doc["config"]["adversarial_samples"] == 2000, r.stderr)
    expect_error("adversarial on abs", ["train", "--model", "abs", "--adversarial-samples", "100", "--out", bad], 2,
                 "adversarial_samples: the attack is defined for")
    expect_error("init scale zero", ["train", "--init-scale", "0", "--out", bad], 2, "init_scale: 0 is not allowed")
    advtrain = os.path.join(tmp, "adv_train")
    r = run("train", "-n", "6", "-m", "2", "--density", "0.2", "--steps", "30", "--batch", "32",
            "--adversarial-training", "0.5", "--quiet", "--out", advtrain)
    doc = json.load(open(os.path.join(advtrain, "metrics.json"))) if r.returncode == 0 else {"config": {}}
    check("adversarial training", r.returncode == 0 and doc["config"].get("adversarial_training") == 0.5, r.stderr)
    cfgadv = os.path.join(tmp, "adv.toml")
    with open(cfgadv, "w") as f:
        f.write('features = 6\nhidden = 2\nsteps = 10\nbatch = 16\nadversarial_training = 0.25\n')
    r = run("train", "--config", cfgadv, "--quiet", "--out", os.path.join(tmp, "adv_toml"))
    check("adversarial training in TOML", r.returncode == 0 and json.load(open(os.path.join(
        tmp, "adv_toml", "metrics.json")))["config"]["adversarial_training"] == 0.25, r.stderr)
    for label, args, needle in (
            ("adversarial training negative", ["--adversarial-training", "-0.5"], "adversarial_training: -0.5 is not"),
            ("adversarial training not a number", ["--adversarial-training", "big"], "adversarial_training"),
            ("adversarial training nan", ["--adversarial-training", "nan"], "adversarial_training"),
            ("adversarial training on relu-hidden", ["--model", "relu-hidden", "--adversarial-training", "0.3"],
             "adversarial_training: the attack is defined for")):
        expect_error(label, ["train", *args, "--out", bad], 2, needle)

    # Shards of a grid, merged, are the grid's own run.
    grid = ["-n", "4", "-m", "2", "--density", "1,0.2", "--restarts", "3", "--steps", "40", "--batch", "32", "--quiet"]
    run("train", *grid, "--out", os.path.join(tmp, "grid"))
    for i in range(4):
        run("train", *grid, "--shard", f"{i}/4", "--out", os.path.join(tmp, f"shard{i}"))
    r = run("merge", os.path.join(tmp, "merged"), *[os.path.join(tmp, f"shard{i}") for i in (3, 1, 0, 2)])
    same = r.returncode == 0 and all(
        np.array_equal(np.load(os.path.join(tmp, "grid", f))[k], np.load(os.path.join(tmp, "merged", f))[k])
        for f in ("weights.npz", "instances.npz") for k in np.load(os.path.join(tmp, "grid", f)).files)
    check("merged shards are the whole run", same, r.stderr)
    expect_error("merge a missing shard", ["merge", os.path.join(tmp, "m2")] + [os.path.join(tmp, f"shard{i}")
                                                                              for i in range(3)], 2, "but 3 folders were given")
    check("failed merge leaves nothing", not os.path.exists(os.path.join(tmp, "m2")), "")
    expect_error("merge into a finished run", ["merge", os.path.join(tmp, "merged")] + [
        os.path.join(tmp, f"shard{i}") for i in range(4)], 2, "already holds a finished run")
    for label, value, needle in (("shard beyond", "4/4", "shard: 4/4 is not a shard"),
                                 ("shard not I/N", "2", "shard: '2' is not I/N"),
                                 ("shard negative", "-1/2", "shard: -1/2 is not a shard")):
        expect_error(label, ["train", "--shard", value, "--out", bad], 2, needle)

    expect_error("config is a folder", ["train", "--config", tmp, "--out", bad], 2, "config")
    expect_error("unknown subcommand", ["frobnicate"], 2, "unknown subcommand 'frobnicate'")

    # Readers validate what they read: a malformed metrics.json or a truncated weights file is exit 2.
    broken = os.path.join(tmp, "broken")
    shutil.copytree(out, broken)
    doc = json.load(open(os.path.join(out, "metrics.json")))
    del doc["instance_columns"]["superposition"]
    json.dump(doc, open(os.path.join(broken, "metrics.json"), "w"))
    expect_error("analyze columns not the configuration's", ["analyze", broken], 2, "instance_columns")
    shutil.copy(os.path.join(out, "metrics.json"), os.path.join(broken, "metrics.json"))
    cols = dict(np.load(os.path.join(out, "instances.npz")))
    cols["superposition"] = cols["superposition"][:, :3]
    np.savez(os.path.join(broken, "instances.npz"), **cols)
    expect_error("analyze a reshaped column", ["analyze", broken], 2, "instances.npz")
    shutil.copy(os.path.join(out, "instances.npz"), os.path.join(broken, "instances.npz"))
    os.remove(os.path.join(broken, "instances.npz"))
    expect_error("analyze without instances.npz", ["analyze", broken], 2, "no instances.npz")
    shutil.copy(os.path.join(out, "instances.npz"), os.path.join(broken, "instances.npz"))
    json.dump({"format_version": 3}, open(os.path.join(broken, "metrics.json"), "w"))
    expect_error("analyze bare metrics", ["analyze", broken], 2, "tms_version is missing")
    json.dump({"format_version": "1"}, open(os.path.join(broken, "metrics.json"), "w"))
    expect_error("analyze string version", ["analyze", broken], 2, "format_version")
    shutil.copy(os.path.join(out, "metrics.json"), os.path.join(broken, "metrics.json"))
    data = open(os.path.join(out, "weights.npz"), "rb").read()
    open(os.path.join(broken, "weights.npz"), "wb").write(data[: len(data) // 2])
    expect_error("analyze truncated weights", ["analyze", broken], 2, "weights.npz")
    expect_error("analyze a parent of runs", ["analyze", tmp], 2, "holds the run folders")

    toml_cases = [
        ("unknown key", "densty = [0.1]\n", "densty"),
        ("mistyped value", "steps = \"many\"\n", "steps"),
        ("garbled", "features = [\n", "config"),
        ("bad density", "density = [2]\n", "density"),
    ]
    for name, text, fragment in toml_cases:
        path = os.path.join(tmp, "bad.toml")
        with open(path, "w") as f:
            f.write(text)
        expect_error("toml " + name, ["train", "--config", path, "--out", bad], 2, fragment, bad)
    expect_error("missing config", ["train", "--config", os.path.join(tmp, "none.toml"), "--out", bad], 2, "config")

    blocker = os.path.join(tmp, "file")
    open(blocker, "w").close()
    expect_error("unwritable out", ["train", "--steps", "5", "--out", os.path.join(blocker, "sub")], 2, "out")
    expect_error("analyze missing", ["analyze", os.path.join(tmp, "nothing")], 2, "run")

print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
