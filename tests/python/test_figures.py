"""Every figure function writes a non-empty image (PNG and SVG) for linear and ReLU runs."""
import numpy as np
import pytest

import tms
from tms import figures

try:
    from PIL import Image
except ImportError:  # pragma: no cover - pillow is a test dependency
    Image = None


def assert_image(path):
    data = path.read_bytes()
    assert len(data) > 1000, path
    if path.suffix == ".png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        if Image is not None:
            pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
            assert pixels.shape[0] > 100 and pixels.shape[1] > 100
            not_white = (np.abs(pixels - 255).sum(axis=2) > 30).mean()
            assert not_white > 0.02, f"{path} is nearly blank"
            saturated = (pixels.max(axis=2) - pixels.min(axis=2) > 60).mean()
            assert saturated > 0.001, f"{path} has no colour"
    else:
        assert b"<svg" in data[:2000]


@pytest.mark.parametrize("which", ["linear_run", "relu_run"])
@pytest.mark.parametrize("draw", [figures.gram_heatmap, figures.feature_norms])
def test_per_instance_figures(which, draw, request, tmp_path):
    run = request.getfixturevalue(which)
    for k in range(run.K):
        for suffix in (".png", ".svg"):
            path = tmp_path / f"{draw.__name__}-{k}{suffix}"
            fig = draw(run, k, path=path)
            assert fig is not None
            assert_image(path)


@pytest.mark.parametrize("which", ["linear_run", "relu_run"])
def test_loss_curves(which, request, tmp_path):
    run = request.getfixturevalue(which)
    paths = figures.save(figures.loss_curves(run), tmp_path / "loss")
    assert [p[-4:] for p in paths] == [".png", ".svg"]
    for p in paths:
        assert_image(type(tmp_path)(p))


def test_basic_grid(linear_run, relu_run, tmp_path):
    fig = figures.basic_grid(linear_run, relu_run, path=tmp_path / "grid", suptitle="n = 8, m = 3")
    assert len(figures.basic_columns(linear_run, relu_run)) == 1 + relu_run.K
    assert_image(tmp_path / "grid.png")
    assert_image(tmp_path / "grid.svg")
    assert fig is not None
    figures.basic_grid(relu=relu_run, path=tmp_path / "relu-only.png")
    assert_image(tmp_path / "relu-only.png")
    with pytest.raises(ValueError):
        figures.basic_grid()


@pytest.mark.parametrize("model", ["linear", "relu"])
def test_feature_vectors_for_m_equal_2(model, tmp_path):
    run = tms.train(model=model, features=5, hidden=2, importance=0.9, density=[1, 0.1], steps=200, batch=64)
    figures.feature_vectors(run, 1, path=tmp_path / "v.png")
    assert_image(tmp_path / "v.png")
    figures.vectors_grid(run, path=tmp_path / "grid.svg")
    assert_image(tmp_path / "grid.svg")


def test_feature_vectors_needs_m_equal_2(relu_run):
    with pytest.raises(ValueError, match="m = 3"):
        figures.feature_vectors(relu_run)


def test_draw_into_given_axes(relu_run, tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3))
    a, b = fig.subplots(1, 2)
    figures.gram_heatmap(relu_run, 1, ax=a, colorbar=False)
    figures.feature_norms(relu_run, 1, ax=b, colorbar=False)
    figures.save(fig, tmp_path / "both.png")
    assert_image(tmp_path / "both.png")


def test_features_are_ordered_by_importance(tmp_path):
    # Reversed importances: the heatmap must put the most important (last) feature first.
    run = tms.train(features=4, hidden=2, importance=[0.1, 0.2, 0.5, 1.0], density=1, steps=100, batch=32)
    assert figures._order(run, 0).tolist() == [3, 2, 1, 0]
