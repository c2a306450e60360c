"""`tms reproduce abs-small` (E19) and `computation` (E20, E21) end to end on quick runs, the engine's abs-model
measurements (neuron pairs, computed features, the asymmetric motif) on constructed weights, and the two targets'
claim checks on hand-made models: the paper's solution agrees, a perturbed copy differs."""
import json

import numpy as np
import pytest

import tms
from tms import figures, science
from tms.targets import TARGETS
from tms.targets import absolute
from tms.targets import abs_small as abs_small_target
from tms.targets import computation as computation_target

QUICK_FIGURES = {"abs-small": ("weights", "stacks", "pairs", "loss"), "computation": ("stacks", "counts", "loss")}


@pytest.fixture(scope="module", params=["abs-small", "computation"])
def quick(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("abs") / request.param
    result = tms.reproduce.reproduce(request.param, str(out), quick=True, log=lambda message: None)
    return request.param, out, result


def test_the_quick_targets_write_a_report_marked_not_judged(quick):
    name, out, result = quick
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "Short run: not meaningful" in text and "not judged (short run)" in text and "<img " in text
    assert text.count("Features are numbered from 0") == 1
    findings = json.loads((out / "findings.json").read_text())
    assert findings["target"] == name and findings["meaningful"] is False and "quick run" in findings["reason"]
    assert len(findings["findings"]) == {"abs-small": 3, "computation": 6}[name]
    assert all(not f["meaningful"] for f in findings["findings"])
    assert {f["verdict"] for f in findings["findings"]} <= {"agrees", "partly", "differs", "n/a"}
    settings = TARGETS[name].quick
    assert findings["density"] == sorted(settings["densities"], reverse=True)
    for fig in QUICK_FIGURES[name]:
        assert (out / "figures" / f"{name}_{fig}.png").exists() and (out / "figures" / f"{name}_{fig}.svg").exists()
    run = tms.load(out / "abs")
    assert run.model == "abs" and (run.n, run.m) == (settings["features"], settings["hidden"])
    assert run.K == len(settings["densities"]) * settings["restarts"]
    assert result["runs"]["abs"].K == run.K


def test_a_finished_target_is_refused_without_overwrite(quick):
    name, out, _ = quick
    before = (out / "abs" / "metrics.json").read_bytes()
    assert tms.cli.main(["reproduce", name, "--out", str(out), "--quick", "--quiet"]) == 2
    assert (out / "abs" / "metrics.json").read_bytes() == before


# ---- hand-made abs models -----------------------------------------------------------------------------------------

def abs_run(W_in, W_out, b=None, density=None, base=1.0):
    """A Run of K hand-made abs instances W_in, W_out [K, n, m] (b [K, n], zero by default), I_i = base^i."""
    W_in = np.asarray(W_in, dtype=np.float32)
    W_out = np.asarray(W_out, dtype=np.float32)
    K, n, m = W_in.shape
    b = np.zeros((K, n), dtype=np.float32) if b is None else np.asarray(b, dtype=np.float32)
    density = np.asarray(density if density is not None else [1.0] * K, dtype=np.float64)
    importance = np.tile(base ** np.arange(n, dtype=np.float64), (K, 1)).astype(np.float32)
    config = dict(tms.defaults(), model="abs", features=n, hidden=m, density=[float(d) for d in density],
                  values="signed")
    zeros = np.zeros(K, dtype=np.int64)
    return tms.api._assemble(config=config, weights={"W_in": W_in, "W_out": W_out, "b": b}, density=density,
                             importance=importance, density_index=np.arange(K), importance_index=zeros,
                             restart=zeros, stream_seed=zeros.astype(np.uint64), loss=np.zeros(K),
                             loss_curve=np.zeros((K, 1)), curve_steps=np.array([0]), seconds=0.0, threads=1,
                             init_std=0.0, steps_done=config["steps"], first_step=0)


def pairs(n, features=None):
    """W_in, W_out [n, 2n] of the paper's construction for `features` (default all): neuron 2i is ReLU(x_i),
    neuron 2i + 1 is ReLU(−x_i), both read out into y'_i with weight 1."""
    W_in, W_out = np.zeros((n, 2 * n)), np.zeros((n, 2 * n))
    for i in range(n) if features is None else features:
        W_in[i, 2 * i], W_in[i, 2 * i + 1] = 1.0, -1.0
        W_out[i, 2 * i] = W_out[i, 2 * i + 1] = 1.0
    return W_in, W_out


def forward(W_in, W_out, b, x):
    return np.maximum(W_out @ np.maximum(W_in.T @ x, 0) + b, 0)


def test_the_engine_finds_the_pairs_of_the_construction():
    W_in, W_out = pairs(3)
    s = tms._tms.measure_abs_sides(W_in.astype(np.float32), W_out.astype(np.float32))
    assert (s.pairs, s.monosemantic_pairs) == (3, 3) and s.positive == [[0], [2], [4]] and s.negative == [[1], [3], [5]]
    o = tms._tms.abs_one_hot_outputs(W_in.astype(np.float32), W_out.astype(np.float32), np.zeros(3, np.float32))
    assert o.computed == 3 and o.positive == [1.0] * 3 and o.negative == [1.0] * 3
    W_in[0, 1] = 0.0  # feature 0 loses its negative side
    s = tms._tms.measure_abs_sides(W_in.astype(np.float32), W_out.astype(np.float32))
    assert s.paired == [0, 1, 1] and s.negative_gain[0] == 0
    with pytest.raises(ValueError, match="W_in, W_out"):
        tms._tms.measure_abs_sides(W_in.astype(np.float32), W_out[:, :5].astype(np.float32))
    with pytest.raises(ValueError, match="b: expected 3"):
        tms._tms.abs_one_hot_outputs(W_in.astype(np.float32), W_out.astype(np.float32), np.zeros(2, np.float32))


def paper_motif(n=4, m=4, scale=1.0):
    """The paper's asymmetric motif on features 0 (a) and 1 (b): neuron 0 stores W_in = [2, −½] and reads out
    [½, 2]; neuron 1 fires on x_a > 0 and inhibits y'_b; neurons 2, 3 give features 2, 3 a positive side each.
    `scale` rescales neuron 0 (footnote 15), which must change nothing."""
    W_in, W_out = np.zeros((n, m)), np.zeros((n, m))
    W_in[0, 0], W_in[1, 0] = 2.0 * scale, -0.5 * scale
    W_out[0, 0], W_out[1, 0] = 0.5 / scale, 2.0 / scale
    W_in[0, 1], W_out[1, 1] = 1.0, -4.0
    W_in[2, 2], W_out[2, 2] = 1.0, 1.0
    W_in[3, 3], W_out[3, 3] = 1.0, 1.0
    return W_in, W_out


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_the_engine_finds_the_paper_s_asymmetric_motif(scale):
    W_in, W_out = paper_motif(scale=scale)
    found = tms._tms.asymmetric_neurons(W_in.astype(np.float32), W_out.astype(np.float32), np.zeros(4, np.float32))
    assert len(found) == 1
    t = found[0]
    assert (t.neuron, t.strong, t.weak, t.inhibitor) == (0, 0, 1, 1) and t.opposite_signs and t.motif
    assert t.interference == pytest.approx(4) and t.reverse == pytest.approx(0.25) and t.weak_gain == pytest.approx(1)
    assert t.strong_gain == pytest.approx(1) and t.computes_both and t.inhibited
    assert t.inhibition == pytest.approx(1) and t.residual == pytest.approx(0, abs=1e-6)
    # Symmetric superposition (W_in = [1, −1], W_out = [1, 1]) is not asymmetric: ratio 1 < asymmetric_ratio.
    sym_in, sym_out = W_in.copy(), W_out.copy()
    sym_in[0, 0], sym_in[1, 0], sym_out[0, 0], sym_out[1, 0] = 1.0, -1.0, 1.0, 1.0
    assert not tms._tms.asymmetric_neurons(sym_in.astype(np.float32), sym_out.astype(np.float32),
                                           np.zeros(4, np.float32))
    # Read out of neuron 0 at a tenth of the paper's weight, feature a is no longer computed there (gain 0.1):
    # the one-sided form, inhibited but not the motif.
    W_out[0, 0] = 0.05 / scale
    t = tms._tms.asymmetric_neurons(W_in.astype(np.float32), W_out.astype(np.float32), np.zeros(4, np.float32))[0]
    assert t.inhibited and not t.computes_both and not t.motif and t.strong_gain == pytest.approx(0.1)
    W_out[0, 0] = 0.5 / scale
    # Without the inhibitor the neuron is asymmetric but no motif.
    W_out[1, 1] = 0.0
    t = tms._tms.asymmetric_neurons(W_in.astype(np.float32), W_out.astype(np.float32), np.zeros(4, np.float32))[0]
    assert t.inhibitor == -1 and not t.motif and t.residual == pytest.approx(1)


def test_the_motif_s_thresholds_are_the_engine_s():
    assert science.asymmetric_ratio == tms._tms.science.asymmetric_ratio == 4.0
    assert science.asymmetric_path_gain == tms._tms.science.asymmetric_path_gain
    assert science.inhibition_share == tms._tms.science.inhibition_share
    assert science.abs_side_gain == tms._tms.science.abs_side_gain
    assert science.abs_computed_output == tms._tms.science.abs_computed_output
    # The paper's example has ratio 16 (4 against 1/4): well inside the rule.
    assert (2 * 2) / (0.5 * 0.5) >= science.asymmetric_ratio


def test_the_footnote_15_rescaling_keeps_the_function():
    rng = np.random.default_rng(0)
    W_in, W_out, b = rng.normal(size=(5, 7)), rng.normal(size=(5, 7)), rng.normal(size=5)
    W_in[:, 3] = 0.0  # a dead neuron stays as it is
    R_in, R_out = absolute.rescaled(W_in, W_out)
    assert np.allclose(np.abs(R_in).max(axis=0)[[0, 1, 2, 4, 5, 6]], 1) and np.all(R_in[:, 3] == 0)
    for _ in range(5):
        x = rng.uniform(-1, 1, size=5)
        assert np.allclose(forward(W_in, W_out, b, x), forward(R_in, R_out, b, x))


# ---- abs-small's claims ---------------------------------------------------------------------------------------------

SMALL_DENSITIES = [1.0, 0.1, 0.01]


def small_models(W_ins, W_outs, restart_pairs=None):
    run = abs_run(W_ins, W_outs, density=SMALL_DENSITIES)
    best, models = absolute.analyse(run)
    counts = restart_pairs or {d: [1, 1] for d in SMALL_DENSITIES}
    return abs_small_target.abs_small_findings(models, counts)


def test_the_paper_s_construction_agrees_with_abs_small():
    W_in, W_out = pairs(3)
    findings = small_models([W_in] * 3, [W_out] * 3)
    assert [f.verdict for f in findings] == ["agrees"] * 3, [f.found for f in findings]
    assert "3 of 3 features have a positive- and a negative-side neuron group" in findings[0].found


def test_a_perturbed_construction_differs_in_abs_small():
    W_in, W_out = pairs(3)
    # Feature 2 loses its negative-side neuron: no pair, and |x_2| is not computed for x_2 < 0.
    bad_in, bad_out = W_in.copy(), W_out.copy()
    bad_in[2, 5] = bad_out[2, 5] = 0.0
    findings = small_models([bad_in] * 3, [bad_out] * 3)
    assert [f.verdict for f in findings] == ["differs", "differs", "differs"]
    # Each positive side split over two monosemantic neurons of gain ½ (n = 3 in m = 9): every feature has a
    # monosemantic pair and is computed exactly, but not with two neurons per feature.
    split_in, split_out = np.zeros((3, 9)), np.zeros((3, 9))
    for i in range(3):
        split_in[i, 3 * i], split_out[i, 3 * i] = 1.0, 0.5
        split_in[i, 3 * i + 1], split_out[i, 3 * i + 1] = 1.0, 0.5
        split_in[i, 3 * i + 2], split_out[i, 3 * i + 2] = -1.0, 1.0
    findings = small_models([split_in] * 3, [split_out] * 3)
    assert [f.verdict for f in findings] == ["partly", "partly", "agrees"], [f.found for f in findings]
    # A sparse density that has lost a pair: the third claim holds at 2 of 3 densities.
    findings = small_models([W_in, W_in, bad_in], [W_out, W_out, bad_out])
    assert [f.verdict for f in findings] == ["agrees", "agrees", "partly"]


# ---- computation's claims -------------------------------------------------------------------------------------------

N, M = 4, 8  # every feature on a neuron pair when monosemantic
PANEL_DENSITIES = [d for d, _ in computation_target.PANELS]


def with_polysemantic(neurons, share, spread=2):
    """The construction pairs(N) with its last `neurons` neurons (those of the least important features) made
    polysemantic: each keeps its feature's weight ±1 and gains input weights on `spread` other features
    (alternating signs), sized so that its top share is `share`. Nothing is read out of the added weights."""
    W_in, W_out = pairs(N)
    small = np.sqrt((1 - share) / share / spread)
    assert small < 1  # the neuron's own feature stays its primary
    for j in range(M - 1, M - 1 - neurons, -1):
        for s in range(1, spread + 1):
            W_in[(j // 2 - s) % N, j] = -small if s % 2 else small
    return W_in, W_out


def with_two_motifs(W_in, W_out):
    """The paper's asymmetric motif twice, replacing neurons 0-3 (the pairs of features 0 and 1): neuron 0
    stores features 0 (strong) and 1 (weak) as [2, −½] and reads out [½, 2], neuron 1 fires on x_0 > 0 and
    inhibits y'_1; neurons 2 and 3 do the same for features 2 and 3."""
    W_in, W_out = W_in.copy(), W_out.copy()
    W_in[:, :4], W_out[:, :4] = 0.0, 0.0
    for j, (a, b) in ((0, (0, 1)), (2, (2, 3))):
        W_in[a, j], W_in[b, j], W_out[a, j], W_out[b, j] = 2.0, -0.5, 0.5, 2.0
        W_in[a, j + 1], W_out[b, j + 1] = 1.0, -4.0
    return W_in, W_out


def sweep(panels, motif_at=None):
    """Hand-made AbsModels at the paper's seven densities, I_i = 0.8^i; `panels` gives (W_in, W_out) per
    density, with the two motifs added at index motif_at."""
    panels = list(panels)
    if motif_at is not None:
        panels[motif_at] = with_two_motifs(*panels[motif_at])
    run = abs_run([p[0] for p in panels], [p[1] for p in panels], density=PANEL_DENSITIES, base=0.8)
    return absolute.analyse(run)[1]


def paper_panels():
    """What the paper's seven panels say, as (W_in, W_out): monosemantic twice; one slightly polysemantic
    neuron; two highly polysemantic ones on the least important feature; more polysemantic neurons; more
    features per neuron; every neuron highly polysemantic."""
    return [pairs(N), pairs(N), with_polysemantic(1, 0.7), with_polysemantic(2, 0.35), with_polysemantic(5, 0.6),
            with_polysemantic(7, 0.55, spread=3), with_polysemantic(8, 0.3, spread=3)]


def test_the_paper_s_sweep_agrees_with_computation():
    models = sweep(paper_panels(), motif_at=3)
    assert [mo.polysemantic for mo in models] == [0, 0, 1, 2, 5, 7, 8]
    assert [mo.highly_polysemantic for mo in models] == [0, 0, 0, 2, 0, 0, 8]
    panel, trend, important, primary, computed, motif = computation_target.computation_findings(models)
    assert panel.verdict == "agrees" and "7 of 7 panels" in panel.found, panel.found
    assert trend.verdict == "agrees", trend.found
    assert important.verdict == "agrees", important.found
    assert primary.verdict == "agrees" and "13 have a primary feature" in primary.found, primary.found
    assert computed.verdict == "agrees", computed.found
    assert motif.verdict == "agrees" and "0.03: 2/0 (0, 2)" in motif.found, motif.found
    assert models[3].motifs(True)[0].inhibitor == 1 and models[3].motifs(True)[1].inhibitor == 3


def test_a_reversed_sweep_differs_in_computation():
    models = sweep(paper_panels()[::-1])
    panel, trend, important, primary, computed, motif = computation_target.computation_findings(models)
    assert panel.verdict == "differs" and "1 of 7 panels" in panel.found, panel.found
    assert trend.verdict == "differs" and motif.verdict == "differs"


def test_one_panel_off_is_still_agreement_two_are_partly():
    panels = paper_panels()
    panels[2] = pairs(N)  # 1−S = 0.1 stays monosemantic
    assert computation_target.computation_findings(sweep(panels))[0].verdict == "agrees"  # 6 of 7 >= 80%
    panels[6] = with_polysemantic(8, 0.6)  # 1−S = 0.001 only slightly polysemantic
    assert computation_target.computation_findings(sweep(panels))[0].verdict == "partly"  # 5 of 7


def test_computation_in_superposition_needs_features_without_their_own_pair():
    # Dense: every feature on its own pair; sparse: every neuron also takes 0.6 of the next feature's input
    # (polysemantic), read out only into its own feature, so the same features are computed through shared
    # neurons.
    W_pair_in, W_pair_out = pairs(4)
    shared_in = W_pair_in.copy()
    for i in range(4):
        shared_in[(i + 1) % 4, 2 * i], shared_in[(i + 1) % 4, 2 * i + 1] = 0.6, -0.6
    models = absolute.analyse(abs_run([W_pair_in, shared_in], [W_pair_out, W_pair_out], density=[1.0, 0.001]))[1]
    assert [mo.computed for mo in models] == [4, 4] and [mo.polysemantic for mo in models] == [0, 8]
    assert [mo.computed_in_superposition() for mo in models] == [0, 4]
    finding = computation_target.computation_findings(models)[4]
    assert finding.verdict == "agrees", finding.found
    models = absolute.analyse(abs_run([W_pair_in, W_pair_in], [W_pair_out, W_pair_out], density=[1.0, 0.001]))[1]
    assert computation_target.computation_findings(models)[4].verdict == "differs"


def test_the_stacks_draw_any_input_weights(tmp_path):
    W_ins, W_outs = zip(*paper_panels())
    run = abs_run(W_ins, W_outs, density=PANEL_DENSITIES, base=0.8)
    fig = figures.neuron_stacks(run, weights=run.W_in, absolute=True, color="superposition",
                                path=tmp_path / "stacks.png")
    assert (tmp_path / "stacks.png").exists() and len(fig.axes) >= 7
    figures.abs_weights(run, [0, 6], path=tmp_path / "weights.svg")
    assert (tmp_path / "weights.svg").exists()
    with pytest.raises(ValueError, match="color"):
        figures.neuron_stacks(run, color="importance")
    with pytest.raises(ValueError, match="weights: shape"):
        figures.neuron_stacks(run, weights=run.W_in[:, :, :4])
