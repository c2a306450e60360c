"""The report in a real browser: headless Chromium opens report.html from disk, every figure loads (no broken
image) and the screenshot shows the figures (non-blank, coloured pixels)."""
import json
import re
import subprocess

import numpy as np
import pytest

from conftest import require_browser

# Appended to a copy of the report: after load, records each image's decoded size in the DOM.
CHECK = """<script>
window.addEventListener("load", function () {
  var out = Array.prototype.map.call(document.images, function (img) {
    return {complete: img.complete, width: img.naturalWidth, height: img.naturalHeight};
  });
  var pre = document.createElement("pre");
  pre.id = "image-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium(browser, *args):
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--disable-dev-shm-usage", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_every_figure_loads_in_chromium(reproduced, tmp_path):
    browser = require_browser()
    report = reproduced / "report.html"
    probe = reproduced / "report-probe.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"), encoding="utf-8")
    r = chromium(browser, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    probe.unlink()
    match = re.search(r'<pre id="image-check">(.*?)</pre>', r.stdout, re.S)
    assert match, r.stderr[-2000:]
    images = json.loads(match.group(1))
    assert len(images) == 4
    for img in images:
        assert img["complete"] and img["width"] > 300 and img["height"] > 150, img


def test_screenshot_shows_the_figures(reproduced, tmp_path):
    browser = require_browser()
    from PIL import Image

    shot = tmp_path / "report.png"
    r = chromium(browser, f"--screenshot={shot}", "--window-size=1400,2400", (reproduced / "report.html").as_uri())
    assert shot.exists(), r.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (2400, 1400)
    not_white = (np.abs(pixels - 255).sum(axis=2) > 30).mean()
    assert not_white > 0.05, f"the page is nearly blank ({not_white:.3f} non-white)"
    # The heatmaps (red/blue) and the superposition bars (dark blue to yellow) are strongly coloured.
    chroma = pixels.max(axis=2) - pixels.min(axis=2)
    assert (chroma > 100).mean() > 0.005
    red = (pixels[..., 0] > 150) & (pixels[..., 2] < 100)
    blue = (pixels[..., 2] > 100) & (pixels[..., 0] < 80)
    assert red.sum() > 200 and blue.sum() > 200
