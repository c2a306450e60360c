"""The paper's figures, each a function of a run (matplotlib; PNG or SVG by the path's suffix).

Visual language of the paper (section "Basic Results" and the introduction figure):
  * WᵀW as a features x features heatmap with b as a column beside it, blue (-1) / white (0) / red (+1) on a
    fixed [-1, 1] scale, features ordered from most to least important;
  * ||W_i|| as bars, coloured by the superposition measure sum_{j != i} (Ŵ_i . W_j)^2 clipped to [0, 1]
    (0 dark blue, >= 1 saturated yellow), with a line at the top-m boundary;
  * for m = 2, the columns W_i as vectors from the origin, coloured by importance;
  * the basic-results grid: one column per model, each with the heatmap above the norm bars;
  * for the models with a privileged basis (E18): the neuron stack plot (a column per neuron, a rectangle per
    input weight W_ij stacked above the axis when positive and below it when negative, coloured by feature), W
    as a features x neurons matrix on the same blue / white / red scale, and the counts against 1−S over the
    paper's regimes;
  * for the absolute-value model (E19-E21): W_in and W_out as matrices with each neuron rescaled as in the
    paper's footnote 15, the stack plot of |W_in| coloured by superposition (E20), the asymmetric motif's two
    neurons (E21); and the L1 sweep's counts and losses against λ (E22).

Every function takes the instance to draw (an index into the run), returns the matplotlib Figure, draws into
`ax` when one is given, and writes `path` when one is given (a path without a suffix gets both .png and .svg).
No pyplot state is touched, so the functions are safe in scripts, tests and notebooks alike.
"""
from __future__ import annotations

import os
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from matplotlib import cm, colors, ticker
from matplotlib.figure import Figure

from . import science

__all__ = ["gram_heatmap", "feature_norms", "feature_vectors", "vectors_grid", "basic_grid", "basic_columns",
           "loss_curves", "save", "WEIGHT_CMAP", "SUPERPOSITION_CMAP", "phase_diagram", "PHASE_COLORS",
           "dims_per_feature", "dimensionality_scatter", "dimensionality_dynamics", "DIMENSIONALITY_LINES",
           "nonuniform", "neuron_stacks", "neuron_weights", "privileged_counts", "abs_weights",
           "counts_against_density", "asymmetric_motifs", "l1_sweep"]

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


def _model_label(run) -> str:
    return "Linear" if run.model == "linear" else "ReLU"


def instance_label(run, k: int) -> str:
    """"Linear" or "ReLU" with the instance's density (and restart when the run has several)."""
    label = f"{_model_label(run)}, {_density_label(float(run.density[k]))}"
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
    # Bars run in importance order; the ticks name the features there, numbered from 0 as in the arrays.
    ax.set_xticks([0, n - 1] if n > 1 else [0])
    ax.set_xticklabels([str(order[0]), str(order[-1])] if n > 1 else [str(order[0])], fontsize=7)
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


def _vector_axes(ax, lim: float) -> None:
    """The introduction figure's frame: square limits ±lim, axes through the origin, no ticks."""
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
    _vector_axes(ax, lim)
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def canonical_orientation(W: np.ndarray) -> np.ndarray:
    """W [n, 2] rotated so that its first represented feature points along +x, then reflected so that the next
    represented feature off that axis has y > 0: models that differ by a rotation or a reflection of the
    hidden space (the loss cannot tell them apart) drawn alike (paper E11's figures)."""
    W = np.asarray(W, dtype=np.float64)
    norms = np.linalg.norm(W, axis=1)
    rep = [i for i in range(len(W)) if norms[i] > science.represented_norm]
    if not rep:
        return W.copy()
    a = np.arctan2(W[rep[0], 1], W[rep[0], 0])
    R = np.array([[np.cos(-a), -np.sin(-a)], [np.sin(-a), np.cos(-a)]])
    V = W @ R.T
    for i in rep[1:]:
        if abs(V[i, 1]) > 1e-3 * norms[i]:
            if V[i, 1] < 0:
                V[:, 1] = -V[:, 1]
            break
    return V


SET_COLORS = ("#d62728", "#2ca02c", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def set_vectors(panels: Sequence[Tuple[np.ndarray, str]], set_size: int, *, path: Optional[PathLike] = None,
                suptitle: Optional[str] = None, columns: int = 6) -> Figure:
    """For m = 2 models of sets of features (paper E11, E13): one panel per (W [n, 2], title), each W in its
    canonical orientation, a colour per set, its features drawn solid, dashed, dotted … in set order, with the
    circles of radius 1/√2 (a collapsed pair's norm) and 1 for reference."""
    rows = (len(panels) + columns - 1) // columns
    cols = min(columns, len(panels))
    fig = Figure(figsize=(2.4 * cols + 0.4, 2.5 * rows + 0.5), facecolor="white")
    axes = fig.subplots(rows, cols, squeeze=False)
    styles = ("-", "--", ":", "-.")
    for j, (W, title) in enumerate(panels):
        ax = axes[j // cols][j % cols]
        if W.shape[1] != 2:
            raise ValueError(f"set_vectors: W has m = {W.shape[1]}; allowed: m = 2")
        V = canonical_orientation(W)
        t = np.linspace(0, 2 * np.pi, 200)
        for r in (1 / np.sqrt(2), 1.0):
            ax.plot(r * np.cos(t), r * np.sin(t), color="0.8", linewidth=0.6, zorder=1)
        for i in range(len(V)):
            c = SET_COLORS[(i // set_size) % len(SET_COLORS)]
            ax.plot([0, V[i, 0]], [0, V[i, 1]], color=c, linewidth=2.0, linestyle=styles[(i % set_size) % 4],
                    zorder=2)
            ax.scatter([V[i, 0]], [V[i, 1]], color=[c], s=16, zorder=3)
        _vector_axes(ax, max(1.3, float(np.abs(V).max()) * 1.1))
        ax.set_title(title, fontsize=7.5)
    for j in range(len(panels), rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return _finish(fig, path)


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


def basic_columns(linear=None, relu=None) -> List[Tuple[object, int, str]]:
    """The basic-results columns, each titled with its run's own model and density. Given both runs: the linear
    model at its densest instance (its solution does not depend on sparsity), then the ReLU output model at every
    density from dense to sparse. Given one run (either argument, either model): every instance of it, dense to
    sparse. An instance's restart is named when the run holds several instances at its density."""
    runs = [run for run in (linear, relu) if run is not None]
    columns = []
    for j, run in enumerate(runs):
        ks = sorted(range(run.K), key=lambda k: (-float(run.density[k]), k))
        if len(runs) == 2 and j == 0:
            ks = ks[:1]
        densities = [float(d) for d in run.density]
        for k in ks:
            title = f"{_model_label(run)}\n{_density_label(densities[k])}"
            if densities.count(densities[k]) > 1:
                title += f" (restart {int(run.restart[k])})"
            columns.append((run, k, title))
    return columns


def basic_grid(linear=None, relu=None, *, columns: Optional[Iterable[Tuple[object, int, str]]] = None,
               path: Optional[PathLike] = None, suptitle: Optional[str] = None) -> Figure:
    """The paper's basic-results figure: one column per model (linear, then ReLU at decreasing density; a single
    run at each of its densities, see basic_columns), each with WᵀW and b above the feature-norm bars. `columns`
    (run, instance, title) overrides the default."""
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
    ax.set_title(title if title is not None else f"{_model_label(run)} model: training loss", fontsize=9)
    return _finish(fig, path)


# ---- phase diagrams (E5, E6) ----------------------------------------------------------------------------------

# The paper's palette (Wattenberg's notebook): grey = the extra feature ignored, red = in superposition, dark blue =
# dedicated; mid blue = dedicated with the other two features antipodal (n = 3, W ⊥ [1,1,0]). "other" (a
# configuration none of the candidates describes) is not in the paper; it is drawn in amber.
PHASE_COLORS = {"not learned": "#dddddd", "dedicated": "#003399", "superposition": "#dd4444", "other": "#e8b030"}
CANDIDATE_COLORS = {"extra_ignored": "#dddddd", "extra_dedicated": "#003399", "others_antipodal": "#2255bb",
                    "extra_antipodal": "#dd4444"}
CANDIDATE_LABELS = {"extra_ignored": "extra ignored (W ⊥ extra)", "extra_dedicated": "extra dedicated",
                    "others_antipodal": "extra dedicated, others antipodal (W ⊥ [1,1,0])",
                    "extra_antipodal": "extra in superposition (antipodal)"}


def _log_edges(values: np.ndarray) -> np.ndarray:
    """Cell edges for log-spaced centres (geometric midpoints, the ends mirrored)."""
    v = np.log10(np.asarray(values, dtype=np.float64))
    if v.size == 1:
        return 10 ** np.array([v[0] - 0.5, v[0] + 0.5])
    mid = (v[1:] + v[:-1]) / 2
    return 10 ** np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])


def _phase_axes(ax, title: str, xlim=(0.1, 10.0), ylim=(0.01, 1.0)) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_xlabel("relative importance of the extra feature, r", fontsize=8)
    ax.set_ylabel("feature density 1−S", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title, fontsize=9)


def _draw_boundaries(ax, diagram, color="black") -> None:
    from . import phase as _phase

    for j, (label, rs, ps) in enumerate(_phase.boundaries(diagram.problem, np.logspace(-2.5, 0, 400))):
        ax.plot(rs, ps, color=color, linewidth=1.2, linestyle="--", label="theory" if j == 0 else None)
    ax.plot([1.0], [_tms_triple()], marker="o", markersize=5, color=color, markerfacecolor="white", zorder=5,
            label="triple point (r = 1, 1−S = 4/7)")


def _tms_triple() -> float:
    from . import _tms

    return float(_tms.phase_triple_density)


def phase_diagram(diagram, *, path: Optional[PathLike] = None, suptitle: Optional[str] = None) -> Figure:
    """A phase diagram (tms.phase.PhaseDiagram): left, the empirical cells coloured by the extra feature's fate
    (after the paper's reduction), with the closed-form boundaries dashed over them; right, the closed-form
    diagram (phase_predict's candidate on a fine grid). x = r (log, 0.1–10), y = 1−S (log, 1 at the top)."""
    from matplotlib.patches import Patch

    from . import phase as _phase

    fig = Figure(figsize=(11.0, 5.6), facecolor="white")
    axes = fig.subplots(1, 2)
    r_edges, d_edges = _log_edges(diagram.r), _log_edges(diagram.density)
    xlim = (min(0.1, r_edges.min()), max(10.0, r_edges.max()))
    ylim = (min(0.01, d_edges.min()), max(1.0, d_edges.max()))
    legend = dict(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    colors_list = [PHASE_COLORS[name] for name in _phase.PHASES]
    cmap = colors.ListedColormap(colors_list)
    norm = colors.BoundaryNorm(np.arange(len(colors_list) + 1) - 0.5, len(colors_list))
    ax = axes[0]
    ax.pcolormesh(r_edges, d_edges, diagram.phase, cmap=cmap, norm=norm,
                  edgecolors="white", linewidth=0.3)
    disagree = ~diagram.agree
    rr, dd = np.meshgrid(diagram.r, diagram.density)
    ax.scatter(rr[disagree], dd[disagree], marker="x", s=10, color="black", linewidths=0.7,
               label="differs from theory")
    _draw_boundaries(ax, diagram)
    _phase_axes(ax, f"Empirical ({diagram.models} models per cell, highest-loss dropped, majority of the rest)",
                xlim, ylim)
    handles = [Patch(color=PHASE_COLORS[name], label=name) for name in _phase.PHASES
               if (diagram.phase == _phase.PHASES.index(name)).any()]
    lines, labels = ax.get_legend_handles_labels()
    ax.legend(handles=handles + lines, **legend)
    # The closed-form diagram on a fine grid.
    ax = axes[1]
    rs = np.logspace(np.log10(xlim[0]), np.log10(xlim[1]), 241)
    ps = np.logspace(np.log10(ylim[0]), np.log10(ylim[1]), 241)
    # The top row of cells reaches above 1 − S = 1; those points take the dense prediction.
    cand = np.array([[_phase.predict(diagram.problem, min(p, 1.0), r)[1] for r in rs] for p in ps])
    ccols = [CANDIDATE_COLORS[c] for c in _phase.CANDIDATES]
    ax.pcolormesh(_log_edges(rs), _log_edges(ps), cand, cmap=colors.ListedColormap(ccols),
                  norm=colors.BoundaryNorm(np.arange(len(ccols) + 1) - 0.5, len(ccols)), rasterized=True)
    _draw_boundaries(ax, diagram, color="0.15")
    _phase_axes(ax, "Theory: the lowest-loss candidate (paper's toy model of the toy model)", xlim, ylim)
    present = sorted(set(cand.ravel().tolist()))
    ax.legend(handles=[Patch(color=ccols[c], label=CANDIDATE_LABELS[_phase.CANDIDATES[c]]) for c in present],
              **legend)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.subplots_adjust(wspace=0.25, top=0.88 if suptitle else 0.93, bottom=0.24)
    return _finish(fig, path)


# ---- uniform superposition and feature dimensionality (E7, E8) --------------------------------------------------

# The fractions the paper names (E8): tetrahedron, triangle, antipodal pair, pentagon, square antiprism, not learned.
DIMENSIONALITY_LINES = ((1.0, "1"), (3 / 4, "3/4"), (2 / 3, "2/3"), (1 / 2, "1/2"), (2 / 5, "2/5"), (3 / 8, "3/8"),
                        (0.0, "0"))


def _sorted_sparsity(run):
    order = np.argsort(-np.asarray(run.density))
    return order, 1.0 / np.asarray(run.density, dtype=np.float64)[order]


def dims_per_feature(run, *, ax=None, path: Optional[PathLike] = None, title: Optional[str] = None) -> Figure:
    """m / ‖W‖_F² (hidden dimensions per embedded feature) against 1/(1−S), log x (paper E7)."""
    if ax is None:
        fig, ax = _new_figure(6.0, 3.4)
    else:
        fig = ax.figure
    order, x = _sorted_sparsity(run)
    ax.plot(x, np.asarray(run.dims_per_feature)[order], color="black", linewidth=1.4, marker="o", markersize=3)
    for value, label in ((1.0, "1"), (0.5, "1/2")):
        ax.axhline(value, color="0.75", linewidth=0.8, linestyle=":", zorder=0)
        ax.text(x.max() * 1.05, value, label, fontsize=7, va="center", color="0.4")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("1/(1−S)", fontsize=8)
    ax.set_ylabel("m / ‖W‖_F²", fontsize=8)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title if title is not None else "Number of Hidden Dimensions per Embedded Feature", fontsize=9)
    return _finish(fig, path)


def dimensionality_scatter(run, *, ax=None, path: Optional[PathLike] = None, title: Optional[str] = None,
                           seed: int = 0) -> Figure:
    """Every feature's D_i at every density (small dark points, jittered in x) with the m/‖W‖_F² line over them
    and reference lines at 1, 3/4, 2/3, 1/2, 2/5, 3/8 and 0 (paper E8)."""
    if ax is None:
        fig, ax = _new_figure(7.0, 4.2)
    else:
        fig = ax.figure
    order, x = _sorted_sparsity(run)
    logx = np.log10(x)
    step = float(np.median(np.diff(logx))) if x.size > 1 else 0.1
    rng = np.random.default_rng(seed)
    for value, label in DIMENSIONALITY_LINES:
        ax.axhline(value, color="#7b68ae" if value not in (0.0, 1.0) else "0.7", linewidth=0.8, zorder=0)
        ax.text(x.max() * 10 ** (0.6 * step), value, label, fontsize=7, va="center", color="0.3")
    for j, k in enumerate(order):
        d = np.asarray(run.dimensionality[k])
        jitter = 10 ** (logx[j] + rng.uniform(-0.1, 0.1, d.size) * step)
        ax.scatter(jitter, d, s=3, color="#222222", alpha=0.5, linewidths=0, zorder=2)
    ax.plot(x, np.asarray(run.dims_per_feature)[order], color="#1f77b4", linewidth=1.2, zorder=3,
            label="m / ‖W‖_F²")
    ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.1)
    ax.set_xlabel("1/(1−S)", fontsize=8)
    ax.set_ylabel("feature dimensionality Dᵢ", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title if title is not None else "Feature dimensionality Dᵢ of every feature", fontsize=9)
    return _finish(fig, path)


# ---- learning dynamics (E14) -----------------------------------------------------------------------------------


def dimensionality_dynamics(run, instance: int = 0, *, path: Optional[PathLike] = None,
                            title: Optional[str] = None) -> Figure:
    """For a run with snapshots: every feature's D_i against the step (log x, one line per feature) above the
    loss at the same steps (paper E14)."""
    from . import api as _api

    if run.snapshot_steps is None:
        raise ValueError("dimensionality_dynamics: the run has no snapshots (train with snapshots=N)")
    steps = np.asarray(run.snapshot_steps)
    keep = steps > 0
    D = np.array([_api._tms.measure(np.ascontiguousarray(run.snapshot_W[s, instance])).dimensionality
                  for s in range(len(steps))])
    fig = Figure(figsize=(7.0, 5.2), facecolor="white")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw=dict(height_ratios=[1.6, 1.0], hspace=0.08))
    cmap = _get_cmap("tab20")
    for i in range(run.n):
        top.plot(steps[keep], D[keep, i], color=cmap(i % 20), linewidth=1.0, alpha=0.9)
    for value, label in DIMENSIONALITY_LINES:
        top.axhline(value, color="0.85", linewidth=0.7, zorder=0)
    top.set_ylabel("Dᵢ (one line per feature)", fontsize=8)
    top.set_ylim(-0.05, 1.1)
    loss = np.asarray(run.loss_curve[instance], dtype=np.float64)
    ok = np.isfinite(loss) & (loss > 0) & (run.curve_steps > 0)
    if run.snapshot_loss is not None:  # the batch loss at each snapshot: covers the steps before the first window
        sl = np.asarray(run.snapshot_loss[:, instance], dtype=np.float64)
        good = keep & np.isfinite(sl) & (sl > 0)
        bottom.plot(steps[good], sl[good], color="0.6", linewidth=0.8, label="batch loss at the snapshots")
    bottom.plot(run.curve_steps[ok], loss[ok], color="black", linewidth=1.1, label="loss curve (window means)")
    bottom.legend(fontsize=7, frameon=False, loc="lower left")
    bottom.set_yscale("log")
    bottom.set_xscale("log")
    bottom.set_xlabel("step", fontsize=8)
    bottom.set_ylabel("loss", fontsize=8)
    for a in (top, bottom):
        a.tick_params(which="both", labelsize=7)
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    top.set_title(title if title is not None else "Feature dimensionality and loss during training", fontsize=9)
    return _finish(fig, path)


# ---- non-uniform superposition (E10) ---------------------------------------------------------------------------

RELATIVE_DENSITY_CMAP = "viridis"  # sparser (blue) to denser (yellow), as the paper colours the varied feature
FAMILY_COLORS = {"pentagon": "#dd4444", "digons": "#2255bb", "other": "#999999"}


def _draw_canonical(ax, solutions, norm, title: str, varied: int = 0) -> None:
    """Overlaid canonicalised solutions [(r, W, is_best)]: lines from the origin, coloured by r; the varied
    feature's point ringed in black; the best solution at each r solid, the others faint."""
    cmap = _get_cmap(RELATIVE_DENSITY_CMAP)
    lim = 1.5
    for r, W, is_best in sorted(solutions, key=lambda s: (s[2], s[0])):
        c = cmap(norm(r))
        alpha, width = (0.95, 1.6) if is_best else (0.35, 1.0)
        for i in range(W.shape[0]):
            ax.plot([0, W[i, 0]], [0, W[i, 1]], color=c, linewidth=width, alpha=alpha, solid_capstyle="round",
                    zorder=2)
        ax.scatter(W[:, 0], W[:, 1], color=[c], s=16, alpha=alpha, zorder=3, linewidths=0)
        ax.scatter([W[varied, 0]], [W[varied, 1]], s=34, facecolors=[c], edgecolors="black", linewidths=0.8,
                   alpha=alpha, zorder=4)
        lim = max(lim, float(np.abs(W).max()) * 1.1)
    _vector_axes(ax, lim)
    ax.set_title(title, fontsize=9)
    if not solutions:
        ax.text(0.5, 0.5, "none found", transform=ax.transAxes, ha="center", va="center", fontsize=9,
                color="0.4")


def nonuniform(sweep, *, path: Optional[PathLike] = None, suptitle: Optional[str] = None) -> Figure:
    """The perturbed pentagon (paper E10) from a tms.nonuniform.NonuniformSweep: left, the pentagon-family
    solutions (rotated so the varied feature points up); middle, the digon-family ones (feature 1 along +x);
    both coloured by the varied feature's relative density (denser yellow, sparser blue), the varied feature
    ringed, the lowest-loss restart at each density solid and the best of the other family faint. Right: the
    expected loss of the best pentagon and the best digon solution against the relative density (log), with
    their crossing, and below it the pentagon's loss relative to the digons' (negative: the pentagon wins)."""
    from . import nonuniform as _nu

    r = np.asarray(sweep.relative, dtype=np.float64)
    norm = colors.LogNorm(vmin=float(r.min()), vmax=float(r.max()) if r.max() > r.min() else float(r.min()) * 10)
    pentagons, digons = [], []
    for j, run in enumerate(sweep.runs):
        best = int(sweep.best[j])
        k = int(sweep.pentagon_best[j])
        if k >= 0:
            pentagons.append((float(r[j]), _nu.canonical_pentagon(run.W[k]), k == best))
        k = int(sweep.digons_best[j])
        if k >= 0:
            digons.append((float(r[j]), _nu.canonical_digons(run.W[k]), k == best))
    fig = Figure(figsize=(14.0, 5.0), facecolor="white")
    grid = fig.add_gridspec(2, 3, width_ratios=[1.0, 1.0, 1.35], height_ratios=[1.7, 1.0], wspace=0.18,
                            hspace=0.12, left=0.02, right=0.97, top=0.86 if suptitle else 0.92, bottom=0.2)
    ax_p = fig.add_subplot(grid[:, 0])
    ax_d = fig.add_subplot(grid[:, 1])
    _draw_canonical(ax_p, pentagons, norm, "Pentagon solutions (varied feature ringed, rotated to the top)")
    _draw_canonical(ax_d, digons, norm, "Digon solutions (feature 1 along +x)")
    cb = fig.colorbar(cm.ScalarMappable(norm=norm, cmap=RELATIVE_DENSITY_CMAP), ax=[ax_p, ax_d],
                      orientation="horizontal", fraction=0.05, pad=0.04, aspect=40)
    cb.set_label("relative density of the varied feature (sparser: blue, denser: yellow); solid: lowest-loss "
                 "restart at that density", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    top = fig.add_subplot(grid[0, 2])
    bottom = fig.add_subplot(grid[1, 2], sharex=top)
    for fam, color in FAMILY_COLORS.items():
        xs = [r[j] for j in range(len(r)) for f in sweep.families[j] if f == fam]
        ys = [sweep.loss[j, k] for j in range(len(r)) for k, f in enumerate(sweep.families[j]) if f == fam]
        if xs:
            top.scatter(xs, ys, s=7, color=color, alpha=0.3, linewidths=0, zorder=1)
    top.plot(r, sweep.pentagon_loss, color=FAMILY_COLORS["pentagon"], marker="o", markersize=3.5, linewidth=1.4,
             label="best pentagon", zorder=3)
    top.plot(r, sweep.digons_loss, color=FAMILY_COLORS["digons"], marker="s", markersize=3.5, linewidth=1.4,
             label="best digons (varied feature dropped)", zorder=3)
    diff = 100.0 * (np.asarray(sweep.pentagon_loss) / np.asarray(sweep.digons_loss) - 1.0)
    bottom.axhline(0.0, color="0.6", linewidth=0.8)
    bottom.plot(r, diff, color="black", marker="o", markersize=3, linewidth=1.1)
    crossing_r = sweep.crossing_r
    for a in (top, bottom):
        if np.isfinite(crossing_r):
            a.axvline(crossing_r, color="black", linestyle="--", linewidth=0.9,
                      label=f"crossing: r = {crossing_r:.3g} (1/{1 / crossing_r:.2g})" if a is top else None)
        a.axvline(1 / 2.5, color="#7b68ae", linestyle=":", linewidth=1.1,
                  label="paper: ~2.5× less dense (r = 0.4)" if a is top else None)
        a.set_xscale("log")
        a.tick_params(which="both", labelsize=7)
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    top.set_yscale("log")
    top.set_ylabel("expected loss (log)", fontsize=8)
    top.set_title("Loss of the two geometries against the varied feature's relative density", fontsize=9)
    top.legend(fontsize=7, frameon=False, loc="upper left")
    top.tick_params(labelbottom=False)
    bottom.set_ylabel("pentagon / digons − 1 (%)", fontsize=8)
    bottom.set_xlabel("relative density r of the varied feature (log)", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return _finish(fig, path)


# ---- superposition in a privileged basis (E18) -----------------------------------------------------------------

FEATURE_CMAP = "tab10"  # one colour per feature (tab20 beyond 10 features)
# The paper's regimes as bands behind the counts, densest first (tms.privileged.PAPER_REGIMES).
REGIME_COLORS = ("#e7eef8", "#f7ead9", "#e9f3e3", "#f3e4ef", "#efece0", "#e4f1f1")
POINT_BAND = 1.07  # a regime printed as one value of 1−S is drawn as a band of this factor either side


def _feature_colors(n: int):
    cmap = _get_cmap(FEATURE_CMAP if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _draw_stacks(ax, W, importance, title: Optional[str], show_labels: bool = True, ylim: Optional[float] = None,
                 absolute: bool = False, colors=None):
    """The neuron stack plot of one input-weight matrix W [n, m] (row i: feature i's weights into the m
    neurons) into ax: one column per neuron, one rectangle per weight W_ij of height |W_ij|, positive weights
    stacked above the axis and negative ones below it (absolute: every |W_ij| above it, the paper's E20 plot),
    coloured by feature (colors: one per feature; default one hue each)."""
    from . import privileged as _priv

    W = np.asarray(W, dtype=np.float64)
    n, m = W.shape
    nm = _priv.neurons(W)
    order = _priv.neuron_order(W, importance)
    feats = np.argsort(-np.asarray(importance, dtype=np.float64), kind="stable")  # most important first, nearest
    # the axis
    cols = _feature_colors(n) if colors is None else colors
    width, edge = (0.72, 0.4) if m <= 12 else (0.8, 0.15)
    xs, heights, bottoms, fills = [], [], [], []  # one bar call for the panel: n x m rectangles
    for x, j in enumerate(order):
        up = down = 0.0
        for i in feats:
            w = float(W[i, j])
            if w == 0.0:
                continue
            above = absolute or w > 0
            xs.append(x)
            heights.append(abs(w))
            bottoms.append(up if above else -(down + abs(w)))
            fills.append(cols[i])
            if above:
                up += abs(w)
            else:
                down += abs(w)
    if xs:  # one collection of rectangles: a bar per weight would be n x m artists (4,000 for the abs model)
        from matplotlib.collections import PolyCollection

        x0 = np.asarray(xs, dtype=np.float64) - width / 2
        y0 = np.asarray(bottoms, dtype=np.float64)
        y1 = y0 + np.asarray(heights, dtype=np.float64)
        verts = np.stack([np.stack([x0, y0], 1), np.stack([x0 + width, y0], 1), np.stack([x0 + width, y1], 1),
                          np.stack([x0, y1], 1)], axis=1)
        ax.add_collection(PolyCollection(verts, facecolors=fills, edgecolors="white", linewidths=edge))
    pos = np.abs(W).sum(axis=0) if absolute else np.maximum(W, 0).sum(axis=0)
    top = ylim if ylim is not None else max(1.2, float(pos.max()) * 1.1)
    if absolute:
        bottom = 0.0
    else:
        neg = float(np.maximum(-W, 0).sum(axis=0).max())
        bottom = ylim if ylim is not None else max(0.4, neg * 1.1)
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    ax.set_xlim(-0.6, m - 0.4)
    ax.set_ylim(-bottom, top)
    labels = []
    for j in order:
        if nm.norm[j] < science.dead_neuron_norm:
            labels.append("dead" if m <= 12 else "d")
        elif nm.top_share[j] >= science.monosemantic_share:
            labels.append("M")
        else:
            labels.append("P")
    ax.set_xticks(range(m))
    ax.set_xticklabels(labels, fontsize=7 if m <= 12 else 5)
    for x, label in enumerate(labels):  # monosemantic neurons: a black tick label; polysemantic: grey
        ax.get_xticklabels()[x].set_color("black" if label == "M" else "0.55")
        ax.get_xticklabels()[x].set_fontweight("bold" if label == "M" else "normal")
    ax.tick_params(axis="y", labelsize=7)
    ax.tick_params(axis="x", length=0)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    if show_labels:
        ax.set_ylabel("|input weights|" if absolute else "input weights Wᵢⱼ (negative below)", fontsize=8)
    if title is not None:
        ax.set_title(title, fontsize=8)
    return ax


def _feature_legend(fig: Figure, run, k: int, **kwargs):
    from matplotlib.patches import Patch

    cols = _feature_colors(run.n)
    handles = [Patch(color=cols[i], label=f"feature {i} (I = {float(run.importance[k][i]):.3g})")
               for i in _order(run, k)]
    return fig.legend(handles=handles, fontsize=7, frameon=False, **kwargs)


def neuron_stacks(run, instances: Optional[Sequence[int]] = None, *, path: Optional[PathLike] = None,
                  titles: Optional[Sequence[str]] = None, suptitle: Optional[str] = None,
                  columns: Optional[int] = None, weights=None, absolute: bool = False,
                  color: str = "feature") -> Figure:
    """The paper's neuron stack plot (E18, E20), one panel per instance (default: all, densest first): a column
    per neuron, a rectangle per input weight W_ij of height |W_ij|, positive weights above the axis and negative
    ones below (absolute: all of them above, as the paper draws the absolute-value model's |W_1|). Neurons run
    by the importance of their primary feature (dead ones last) and are labelled M (monosemantic: the top share
    at least science.monosemantic_share, bold), P (polysemantic) or dead (norm below science.dead_neuron_norm).
    weights: the [K, n, m] input weights to draw, row i = feature i (default run.embedding: W, or W_in of the
    abs model). color: "feature" (one hue per feature, legend) or "superposition" (each feature by its
    superposition measure sum_{j!=i} (Ŵ_i . W_j)^2 in that instance, run.superposition, clipped to 1, as the
    paper colours E18 and E20 by superposition; colour bar)."""
    from . import privileged as _priv

    if color not in ("feature", "superposition"):
        raise ValueError(f"color: '{color}'; allowed: feature, superposition")
    if instances is None:
        instances = sorted(range(run.K), key=lambda k: (-float(run.density[k]), k))
    instances = list(instances)
    if not instances:
        raise ValueError("neuron_stacks: no instances given")
    weights = np.asarray(run.embedding if weights is None else weights, dtype=np.float64)
    if weights.shape != (run.K, run.n, run.m):
        raise ValueError(f"weights: shape {weights.shape}; expected {(run.K, run.n, run.m)} (instances, features, "
                         "neurons)")
    per_row = 7 if run.m <= 12 else 2
    rows = -(-len(instances) // per_row) if columns is None else -(-len(instances) // columns)
    cols = columns or -(-len(instances) // rows)
    panel = max(1.75, 0.14 * run.m + 0.6)
    fig = Figure(figsize=(panel * cols + 2.2, 2.5 * rows + 0.6), facecolor="white")
    axes = fig.subplots(rows, cols, squeeze=False)
    W = weights[instances]  # one scale for every panel: the tallest stack
    if absolute:
        lim = max(1.2, float(np.abs(W).sum(axis=1).max()) * 1.05)
    else:
        lim = max(1.2, float(max(np.maximum(W, 0).sum(axis=1).max(), np.maximum(-W, 0).sum(axis=1).max())) * 1.05)
    cmap = _get_cmap(SUPERPOSITION_CMAP)
    for a, k in enumerate(instances):
        ax = axes[a // cols][a % cols]
        if titles is not None:
            title = titles[a]
        else:
            nm = _priv.neurons(weights[k])
            regime = _tms_regime(run, k, nm.monosemantic)
            title = f"{_density_label(float(run.density[k]))}\n{regime}"
        colors = None
        if color == "superposition":
            colors = [cmap(SUPERPOSITION_NORM(min(1.0, float(v)))) for v in run.superposition[k]]
        _draw_stacks(ax, weights[k], run.importance[k], title, show_labels=(a % cols == 0), ylim=lim,
                     absolute=absolute, colors=colors)
    for a in range(len(instances), rows * cols):
        axes[a // cols][a % cols].set_visible(False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.subplots_adjust(wspace=0.3 if run.m <= 12 else 0.12, hspace=0.55, left=0.05,
                        right=0.99 if color == "feature" else 0.9, top=0.86 if suptitle else 0.9, bottom=0.06)
    if color == "feature":
        _feature_legend(fig, run, instances[0], loc="center left", bbox_to_anchor=(0.995, 0.5))
    else:
        _superposition_colorbar(fig, None, cax=fig.add_axes([0.925, 0.2, 0.012, 0.6]))
    return _finish(fig, path)


def _tms_regime(run, k: int, monosemantic: int) -> str:
    from . import _tms

    return _tms.privileged_regime(run.n, run.m, int(run.represented[k]), int(monosemantic))


def _draw_weight_matrix(ax, run, k: int, title: Optional[str], show_labels: bool = True):
    """W of instance k as a features x neurons matrix (features by importance, neurons as in the stack plot),
    blue -1 / white 0 / red +1 on a fixed scale; each neuron's top share under its column."""
    from . import privileged as _priv

    W = np.asarray(run.W[k], dtype=np.float64)
    order = _priv.neuron_order(W, run.importance[k])
    feats = _order(run, k)
    nm = _priv.neurons(W)
    ax.imshow(W[np.ix_(feats, order)], cmap=WEIGHT_CMAP, norm=WEIGHT_NORM, interpolation="nearest", aspect="equal")
    ax.set_xticks(range(run.m))
    ax.set_xticklabels([f"{nm.top_share[j]:.2f}" for j in order], fontsize=6.5)
    ax.set_yticks(range(run.n))
    ax.set_yticklabels([str(i) for i in feats], fontsize=6.5)
    ax.tick_params(length=0)
    if show_labels:
        ax.set_ylabel("feature (most important at top)", fontsize=8)
    ax.set_xlabel("neuron: top share", fontsize=7)
    if title is not None:
        ax.set_title(title, fontsize=8.5)
    return ax


def neuron_weights(linear, hidden, densities: Sequence[float], *, path: Optional[PathLike] = None,
                   suptitle: Optional[str] = None) -> Figure:
    """W as a raw features x neurons matrix (paper E18) for the linear-hidden model (the ReLU output model,
    h = Wx) against the ReLU hidden-layer model at each of `densities` (one column per model and density): blue
    -1, white 0, red +1 (the WᵀW heatmap's scale). Each run's first instance at a density is drawn (pass best
    restarts); under each column, the neuron's top share max_i W_ij² / ‖w_j‖² (1: aligned with one feature)."""
    columns = []
    for d in densities:
        for run, name in ((linear, "linear hidden (ReLU output model)"), (hidden, "ReLU hidden layer")):
            if run is None:
                continue
            ks = [k for k in range(run.K) if np.isclose(float(run.density[k]), float(d))]
            if not ks:
                raise ValueError(f"neuron_weights: no instance at 1−S = {d:g} in the {run.model} run")
            columns.append((run, ks[0], f"{name}\n{_density_label(float(d))}"))
    if not columns:
        raise ValueError("neuron_weights: no runs given")
    cols = len(columns)
    width = 2.0 * cols + 1.4
    fig = Figure(figsize=(width, 4.2), facecolor="white")
    axes = fig.subplots(1, cols, squeeze=False)[0]
    for j, (run, k, title) in enumerate(columns):
        _draw_weight_matrix(axes[j], run, k, title, show_labels=(j == 0))
    cb = fig.colorbar(cm.ScalarMappable(norm=WEIGHT_NORM, cmap=WEIGHT_CMAP), ax=list(axes), fraction=0.02, pad=0.02)
    cb.set_label("Wᵢⱼ (clipped to ±1)", fontsize=8)
    cb.set_ticks([-1, 0, 1])
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return _finish(fig, path)


def privileged_counts(hidden, linear=None, *, ax=None, path: Optional[PathLike] = None,
                      title: Optional[str] = None) -> Figure:
    """Represented features and monosemantic neurons of the lowest-loss relu-hidden restart against 1−S (log x,
    dense at the right), over the paper's E18 regimes shaded as bands with the counts each is named for dashed;
    given the linear-hidden (relu) run of the same grid, its monosemantic neurons too."""
    from . import privileged as _priv

    sweep = _priv.analyse(hidden, linear)
    if ax is None:
        fig, ax = _new_figure(8.2, 4.0)
    else:
        fig = ax.figure
    d = sweep.density
    lo_x = min(float(d.min()) / 1.5, 0.008)
    hi_x = 1.15
    sized = (hidden.n, hidden.m) == (_priv.N_FEATURES, _priv.M_NEURONS)
    if sized:
        for j, (name, lo, hi) in enumerate(_priv.PAPER_REGIMES):
            a, b = (lo / POINT_BAND, hi * POINT_BAND) if lo == hi else (max(lo, lo_x), hi if hi < 1 else hi_x)
            color = REGIME_COLORS[j % len(REGIME_COLORS)]
            ax.axvspan(a, b, color=color, zorder=0, linewidth=0)
            rep, mono = _priv.regime_counts(name)
            ax.plot([a, b], [rep, rep], color="#1f4e9c", linestyle=(0, (3, 2)), linewidth=1.0, alpha=0.7, zorder=1)
            ax.plot([a, b], [mono, mono], color="#b3261e", linestyle=(0, (3, 2)), linewidth=1.0, alpha=0.7, zorder=1)
            ax.text(float(np.sqrt(a * b)), hidden.n + 2.3 - 1.0 * (j % 2),
                    name.replace(" in ", "\nin ").replace(" are ", "\nare ").replace("c n", "c\nn"), fontsize=6, ha="center", va="top",
                    color="0.3")
    ax.plot(d, sweep.represented, color="#1f4e9c", marker="o", markersize=4, linewidth=1.5,
            label=f"represented features (‖Wᵢ‖ > {science.represented_norm:g})", zorder=3)
    ax.plot(d, sweep.monosemantic, color="#b3261e", marker="s", markersize=4, linewidth=1.5,
            label=f"monosemantic neurons (top share ≥ {science.monosemantic_share:g})", zorder=3)
    if sweep.linear_monosemantic is not None:
        ax.plot(d, sweep.linear_monosemantic, color="0.45", marker="^", markersize=3.5, linewidth=1.0,
                linestyle=":", label="linear hidden (ReLU output model): monosemantic neurons", zorder=2)
    if sized:
        ax.plot([], [], color="0.4", linestyle=(0, (3, 2)), linewidth=1.0, label="the counts each regime is named for")
    ax.set_xscale("log")
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(-0.4, hidden.n + 2.5)
    ax.set_yticks(range(0, hidden.n + 1))
    ax.set_xlabel("feature density 1−S (log)", fontsize=8)
    ax.set_ylabel("count", fontsize=8)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax.set_title(title if title is not None else "Represented features and monosemantic neurons against sparsity "
                 "(bands: the paper's regimes)", fontsize=9)
    return _finish(fig, path)


# ---- the absolute-value model (E19-E21) and the L1 sweep (E22) --------------------------------------------------

def _annotated_matrix(ax, M, norm, xlabels, ylabels, title: Optional[str], fontsize: float = 6.5):
    ax.imshow(M, cmap=WEIGHT_CMAP, norm=norm, interpolation="nearest", aspect="equal")
    if M.size <= 120:
        for (r, c), v in np.ndenumerate(M):
            if abs(v) >= 0.005:
                text = f"{abs(v):.2f}"
                text = ("−" if v < 0 else "") + (text[1:] if text.startswith("0.") else text)
                ax.text(c, r, text, ha="center", va="center",
                        fontsize=fontsize, color="white" if abs(norm(v) - 0.5) > 0.35 else "0.15")
    ax.set_xticks(range(M.shape[1]))
    ax.set_xticklabels(xlabels, fontsize=6.5)
    ax.set_yticks(range(M.shape[0]))
    ax.set_yticklabels(ylabels, fontsize=6.5)
    ax.tick_params(length=0)
    if title is not None:
        ax.set_title(title, fontsize=8)


def abs_weights(run, instances: Optional[Sequence[int]] = None, *, titles: Optional[Sequence[str]] = None,
                path: Optional[PathLike] = None, suptitle: Optional[str] = None) -> Figure:
    """The abs model's W_1 = W_in and W_2 = W_out as matrices (paper E19), one column per instance (default: all,
    densest first): above, W_in as features × neurons; below, W_out as outputs × neurons, each neuron rescaled
    as in the paper's footnote 15 (its largest |W_in| is 1, its W_out column multiplied by the same factor, so
    the function is unchanged), the values written in the cells; blue −1, white 0, red +1 (W_out on a scale of
    ±2). Neurons as in the stack plot (by primary feature); under each, its side: +i fires on x_i > 0 and adds
    to y'_i, −i on x_i < 0 (the engine's measure_abs_sides), · for neither."""
    from . import _tms
    from . import privileged as _priv
    from .targets.absolute import rescaled

    if run.model != "abs":
        raise ValueError(f"abs_weights: a '{run.model}' run; allowed: an 'abs' run")
    if instances is None:
        instances = sorted(range(run.K), key=lambda k: (-float(run.density[k]), k))
    instances = list(instances)
    cols = len(instances)
    width = max(1.9, 0.3 * run.m + 0.8)
    fig = Figure(figsize=(width * cols + 1.2, 0.3 * 2 * run.n + 2.4), facecolor="white")
    axes = fig.subplots(2, cols, squeeze=False)
    out_norm = colors.Normalize(vmin=-2.0, vmax=2.0)
    for c, k in enumerate(instances):
        W_in, W_out = rescaled(run.W_in[k], run.W_out[k])
        order = _priv.neuron_order(run.W_in[k], run.importance[k])
        feats = _order(run, k)
        sides = _tms.measure_abs_sides(np.ascontiguousarray(run.W_in[k], dtype=np.float32),
                                       np.ascontiguousarray(run.W_out[k], dtype=np.float32))
        label = {}
        for i in range(run.n):
            for j in sides.positive[i]:
                label[j] = f"+{i}"
            for j in sides.negative[i]:
                label[j] = f"−{i}"
        xl = [label.get(int(j), "·") for j in order]
        title = titles[c] if titles is not None else _density_label(float(run.density[k]))
        _annotated_matrix(axes[0][c], W_in[np.ix_(feats, order)], WEIGHT_NORM, xl, [str(i) for i in feats],
                          title + "\nW_in (rescaled)")
        _annotated_matrix(axes[1][c], W_out[np.ix_(feats, order)], out_norm, xl, [str(i) for i in feats],
                          "W_out (rescaled)")
        if c == 0:
            axes[0][c].set_ylabel("feature", fontsize=8)
            axes[1][c].set_ylabel("output", fontsize=8)
        axes[1][c].set_xlabel("neuron: side", fontsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.subplots_adjust(left=0.05, right=0.97, top=0.82 if suptitle else 0.88, bottom=0.08, hspace=0.45,
                        wspace=0.25)
    return _finish(fig, path)


def _log_density_axes(ax, density, title: str, ylabel: str = "count") -> None:
    d = np.asarray(density, dtype=np.float64)
    ax.set_xscale("log")
    ax.set_xlim(float(d.min()) / 1.5, float(d.max()) * 1.5)
    ax.set_xlabel("feature density 1−S (log)", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=9)


COUNT_STYLES = ("o-", "s-", "^-", "v--", "D--", "x:", "P:", "*-")


def counts_against_density(density, series: dict, *, ax=None, path: Optional[PathLike] = None,
                           title: str = "", ylabel: str = "count", hlines: Optional[dict] = None) -> Figure:
    """Counts per density (log x, dense at the right): series maps a label to one value per density; hlines a
    label to a reference level drawn dotted."""
    if ax is None:
        fig, ax = _new_figure(8.0, 4.0)
    else:
        fig = ax.figure
    d = np.asarray(density, dtype=np.float64)
    for (label, values), style in zip(series.items(), COUNT_STYLES * 2):
        ax.plot(d, np.asarray(values, dtype=np.float64), style, markersize=4, linewidth=1.3, label=label)
    for label, level in (hlines or {}).items():
        ax.axhline(level, color="0.5", linestyle=":", linewidth=1.0)
        ax.text(float(d.min()) / 1.4, level, label, fontsize=6.5, color="0.35", va="bottom")
    _log_density_axes(ax, d, title, ylabel)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _finish(fig, path)


GEOMETRY_COLORS = {"small": "#bbbbbb", "collapsed": "#ff7f0e", "transition": "#9467bd", "octahedron": "#2ca02c"}


def regime_curve(steps, loss, labels, *, reference: Optional[dict] = None, path: Optional[PathLike] = None,
                 title: str = "") -> Figure:
    """A loss curve at snapshot steps (log-log; step 0 drawn at 1), each point coloured by its regime label;
    reference: label -> a loss level drawn dotted."""
    fig, ax = _new_figure(8.0, 3.8)
    x = np.maximum(np.asarray(steps, dtype=np.float64), 1.0)
    y = np.asarray(loss, dtype=np.float64)
    ax.plot(x, y, color="0.6", linewidth=1.0, zorder=1)
    for lab in dict.fromkeys(labels):
        idx = [j for j, v in enumerate(labels) if v == lab]
        ax.scatter(x[idx], y[idx], s=18, color=GEOMETRY_COLORS.get(lab, "black"), label=lab, zorder=2)
    for label, level in (reference or {}).items():
        ax.axhline(level, color="0.4", linestyle=":", linewidth=1.0)
        ax.text(x.min(), level, label, fontsize=7, color="0.3", va="bottom")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training step (log)", fontsize=8)
    ax.set_ylabel("loss", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title, fontsize=9)
    return _finish(fig, path)


def adversarial(density, vulnerability, features_per_dimension, *, path: Optional[PathLike] = None,
                suptitle: Optional[str] = None) -> Figure:
    """Paper E16: left, the vulnerability (L' − L)/(L'_0 − L_0) and the features per dimension ‖W‖_F²/m against
    1−S (log x, dense at the right); right, one against the other."""
    fig = Figure(figsize=(10.0, 3.8), facecolor="white")
    left, right = fig.subplots(1, 2)
    d = np.asarray(density, dtype=np.float64)
    v = np.asarray(vulnerability, dtype=np.float64)
    f = np.asarray(features_per_dimension, dtype=np.float64)
    left.plot(d, v, "o-", color="#d62728", markersize=4, label="vulnerability (L' − L)/(L'₀ − L₀)")
    twin = left.twinx()
    twin.plot(d, f, "s--", color="#1f77b4", markersize=4, label="features per dimension ‖W‖²_F/m")
    _log_density_axes(left, d, "against 1−S", "vulnerability")
    twin.set_ylabel("features per dimension", fontsize=8)
    left.legend(fontsize=7, frameon=False, loc="upper right")
    twin.legend(fontsize=7, frameon=False, loc="center right")
    right.scatter(f, v, color="#d62728", s=18)
    right.set_xlabel("features per dimension ‖W‖²_F/m", fontsize=8)
    right.set_ylabel("vulnerability", fontsize=8)
    right.set_title("vulnerability against features per dimension", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return _finish(fig, path)


def adversarial_training(attack_norm, features_per_dimension, in_superposition, vulnerability, *,
                         path: Optional[PathLike] = None, suptitle: Optional[str] = None) -> Figure:
    """Paper E17: against the training attack's norm (a multiple of the mean input norm), left, the features per
    dimension ‖W‖_F²/m and the features in superposition; right, the trained model's vulnerability to E16's
    attack (0.1 × the mean input norm)."""
    fig = Figure(figsize=(10.0, 3.8), facecolor="white")
    left, right = fig.subplots(1, 2, gridspec_kw=dict(wspace=0.45))
    a = np.asarray(attack_norm, dtype=np.float64)
    left.plot(a, np.asarray(features_per_dimension, dtype=np.float64), "s-", color="#1f77b4", markersize=4,
              label="features per dimension ‖W‖²_F/m")
    left.axhline(1.0, color="0.6", linewidth=0.8, linestyle=":")
    twin = left.twinx()
    twin.plot(a, np.asarray(in_superposition, dtype=np.float64), "o--", color="#ff7f0e", markersize=4,
              label="features in superposition")
    left.set_xlabel("training attack norm (× mean input norm)", fontsize=8)
    left.set_ylabel("features per dimension", fontsize=8)
    twin.set_ylabel("features in superposition", fontsize=8)
    left.set_title("superposition against the training attack", fontsize=9)
    left.legend(fontsize=7, frameon=False, loc="upper right")
    twin.legend(fontsize=7, frameon=False, loc="center right")
    right.plot(a, np.asarray(vulnerability, dtype=np.float64), "o-", color="#d62728", markersize=4)
    right.set_xlabel("training attack norm (× mean input norm)", fontsize=8)
    right.set_ylabel("vulnerability (L' − L)/(L'₀ − L₀)", fontsize=8)
    right.set_title("vulnerability to the 0.1 attack after training", fontsize=9)
    for ax in (left, twin, right):
        ax.tick_params(labelsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return _finish(fig, path)


def asymmetric_motifs(run, k: int, motifs: Sequence, *, path: Optional[PathLike] = None,
                      suptitle: Optional[str] = None) -> Figure:
    """The E21 motif as the paper diagrams it, one panel per motif (an asymmetric neuron j of the engine's
    asymmetric_neurons with its inhibitor q): the input weights of the strong feature a and the weak feature b
    into j and q, and the two neurons' weights to outputs a and b, rescaled as in footnote 15 (each neuron's
    largest |W_in| is 1), with the values in the cells."""
    from .targets.absolute import rescaled

    motifs = list(motifs)
    if not motifs:
        raise ValueError("asymmetric_motifs: no motif given")
    W_in, W_out = rescaled(run.W_in[k], run.W_out[k])
    fig = Figure(figsize=(2.9 * len(motifs) + 0.4, 3.4), facecolor="white")
    axes = fig.subplots(1, 2 * len(motifs), squeeze=False)[0]
    out_norm = colors.Normalize(vmin=-4.0, vmax=4.0)
    for c, t in enumerate(motifs):
        a, b, j, q = int(t.strong), int(t.weak), int(t.neuron), int(t.inhibitor)
        neurons = [j, q]
        _annotated_matrix(axes[2 * c], W_in[np.ix_([a, b], neurons)], WEIGHT_NORM, [f"n{j}", f"n{q}"],
                          [f"x{a}", f"x{b}"], "into neurons\n(W_in)", fontsize=7.5)
        _annotated_matrix(axes[2 * c + 1], W_out[np.ix_([a, b], neurons)], out_norm, [f"n{j}", f"n{q}"],
                          [f"y{a}", f"y{b}"], "out of neurons\n(W_out)", fontsize=7.5)
        axes[2 * c].set_xlabel(f"asymmetric n{j}, inhibitor n{q}", fontsize=6.5)
        axes[2 * c + 1].set_xlabel(f"a→b interference {t.interference:.2f},\n{t.inhibition:.0%} cancelled by n{q}",
                                   fontsize=6.5)
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.74 if suptitle else 0.82, bottom=0.2, wspace=0.55)
    return _finish(fig, path)


def l1_sweep(lambdas, series: dict, losses: dict, *, path: Optional[PathLike] = None,
             suptitle: Optional[str] = None, reference: Optional[dict] = None) -> Figure:
    """Two panels against the L1 coefficient λ (log x; λ = 0 drawn a decade left of the smallest λ > 0 and
    labelled 0): counts (series: label -> one value per λ; reference: label -> a level drawn dotted) and losses
    (losses: label -> one value per λ, log y)."""
    lam = np.asarray(lambdas, dtype=np.float64)
    positive = lam[lam > 0]
    if positive.size == 0:
        raise ValueError("l1_sweep: no λ > 0")
    zero_at = float(positive.min()) / 10.0
    x = np.where(lam > 0, lam, zero_at)
    fig = Figure(figsize=(11.0, 3.9), facecolor="white")
    ax, bx = fig.subplots(1, 2)
    for (label, values), style in zip(series.items(), COUNT_STYLES * 2):
        ax.plot(x, np.asarray(values, dtype=np.float64), style, markersize=4, linewidth=1.3, label=label)
    for label, level in (reference or {}).items():
        ax.axhline(level, color="0.5", linestyle=":", linewidth=1.0)
        ax.text(zero_at, level, label, fontsize=6.5, color="0.35", va="bottom")
    for (label, values), style in zip(losses.items(), COUNT_STYLES):
        bx.plot(x, np.asarray(values, dtype=np.float64), style, markersize=4, linewidth=1.3, label=label)
    bx.set_yscale("log")
    for axis, ylabel in ((ax, "count"), (bx, "loss")):
        axis.set_xscale("log")
        ticks = [zero_at] + [float(v) for v in positive]
        axis.set_xticks(ticks)
        axis.set_xticklabels(["0"] + [f"{v:g}" for v in positive], fontsize=6.5, rotation=45)
        axis.minorticks_off()
        axis.set_xlabel("L1 coefficient λ (log; 0 at the left)", fontsize=8)
        axis.set_ylabel(ylabel, fontsize=8)
        axis.tick_params(axis="y", labelsize=7)
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
        axis.legend(fontsize=7, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.86 if suptitle else 0.92, bottom=0.2, wspace=0.22)
    return _finish(fig, path)


def sae_frontier(curves: dict, true_l0: dict, *, path: Optional[PathLike] = None,
                 suptitle: Optional[str] = None) -> Figure:
    """SAEs' recovery against their L0, one panel per toy density: curves maps (family, density) -> dict of
    lists l0, matched, mmcs, mcc (one value per coefficient, in L0 order); true_l0 maps density -> the data's
    L0, drawn dotted."""
    densities = sorted({d for _, d in curves}, reverse=True)
    fig = Figure(figsize=(5.2 * len(densities), 3.8), facecolor="white")
    axes = np.atleast_1d(fig.subplots(1, len(densities)))
    colours = {"relu": "tab:blue", "topk": "tab:orange"}
    for ax, density in zip(axes, densities):
        for (family, d), c in curves.items():
            if d != density:
                continue
            colour = colours.get(family, "tab:green")
            ax.plot(c["l0"], c["matched"], "o-", color=colour, markersize=4, linewidth=1.4,
                    label=f"{family}: matched cosine")
            ax.plot(c["l0"], c["mmcs"], "s--", color=colour, markersize=3, linewidth=1.0, alpha=0.7,
                    label=f"{family}: mean max cosine")
            ax.plot(c["l0"], c["mcc"], "^:", color=colour, markersize=3, linewidth=1.0, alpha=0.7,
                    label=f"{family}: MCC")
        if density in true_l0:
            ax.axvline(true_l0[density], color="0.4", linestyle=":", linewidth=1.0)
            ax.text(true_l0[density], 0.02, " data's L0", fontsize=6.5, color="0.35", rotation=90, va="bottom")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_ylim(0, 1.02)
        _sae_panel(ax, "L0 (active latents per sample, log)", "recovery", f"1−S = {density:g}", "lower right")
    return _sae_finish(fig, path, suptitle)


def _sae_panel(ax, xlabel: str, ylabel: str, title: str, legend_at: str) -> None:
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=6.5, frameon=False, loc=legend_at)


def _sae_finish(fig: Figure, path: Optional[PathLike], suptitle: Optional[str]) -> Figure:
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.subplots_adjust(left=0.07, right=0.98, top=0.84 if suptitle else 0.9, bottom=0.14, wspace=0.22)
    return _finish(fig, path)


def sae_feature_recovery(recovery: dict, *, absorbed_share: float, path: Optional[PathLike] = None,
                         suptitle: Optional[str] = None) -> Figure:
    """Each feature's matched cosine (colour; grey: not represented by the toy model) for every coefficient of a
    family (rows) against the feature's index (importance order), one panel per (family, density); crosses mark
    absorbed features. recovery maps (family, density) -> dict of cosine [C, n], absorption [C, n], labels [C]."""
    keys = sorted(recovery, key=lambda fd: (fd[0], -fd[1]))
    families = sorted({f for f, _ in keys})
    densities = sorted({d for _, d in keys}, reverse=True)
    fig = Figure(figsize=(5.6 * len(densities), 2.2 + 1.6 * len(families)), facecolor="white")
    axes = np.asarray(fig.subplots(len(families), len(densities), squeeze=False))
    cmap = _get_cmap("viridis").with_extremes(bad="0.85")
    image = None
    for (family, density), r in recovery.items():
        ax = axes[families.index(family), densities.index(density)]
        cos = np.asarray(r["cosine"], dtype=np.float64)
        image = ax.imshow(np.ma.masked_invalid(cos), cmap=cmap, vmin=0, vmax=1, aspect="auto",
                          interpolation="nearest")
        rows, cols = np.nonzero(np.nan_to_num(np.asarray(r["absorption"], dtype=np.float64)) >= absorbed_share)
        ax.plot(cols, rows, "x", color="red", markersize=3.5, markeredgewidth=0.9)
        ax.set_yticks(range(len(r["labels"])))
        ax.set_yticklabels(r["labels"], fontsize=6.5)
        ax.set_xlabel("feature (0 = most important)", fontsize=8)
        ax.set_title(f"{family}, 1−S = {density:g}", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    fig.subplots_adjust(left=0.07, right=0.86, top=0.86 if suptitle else 0.92, bottom=0.1, hspace=0.55, wspace=0.18)
    if image is not None:
        cbar = fig.colorbar(image, ax=list(axes.ravel()), shrink=0.85)
        cbar.set_label("matched cosine", fontsize=8)
        cbar.ax.tick_params(labelsize=7)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return _finish(fig, path)


def sae_cosines(panels: Sequence[Tuple[np.ndarray, str]], *, path: Optional[PathLike] = None,
                suptitle: Optional[str] = None) -> Figure:
    """Heatmaps of cos(W_i, decoder row l) [n, d], latents reordered so each feature's best match comes first."""
    fig = Figure(figsize=(3.4 * len(panels), 3.2), facecolor="white")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    norm = colors.Normalize(vmin=-1, vmax=1)
    image = None
    for ax, (C, title) in zip(axes, panels):
        C = np.asarray(C, dtype=np.float64)
        order = list(dict.fromkeys(int(j) for j in np.argmax(C, axis=1)))
        order += [j for j in range(C.shape[1]) if j not in order]
        image = ax.imshow(C[:, order], cmap="RdBu_r", norm=norm)
        for i in range(C.shape[0]):
            for j, l in enumerate(order):
                ax.text(j, i, f"{C[i, l]:.2f}", ha="center", va="center", fontsize=6)
        ax.set_xlabel("latent (best match first)", fontsize=8)
        ax.set_ylabel("feature", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    if image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return _finish(fig, path)
