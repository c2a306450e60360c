"""`tms reproduce`: a short run writes the run folders, the figures and a complete, self-contained report."""
import base64
import html
import html.parser
import io
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
    findings = json.loads((out / "findings.json").read_text())
    assert len(findings["findings"]) == 7
    assert {f["verdict"] for f in findings["findings"]} <= {"agrees", "partly", "differs"}
    assert findings["runs"]["relu"]["represented"] == tms.load(out / "relu").represented.tolist()


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
    fake = tms.api._assemble(run.config, W, run.b, run.density, run.importance, run.density_index,
                             run.importance_index, run.restart, run.stream_seed, run.loss, run.loss_curve,
                             run.curve_steps, 0.0, 1, 0.0)
    first = tms.claims.basic_findings(fake, None, 2)[0]
    assert first.verdict == "differs" and "2–3" in first.found


def test_unknown_target_is_a_value_error():
    with pytest.raises(ValueError, match="unknown target"):
        reproduce.reproduce("everything")
