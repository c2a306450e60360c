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


def _titles(columns):
    return [title for _, _, title in columns]


@pytest.mark.parametrize("which", ["linear_run", "relu_run"])
def test_one_run_gives_its_own_model_at_every_density(which, request, tmp_path):
    run = request.getfixturevalue(which)
    name = "Linear" if run.model == "linear" else "ReLU"
    for columns in (figures.basic_columns(run), figures.basic_columns(None, run)):
        assert [k for _, k, _ in columns] == sorted(range(run.K), key=lambda k: -run.density[k])
        assert _titles(columns) == [f"{name}\n1−S = {d:g}" for d in sorted(run.density, reverse=True)]
    fig = figures.basic_grid(run, path=tmp_path / "one.png")
    shown = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert shown == _titles(figures.basic_columns(run))
    assert_image(tmp_path / "one.png")


def test_two_runs_give_the_densest_linear_then_every_relu(linear_run, relu_run):
    titles = _titles(figures.basic_columns(linear_run, relu_run))
    assert titles[0] == "Linear\n1−S = 1" and titles[1:] == [f"ReLU\n1−S = {d:g}" for d in (1, 0.1)]


def test_columns_name_the_restart_when_a_density_has_several():
    run = tms.train(model="relu", features=4, hidden=2, density=[1, 0.1], restarts=2, steps=20, batch=16)
    expected = [f"ReLU\n1−S = {d:g} (restart {r})" for d in (1, 0.1) for r in (0, 1)]
    assert _titles(figures.basic_columns(run)) == expected
    assert _titles(figures.basic_columns(run.best_restarts())) == ["ReLU\n1−S = 1", "ReLU\n1−S = 0.1"]


def test_norm_ticks_number_features_from_0(relu_run):
    # The bars run from the most to the least important feature; the ticks name them as the arrays do.
    fig = figures.feature_norms(relu_run, 0)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", str(relu_run.n - 1)]
    run = tms.train(features=4, hidden=2, importance=[0.1, 0.2, 0.5, 1.0], density=1, steps=20, batch=16)
    fig = figures.feature_norms(run, 0)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["3", "0"]
