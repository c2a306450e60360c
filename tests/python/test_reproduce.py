"""`tms reproduce`: a short run writes the run folders, the figures and a complete, self-contained report; short
runs are marked not meaningful; bad settings and finished runs in the output folder are refused before training."""
import base64
import dataclasses
import html
import html.parser
import json

import numpy as np
import pytest

import tms
from tms import reproduce


class ImageCollector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.scripts = [], [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in ("a", "link") and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "script":
            self.scripts += 1


def test_report_is_complete(reproduced):
    out = reproduced
    for model in ("linear", "relu"):
        run = tms.load(out / model)
        assert run.K == 7 and run.n == 20 and run.m == 5 and run.config["steps"] == 200
        assert run.model == model
    for name in ("basic_grid", "basic_linear", "basic_loss_linear", "basic_loss_relu"):
        for suffix in (".png", ".svg"):
            assert (out / "figures" / (name + suffix)).stat().st_size > 1000
    text = (out / "report.html").read_text(encoding="utf-8")
    parser = ImageCollector()
    parser.feed(text)
    assert len(parser.images) == 4
    assert parser.scripts == 0
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # Nothing external: every link is a relative file inside the output folder.
    for href in parser.links:
        assert "://" not in href and (out / href).exists(), href
    text = html.unescape(text)
    for fragment in ("The paper claims", "This run found", "Measurements", "Configuration", "Run time",
                     "tms reproduce basic", "\"steps\": 200", "‖W‖_F²", "top-m most important"):
        assert fragment in text, fragment
    assert text.count("Features are numbered from 0") == 1
    # The decomposition columns, under the keys of Run.loss_decomposition.
    assert "expected loss" in text and "1-sparse loss (inputs with ≤ 1 active feature)" in text
    findings = json.loads((out / "findings.json").read_text())
    assert len(findings["findings"]) == 7
    assert {f["verdict"] for f in findings["findings"]} <= {"agrees", "partly", "differs"}
    assert findings["runs"]["relu"]["represented"] == tms.load(out / "relu").represented.tolist()
    # 200 steps of the default 10,000: nothing is judged.
    assert findings["meaningful"] is False and "200 training steps" in findings["reason"]
    assert all(f["meaningful"] is False for f in findings["findings"])
    assert "Short run: not meaningful" in text


def test_intro_with_restarts(tmp_path):
    result = reproduce.reproduce("intro", str(tmp_path / "intro"), steps=200, batch=64, restarts=3,
                                 log=lambda message: None)
    relu = result["runs"]["relu"]
    assert relu.K == 9 and relu.restart.tolist() == [0, 1, 2] * 3
    best = result["best"]["relu"]
    assert best.K == 3 and best.density.tolist() == [1, 0.2, 0.1]
    for j in range(3):
        group = relu.density == best.density[j]
        assert best.loss[j] == relu.loss[group].min()
    assert len(result["findings"]) == 3
    text = (tmp_path / "intro" / "report.html").read_text(encoding="utf-8")
    assert text.count("<img ") == 3 and "pentagon" in text and "✓" in text
    assert (tmp_path / "intro" / "figures" / "intro_vectors.svg").exists()


def test_findings_are_computed_not_assumed():
    # A linear 'run' whose W drops feature 1: the top-m claim must come out as not agreeing.
    run = tms.train(model="linear", features=6, hidden=2, importance=0.7, density=[1, 0.1], steps=50, batch=32)
    W = np.zeros_like(run.W)
    W[:, 1, 0] = 1.0
    W[:, 2, 1] = 1.0
    fake = tms.api._assemble(run.config, {"W": W, "b": run.b}, run.density, run.importance, run.density_index,
                             run.importance_index, run.restart, run.stream_seed, run.loss, run.loss_curve,
                             run.curve_steps, 0.0, 1, 0.0, steps_done=run.config["steps"], first_step=0)
    first = tms.targets.basic.basic_findings(fake, None, 2)[0]
    assert first.verdict == "differs" and "(features 1–2)" in first.found and "Exactly features 0–1" in first.found


def test_unknown_target_is_a_value_error():
    with pytest.raises(ValueError, match="unknown target"):
        reproduce.reproduce("everything")


def _verdict_spans(text):
    return [m for m in ("agrees", "partly", "differs") if f'class="verdict {m}"' in text]


def test_quick_run_is_marked_not_meaningful(tmp_path, capsys):
    out = tmp_path / "intro"
    assert tms.cli.main(["reproduce", "intro", "--out", str(out), "--quick", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "3 claims checked: 3 not judged (short run)" in printed and "not meaningful: a quick run" in printed
    findings = json.loads((out / "findings.json").read_text())
    assert findings["meaningful"] is False and "quick run" in findings["reason"]
    for f in findings["findings"]:
        assert f["meaningful"] is False and f["reason"] == findings["reason"]
        assert f["verdict"] in ("agrees", "partly", "differs")  # what the numbers give, kept for the record
    text = html.unescape((out / "report.html").read_text(encoding="utf-8"))
    assert text.index("Short run: not meaningful") < text.index("The paper's claims")
    assert text.count("not judged (short run)") >= 3 + 1  # each verdict, and the banner
    assert _verdict_spans(text) == []  # no green or red verdict on a smoke test


def test_run_of_the_default_length_is_judged(tmp_path):
    result = reproduce.reproduce("intro", str(tmp_path / "intro"), restarts=1, log=lambda message: None)
    assert all(f.meaningful for f in result["findings"])
    findings = json.loads((tmp_path / "intro" / "findings.json").read_text())
    assert findings["meaningful"] is True and findings["reason"] is None
    text = (tmp_path / "intro" / "report.html").read_text(encoding="utf-8")
    assert "Short run" not in text and "not judged" not in text and _verdict_spans(text)


def test_short_run_reasons():
    assert tms.claims.short_run(10_000, 10_000, quick=False) is None
    assert "a short run: 9,999 training steps" in tms.claims.short_run(9_999, 10_000, quick=False)
    assert "quick run" in tms.claims.short_run(10_000, 10_000, quick=True)
    finding = tms.claims.Finding("claim", "source", "found", "differs")
    assert tms.claims.not_judged([finding], None) == [finding]
    marked = tms.claims.not_judged([finding], "a short run")[0]
    assert (marked.meaningful, marked.reason, marked.verdict) == (False, "a short run", "differs")
    table = tms.report.findings_table([marked])
    assert "not judged (short run)" in table and 'class="verdict differs"' not in table
    assert tms.report.verdict_summary([finding, marked]) == "2 claims checked: 1 differs, 1 not judged (short run)"


def _with_decomposition(run, keys):
    return dataclasses.replace(run, loss_decomposition={key: np.full(run.K, 0.25 + j) for j, key in enumerate(keys)})


@pytest.mark.parametrize("which, keys, label", [
    ("linear_run", ["feature_benefit", "interference", "bias", "expected_loss"], "expected loss"),
    ("relu_run", ["feature_benefit", "interference", "bias", "one_sparse_loss"],
     "1-sparse loss (inputs with ≤ 1 active feature)"),
])
def test_measurement_table_shows_the_decomposition_keys(which, keys, label, request):
    run = _with_decomposition(request.getfixturevalue(which), keys)
    text = html.unescape(tms.report.measurement_table(run))
    assert label in text and "3.25" in text  # the last key's column is filled
    # A key of the old names (or any other) is an error, not an empty column.
    stale = _with_decomposition(run, keys[:3] + ["total"])
    with pytest.raises(ValueError, match="loss_decomposition: keys .*total"):
        tms.report.measurement_table(stale)


@pytest.mark.parametrize("target, args, field", [
    ("basic", ["--steps", "0"], "steps"),
    ("intro", ["--restarts", "0"], "restarts"),
    ("phase-2-1", ["--restarts", "1"], "restarts"),
    ("geometry", ["--batch", "0"], "batch"),
    ("nonuniform", ["--steps", "0"], "steps"),
    ("dynamics", ["--threads", "-1"], "threads"),
])
def test_bad_setting_makes_no_folder(target, args, field, tmp_path, capsys):
    out = tmp_path / "fresh" / target
    assert tms.cli.main(["reproduce", target, "--out", str(out), "--quick", *args]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"tms: error: {field}:"), err
    assert not out.exists() and not out.parent.exists()


def test_bad_setting_from_python_makes_no_folder(tmp_path):
    with pytest.raises(ValueError, match="^steps: 0"):
        reproduce.reproduce("basic", str(tmp_path / "basic"), steps=0)
    assert not (tmp_path / "basic").exists()


def _finished(folder):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{}\n")


def _tree(root):
    return sorted((str(p.relative_to(root)), p.read_bytes()) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("target, folder", [("basic", "relu"), ("intro", "relu"), ("phase-3-2", "models"),
                                            ("geometry", "relu"), ("nonuniform", "relu/r00"), ("dynamics", "relu")])
def test_finished_runs_are_refused_before_training(target, folder, tmp_path, capsys):
    out = tmp_path / target
    _finished(out / folder)
    (out / "report.html").write_text("the old report")
    before = _tree(out)
    assert tms.cli.main(["reproduce", target, "--out", str(out), "--quick", "--quiet"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"tms: error: out: '{out}' already holds finished runs ({folder}/")
    assert "--overwrite" in lines[0]
    assert _tree(out) == before  # nothing trained, nothing written


def test_refuse_finished_runs_lists_the_folders(tmp_path):
    from tms.targets.common import refuse_finished_runs

    refuse_finished_runs(str(tmp_path), ["linear", "relu"], overwrite=False)  # nothing there yet
    (tmp_path / "linear").mkdir()  # a folder without metrics.json holds no finished run
    refuse_finished_runs(str(tmp_path), ["linear", "relu"], overwrite=False)
    for j in range(5):
        _finished(tmp_path / "relu" / f"r{j:02d}")
    listed = r"\(relu/r00/, relu/r01/, relu/r02/, … \(5 in all\)\); pass --overwrite"
    with pytest.raises(FileExistsError, match=listed):
        refuse_finished_runs(str(tmp_path), [f"relu/r{j:02d}" for j in range(6)], overwrite=False)
    refuse_finished_runs(str(tmp_path), [f"relu/r{j:02d}" for j in range(6)], overwrite=True)


def test_overwrite_replaces_the_runs_after_training(tmp_path, capsys):
    # Needs Run.save(path, overwrite=...), which refuses a finished run folder unless overwrite=True.
    out = tmp_path / "intro"
    common = ["reproduce", "intro", "--out", str(out), "--quick", "--restarts", "1", "--quiet"]
    assert tms.cli.main([*common, "--seed", "1"]) == 0
    first = tms.load(out / "relu")
    assert tms.cli.main([*common, "--seed", "2"]) == 2
    assert np.array_equal(tms.load(out / "relu").W, first.W)
    assert tms.cli.main([*common, "--seed", "2", "--overwrite"]) == 0
    second = tms.load(out / "relu")
    assert second.config["seed"] == 2 and not np.array_equal(second.W, first.W)
    assert "--overwrite" in json.loads((out / "findings.json").read_text())["command"]
    capsys.readouterr()


def test_overwrite_keeps_the_old_runs_when_training_fails(tmp_path, monkeypatch):
    out = tmp_path / "basic"
    for model in ("linear", "relu"):
        _finished(out / model)
    before = _tree(out)
    train = tms.api.train

    def fail_on_relu(**settings):  # the linear model trains, the ReLU model fails
        if settings["model"] == "relu":
            raise RuntimeError("relu: the loss turned NaN")
        return train(**settings)

    monkeypatch.setattr(tms.api, "train", fail_on_relu)
    with pytest.raises(RuntimeError, match="NaN"):
        reproduce.reproduce("basic", str(out), steps=20, batch=16, overwrite=True, log=lambda message: None)
    assert _tree(out) == before  # nothing saved: the new runs replace the old ones only once all have trained
