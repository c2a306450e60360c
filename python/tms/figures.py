"""The paper's figures, each a function of a run (matplotlib; PNG or SVG by the path's suffix).

Visual language of the paper (section "Basic Results" and the introduction figure):
  * WᵀW as a features x features heatmap with b as a column beside it, blue (-1) / white (0) / red (+1) on a
    fixed [-1, 1] scale, features ordered from most to least important;
  * ||W_i|| as bars, coloured by the superposition measure sum_{j != i} (Ŵ_i . W_j)^2 clipped to [0, 1]
    (0 dark blue, >= 1 saturated yellow), with a line at the top-m boundary;
  * for m = 2, the columns W_i as vectors from the origin, coloured by importance;
  * the basic-results grid: one column per model, each with the heatmap above the norm bars.

Every function takes the instance to draw (an index into the run), returns the matplotlib Figure, draws into
`ax` when one is given, and writes `path` when one is given (a path without a suffix gets both .png and .svg).
No pyplot state is touched, so the functions are safe in scripts, tests and notebooks alike.
"""
from __future__ import annotations

import os
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from matplotlib import cm, colors
from matplotlib.figure import Figure

__all__ = ["gram_heatmap", "feature_norms", "feature_vectors", "vectors_grid", "basic_grid", "basic_columns",
           "loss_curves", "save", "WEIGHT_CMAP", "SUPERPOSITION_CMAP"]

WEIGHT_CMAP = "RdBu_r"  # diverging blue - white - red
WEIGHT_NORM = colors.Normalize(vmin=-1.0, vmax=1.0)
SUPERPOSITION_CMAP = "plasma"  # dark blue (0) to yellow (>= 1)
SUPERPOSITION_NORM = colors.Normalize(vmin=0.0, vmax=1.0)
IMPORTANCE_CMAP = "viridis"
BACKGROUND = "#FCFBF8"  # the notebook's panel colour for the 2-D plots
WEIGHT_LABEL = "Weight / Bias Element Values"
SUPERPOSITION_LABEL = r"$\sum_{j\neq i}(\hat{W}_i\cdot W_j)^2$"

PathLike = Union[str, os.PathLike]


def save(fig: Figure, path: PathLike, dpi: int = 110) -> List[str]:
    """Writes the figure; the format follows the suffix (.png, .svg, .pdf). Without a suffix, writes .png and
    .svg. Returns the paths written."""
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    paths = [path] if ext else [root + ".png", root + ".svg"]
    for p in paths:
        directory = os.path.dirname(p)
        if directory:
            os.makedirs(directory, exist_ok=True)
        fig.savefig(p, dpi=dpi, bbox_inches="tight", facecolor="white")
    return paths


def _new_figure(width: float, height: float) -> Tuple[Figure, object]:
    fig = Figure(figsize=(width, height), facecolor="white")
    return fig, fig.add_subplot(1, 1, 1)


def _finish(fig: Figure, path: Optional[PathLike]) -> Figure:
    if path is not None:
        save(fig, path)
    return fig


def _order(run, k: int) -> np.ndarray:
    """Features from most to least important (stable, so I_i = base^i keeps the natural order)."""
    return np.argsort(-np.asarray(run.importance[k], dtype=np.float64), kind="stable")


def _get_cmap(name: str):
    from matplotlib import colormaps

    return colormaps[name]


def _density_label(density: float) -> str:
    return f"1−S = {density:g}"


def instance_label(run, k: int) -> str:
    """"Linear" or "ReLU" with the instance's density (and restart when the run has several)."""
    name = "Linear" if run.model == "linear" else "ReLU"
    label = f"{name}, {_density_label(float(run.density[k]))}"
    if int(run.config.get("restarts", 1)) > 1:
        label += f" (restart {int(run.restart[k])})"
    return label


def _weight_colorbar(fig: Figure, mappable_axes, **kwargs):
    sm = cm.ScalarMappable(norm=WEIGHT_NORM, cmap=WEIGHT_CMAP)
    cb = fig.colorbar(sm, ax=mappable_axes, **kwargs)
    cb.set_label(WEIGHT_LABEL)
    cb.set_ticks([-1, -0.5, 0, 0.5, 1])
    return cb


def _superposition_colorbar(fig: Figure, mappable_axes, **kwargs):
    sm = cm.ScalarMappable(norm=SUPERPOSITION_NORM, cmap=SUPERPOSITION_CMAP)
    cb = fig.colorbar(sm, ax=mappable_axes, **kwargs)
    cb.set_label(SUPERPOSITION_LABEL + " (clipped to 1)")
    cb.set_ticks([0, 0.5, 1])
    cb.set_ticklabels(["0", "0.5", "≥ 1"])
    return cb


def _draw_gram(ax, run, k: int, title: Optional[str], show_labels: bool = True):
    """WᵀW into `ax` and b into a thin axis at its right; returns (ax, bias_ax)."""
    n = run.n
    order = _order(run, k)
    G = run.gram(k)[np.ix_(order, order)]
    bias = np.asarray(run.b[k], dtype=np.float64)[order]
    ax.imshow(G, cmap=WEIGHT_CMAP, norm=WEIGHT_NORM, interpolation="nearest", aspect="equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if show_labels:
        ax.set_ylabel("feature (most important at top)", fontsize=8)
    ax.set_title(title if title is not None else "WᵀW", fontsize=9)
    # The bias as one extra column beside the matrix, on the same colour scale.
    # One cell wide, but a readable strip for large n (n = 80 would give a hairline) and narrow for small n.
    width = min(max(1.0 / max(n, 1), 0.07), 0.1)
    bias_ax = ax.inset_axes([1.04, 0.0, width, 1.0])
    bias_ax.imshow(bias[:, None], cmap=WEIGHT_CMAP, norm=WEIGHT_NORM, interpolation="nearest", aspect="auto")
    bias_ax.set_xticks([0])
    bias_ax.set_xticklabels(["b"], fontsize=8)
    bias_ax.set_yticks([])
    return ax, bias_ax


def gram_heatmap(run, instance: int = 0, *, ax=None, path: Optional[PathLike] = None,
                 title: Optional[str] = None, colorbar: bool = True) -> Figure:
    """WᵀW of one instance as an n x n heatmap with the bias b as a column beside it (blue -1, white 0,
    red +1, fixed scale), features ordered by importance."""
    if ax is None:
        fig, ax = _new_figure(4.6, 3.8)
    else:
        fig = ax.figure
    _draw_gram(ax, run, instance, title if title is not None else f"WᵀW and b — {instance_label(run, instance)}")
    if colorbar:
        _weight_colorbar(fig, ax, fraction=0.046, pad=0.04 + 2.5 / max(run.n, 1) * 0.2 + 0.06)
    return _finish(fig, path)


def _draw_norms(ax, run, k: int, title: Optional[str], show_labels: bool = True):
    n, m = run.n, run.m
    order = _order(run, k)
    norms = np.asarray(run.norms[k])[order]
    sup = np.clip(np.asarray(run.superposition[k])[order], 0.0, 1.0)
    bar_colors = _get_cmap(SUPERPOSITION_CMAP)(SUPERPOSITION_NORM(sup))
    ax.bar(np.arange(n), norms, width=0.85, color=bar_colors, edgecolor="none")
    if m < n:
        ax.axvline(m - 0.5, color="0.35", linestyle="--", linewidth=0.9)
        top = max(1.15, float(norms.max()) * 1.08 if norms.size else 1.15)
        ax.text(m - 0.5, top * 0.97, f" m = {m}", fontsize=7, color="0.3", va="top", ha="left")
    else:
        top = max(1.15, float(norms.max()) * 1.08 if norms.size else 1.15)
    ax.axhline(1.0, color="0.8", linewidth=0.6, zorder=0)
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, top)
    ax.set_xticks([0, n - 1] if n > 1 else [0])
    ax.set_xticklabels(["1", str(n)] if n > 1 else ["1"], fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    if show_labels:
        ax.set_ylabel("‖Wᵢ‖", fontsize=8)
        ax.set_xlabel("feature, most → least important", fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def feature_norms(run, instance: int = 0, *, ax=None, path: Optional[PathLike] = None,
                  title: Optional[str] = None, colorbar: bool = True) -> Figure:
    """‖W_i‖ per feature as bars (most important first), coloured by the superposition measure
    sum_{j != i} (Ŵ_i . W_j)^2 clipped to [0, 1]; a dashed line marks the top-m boundary."""
    if ax is None:
        fig, ax = _new_figure(5.2, 2.8)
    else:
        fig = ax.figure
    _draw_norms(ax, run, instance, title if title is not None else f"Feature norms — {instance_label(run, instance)}")
    if colorbar:
        _superposition_colorbar(fig, ax, fraction=0.05, pad=0.03)
    return _finish(fig, path)


def _draw_vectors(ax, run, k: int, title: Optional[str]):
    if run.m != 2:
        raise ValueError(f"feature_vectors: the run has m = {run.m} hidden dimensions; allowed: m = 2")
    W = np.asarray(run.W[k], dtype=np.float64)
    importance = np.asarray(run.importance[k], dtype=np.float64)
    low, high = float(importance.min()), float(importance.max())
    cmap = _get_cmap(IMPORTANCE_CMAP)
    order = _order(run, k)[::-1]  # least important first, so the important ones are drawn on top
    for i in order:
        c = cmap((importance[i] - low) / (high - low) if high > low else 1.0)
        ax.plot([0, W[i, 0]], [0, W[i, 1]], color=c, linewidth=2.2, solid_capstyle="round", zorder=2)
        ax.scatter([W[i, 0]], [W[i, 1]], color=[c], s=28, zorder=3, edgecolors="white", linewidths=0.5)
    lim = max(1.5, float(np.abs(W).max()) * 1.1 if W.size else 1.5)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_facecolor(BACKGROUND)
    for side in ("left", "bottom"):
        ax.spines[side].set_position("zero")
        ax.spines[side].set_color("0.6")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def _importance_colorbar(fig: Figure, axes, **kwargs):
    sm = cm.ScalarMappable(norm=colors.Normalize(0, 1), cmap=IMPORTANCE_CMAP)
    cb = fig.colorbar(sm, ax=axes, **kwargs)
    cb.set_ticks([0.0, 1.0])
    cb.set_ticklabels(["least important", "most important"])
    cb.set_label("feature importance Iᵢ")
    return cb


def feature_vectors(run, instance: int = 0, *, ax=None, path: Optional[PathLike] = None,
                    title: Optional[str] = None, colorbar: bool = True) -> Figure:
    """For m = 2: each column W_i as a vector from the origin, coloured by importance (the paper's
    introduction figure). Raises ValueError for m != 2."""
    if run.m != 2:
        raise ValueError(f"feature_vectors: the run has m = {run.m} hidden dimensions; allowed: m = 2")
    if ax is None:
        fig, ax = _new_figure(4.0, 3.4)
    else:
        fig = ax.figure
    _draw_vectors(ax, run, instance, title if title is not None else instance_label(run, instance))
    if colorbar:
        _importance_colorbar(fig, ax, fraction=0.046, pad=0.04)
    return _finish(fig, path)


def vectors_grid(run, instances: Optional[Sequence[int]] = None, *, path: Optional[PathLike] = None,
                 titles: Optional[Sequence[str]] = None, suptitle: Optional[str] = None) -> Figure:
    """The introduction figure: one feature_vectors panel per instance (default: all), side by side."""
    if run.m != 2:
        raise ValueError(f"vectors_grid: the run has m = {run.m} hidden dimensions; allowed: m = 2")
    instances = list(range(run.K)) if instances is None else list(instances)
    cols = len(instances)
    fig = Figure(figsize=(2.9 * cols + 1.2, 3.3), facecolor="white")
    axes = fig.subplots(1, cols, squeeze=False)[0]
    for j, k in enumerate(instances):
        title = titles[j] if titles is not None else _density_label(float(run.density[k]))
        _draw_vectors(axes[j], run, k, title)
    _importance_colorbar(fig, list(axes), fraction=0.025, pad=0.02)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return _finish(fig, path)


def basic_columns(linear, relu) -> List[Tuple[object, int, str]]:
    """The basic-results columns: the linear model (its densest instance), then the ReLU output model at every
    density from dense to sparse. Either run may be None."""
    columns = []
    if linear is not None:
        k = int(np.argmax(linear.density))
        columns.append((linear, k, "Linear" + (f"\n{_density_label(float(linear.density[k]))}")))
    if relu is not None:
        for k in sorted(range(relu.K), key=lambda k: (-float(relu.density[k]), k)):
            columns.append((relu, k, f"ReLU\n{_density_label(float(relu.density[k]))}"))
    return columns


def basic_grid(linear=None, relu=None, *, columns: Optional[Iterable[Tuple[object, int, str]]] = None,
               path: Optional[PathLike] = None, suptitle: Optional[str] = None) -> Figure:
    """The paper's basic-results figure: one column per model (linear, then ReLU at decreasing density), each
    with WᵀW and b above the feature-norm bars. `columns` (run, instance, title) overrides the default."""
    columns = list(columns) if columns is not None else basic_columns(linear, relu)
    if not columns:
        raise ValueError("basic_grid: no runs given")
    cols = len(columns)
    width = 2.15 * cols + 1.6
    fig = Figure(figsize=(width, 5.0), facecolor="white")
    grid = fig.add_gridspec(2, cols, height_ratios=[1.0, 0.62], hspace=0.22, wspace=0.32,
                            left=0.04, right=1 - 1.45 / width, top=0.86 if suptitle else 0.92, bottom=0.09)
    top_axes, bottom_axes = [], []
    for j, (run, k, title) in enumerate(columns):
        ax = fig.add_subplot(grid[0, j])
        _draw_gram(ax, run, k, title, show_labels=(j == 0))
        bx = fig.add_subplot(grid[1, j])
        _draw_norms(bx, run, k, None, show_labels=(j == 0))
        top_axes.append(ax)
        bottom_axes.append(bx)
    # Colour bars a fixed distance (in inches) right of the last column, whatever the number of columns.
    cax_x, cax_w = 1 - 0.9 / width, 0.14 / width
    cax1 = fig.add_axes([cax_x, 0.50, cax_w, 0.33])
    cb = fig.colorbar(cm.ScalarMappable(norm=WEIGHT_NORM, cmap=WEIGHT_CMAP), cax=cax1)
    cb.set_label(WEIGHT_LABEL, fontsize=8)
    cb.set_ticks([-1, 0, 1])
    cax2 = fig.add_axes([cax_x, 0.09, cax_w, 0.28])
    cb2 = fig.colorbar(cm.ScalarMappable(norm=SUPERPOSITION_NORM, cmap=SUPERPOSITION_CMAP), cax=cax2)
    cb2.set_label("superposition\n" + SUPERPOSITION_LABEL, fontsize=8)
    cb2.set_ticks([0, 0.5, 1])
    cb2.set_ticklabels(["0", "0.5", "≥ 1"])
    if suptitle:
        fig.suptitle(suptitle, fontsize=11, y=0.985)
    return _finish(fig, path)


def loss_curves(run, *, ax=None, path: Optional[PathLike] = None, title: Optional[str] = None) -> Figure:
    """The training loss of every instance against steps (log y), coloured by density."""
    if ax is None:
        fig, ax = _new_figure(5.6, 3.2)
    else:
        fig = ax.figure
    cmap = _get_cmap("viridis")
    densities = np.asarray(run.density, dtype=np.float64)
    logd = np.log10(densities)
    span = (logd.max() - logd.min()) or 1.0
    seen = set()
    for k in range(run.K):
        d = float(densities[k])
        label = _density_label(d) if d not in seen else None
        seen.add(d)
        curve = np.asarray(run.loss_curve[k], dtype=np.float64)
        ok = np.isfinite(curve) & (curve > 0)
        ax.plot(run.curve_steps[ok], curve[ok], color=cmap((logd[k] - logd.min()) / span), linewidth=1.1,
                label=label, alpha=0.9)
    ax.set_yscale("log")
    ax.set_xlabel("step", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    name = "Linear" if run.model == "linear" else "ReLU"
    ax.set_title(title if title is not None else f"{name} model: training loss", fontsize=9)
    return _finish(fig, path)
