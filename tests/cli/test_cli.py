"""End-to-end checks of the tms program: a good run writes a loadable, complete run folder; every bad input
gets one line on stderr naming the field, exit status 2 (usage) or 1 (run-time), and no complete run folder.

Usage: python tests/cli/test_cli.py path/to/tms"""
import json
import os
import subprocess
import sys
import tempfile

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
    inst = m["instances"][0]
    for key in ["density", "loss", "norms", "bias", "superposition", "dimensionality", "frobenius_sq",
                "represented", "loss_curve", "dims_per_feature"]:
        check("metrics key " + key, key in inst, key)
    check("curve >= 100 points", len(inst["loss_curve"]) >= 100 and len(m["curve_steps"]) == len(inst["loss_curve"]),
          str(len(inst["loss_curve"])))
    norms = np.linalg.norm(w["W"][0], axis=1)
    check("norms agree with weights", np.allclose(norms, inst["norms"], rtol=1e-5, atol=1e-6), "")
    check("no temporaries", sorted(os.listdir(out)) == ["metrics.json", "weights.npz"], str(os.listdir(out)))

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
    d = json.load(open(os.path.join(lin, "metrics.json")))["instances"][0]["loss_decomposition"]
    check("linear decomposition", set(d) == {"feature_benefit", "interference", "bias", "expected_loss"}, str(d))

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

    # A previous complete run in the folder is not left looking like the new one when the new one fails.
    expect_error("failure over old run", ["train", "--quiet", "--out", out, "--lr", "1e30", "--steps", "20"], 1,
                 "loss became", out)

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
