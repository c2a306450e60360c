"""Every claim check of `tms reproduce` on hand-made weights: a solution that is what the paper describes must
agree, and a copy perturbed to contradict the claim must differ. Runs are assembled from the weights by the engine
(tms.api._assemble measures them as tms.load does); the phase, non-uniform and dynamics checks take their summaries
(PhaseDiagram, NonuniformSweep, snapshot dimensionalities), built here by hand."""
import types

import numpy as np
import pytest

import tms
from tms import nonuniform, phase, privileged
from tms.targets import basic as basic_target
from tms.targets import dynamics as dynamics_target
from tms.targets import geometry as geometry_target
from tms.targets import nonuniform as nonuniform_target
from tms.targets import phase as phase_target
from tms.targets import privileged_basis as privileged_target


def make_run(model, W, b=None, density=None, base=0.7):
    """A Run of K hand-made instances W [K, n, m] (b [K, n], zero by default) with importances I_i = base^i."""
    W = np.asarray(W, dtype=np.float32)
    K, n, m = W.shape
    b = np.zeros((K, n), dtype=np.float32) if b is None else np.asarray(b, dtype=np.float32)
    density = np.asarray(density if density is not None else [1.0] * K, dtype=np.float64)
    importance = np.tile(base ** np.arange(n, dtype=np.float64), (K, 1)).astype(np.float32)
    config = dict(tms.defaults(), model=model, features=n, hidden=m, density=[float(d) for d in density])
    zeros = np.zeros(K, dtype=np.int64)
    return tms.api._assemble(config=config, weights={"W": W, "b": b}, density=density, importance=importance,
                             density_index=np.arange(K), importance_index=zeros, restart=zeros,
                             stream_seed=zeros.astype(np.uint64), loss=np.zeros(K), loss_curve=np.zeros((K, 1)),
                             curve_steps=np.array([0]), seconds=0.0, threads=1, init_std=0.0,
                             steps_done=config["steps"], first_step=0)


def unit(angle_deg):
    a = np.radians(angle_deg)
    return [np.cos(a), np.sin(a)]


def by_claim(findings, words):
    """The one finding whose claim contains `words`."""
    found = [f for f in findings if words in f.claim]
    assert len(found) == 1, [f.claim for f in findings]
    return found[0]


# ---- basic results: n = 6, m = 3, I_i = 0.7^i, 1-S = 1, 0.1, 0.01 ----------------------------------------------

N, M = 6, 3
DENSITIES = [1.0, 0.1, 0.01]
E = np.eye(M)


def rows(*vectors):
    """W [N, M] with the given rows first and zeros (features not represented) after them."""
    W = np.zeros((N, M))
    for i, v in enumerate(vectors):
        W[i, :len(v)] = v
    return W


def top_m():  # features 0-2 in dedicated orthogonal dimensions, like PCA
    return rows(E[0], E[1], E[2])


def antipodal_extra():  # 0, 1 dedicated; 2 and 3, the less important, an antipodal pair
    return rows(E[0], E[1], E[2], -E[2])


def hexagon():  # all six in one plane, 60 degrees apart: positive interference between neighbours
    return rows(*[unit(60 * i) for i in range(N)])


def linear_run(W=None):
    W = [top_m()] * 3 if W is None else W
    return make_run("linear", W, density=DENSITIES)


def relu_run(dense=None, mid=None, sparse=None, sparse_bias=-0.1):
    W = [top_m() if dense is None else dense, antipodal_extra() if mid is None else mid,
         hexagon() if sparse is None else sparse]
    b = np.zeros((3, N))
    b[2] = sparse_bias
    return make_run("relu", W, b=b, density=DENSITIES)


BASIC = {
    "top-m": "always learns the top-m",
    "sparsity": "does not depend on the sparsity",
    "dense": "On dense features",
    "emerges": "superposition emerges",
    "order": "starts with the less important",
    "antipodal": "antipodal pairs",
    "packing": "keeps packing in more",
}


def basic(linear=None, relu=None):
    return basic_target.basic_findings(linear_run() if linear is None else linear,
                                       relu_run() if relu is None else relu, M)


def test_the_paper_s_basic_solution_agrees_with_every_claim():
    findings = basic()
    assert len(findings) == len(BASIC)
    for key, words in BASIC.items():
        assert by_claim(findings, words).verdict == "agrees", (key, by_claim(findings, words).found)
    assert "Exactly features 0–2 at 3 of 3 densities" in by_claim(findings, BASIC["top-m"]).found
    order = by_claim(findings, BASIC["order"]).found
    assert "features 2–3 share dimensions" in order and "features 0–1 stay orthogonal" in order
    assert "(2, 3)" in by_claim(findings, BASIC["antipodal"]).found


@pytest.mark.parametrize("key, linear, relu", [
    # The linear model keeps features 1-3 instead of the top 3.
    ("top-m", linear_run([rows(np.zeros(M), E[0], E[1], E[2])] * 3), None),
    # Its solution changes with sparsity: feature 0 shrinks at both sparser densities.
    ("sparsity", linear_run([top_m()] + [rows(0.7 * E[0], E[1], E[2])] * 2), None),
    # Dense, the ReLU model represents all features: not the linear model's dedicated top m.
    ("dense", None, relu_run(dense=hexagon())),
    # The ReLU model never represents more than m features.
    ("emerges", None, relu_run(mid=top_m(), sparse=top_m())),
    # The most important feature is the first to share a dimension.
    ("order", None, relu_run(mid=rows(E[0], E[1], E[2], -E[0]))),
    # The first features to share do so side by side, not as an antipodal pair.
    ("antipodal", None, relu_run(mid=rows(E[0], E[1], E[2], E[2]))),
    # At high sparsity: no negative biases.
    ("packing", None, relu_run(sparse_bias=0.0)),
])
def test_a_perturbed_basic_solution_differs(key, linear, relu):
    findings = basic(linear, relu)
    words = BASIC[key]
    if key == "emerges":  # with no density past m, the two superposition-onset claims become one
        assert by_claim(findings, "first as antipodal pairs").verdict == "differs"
    assert by_claim(findings, words).verdict == "differs", by_claim(findings, words).found


def test_basic_findings_take_either_run_alone():
    assert [f.verdict for f in basic_target.basic_findings(linear_run(), None, M)] == ["agrees", "agrees"]
    findings = basic_target.basic_findings(None, relu_run(), M)
    assert len(findings) == len(BASIC) - 3 and {f.verdict for f in findings} == {"agrees"}


# ---- the introduction figure: n = 5, m = 2, I_i = 0.9^i, 1-S = 1, 0.2, 0.1 -------------------------------------

def intro_run(dense=None, mid=None, sparse=None):
    pentagon = [unit(90 + 72 * i) for i in range(5)]
    W = [
        np.array(dense if dense is not None else [[1, 0], [0, 1], [0, 0], [0, 0], [0, 0]], dtype=float),
        np.array(mid if mid is not None else [[1, 0], [0, 1], [0, -1], [-1, 0], [0, 0]], dtype=float),
        np.array(sparse if sparse is not None else pentagon, dtype=float),
    ]
    return make_run("relu", W, density=[1.0, 0.2, 0.1], base=0.9)


def test_the_introduction_figure_agrees():
    findings = basic_target.intro_findings(intro_run())
    assert [f.verdict for f in findings] == ["agrees"] * 3
    assert "represented features 0–1" in findings[0].found and "|cos(W₀, W₁)| = 0.000" in findings[0].found
    assert "antipodal pairs (cos < -0.9) (0, 3), (1, 2)" in findings[1].found
    assert "largest deviation from 72°: 0°" in findings[2].found


@pytest.mark.parametrize("index, change", [
    (0, dict(dense=[[1, 0], [0, 0], [0, 1], [0, 0], [0, 0]])),  # features 0 and 2 instead of the top two
    (1, dict(mid=[[1, 0], [0, 1], [0, 0], [0, 0], [0, 0]])),  # only two features, no antipodal pair
    (2, dict(sparse=[unit(90 + 90 * i) for i in range(4)] + [[0, 0]])),  # a square: feature 4 left out
])
def test_a_perturbed_introduction_figure_differs(index, change):
    findings = basic_target.intro_findings(intro_run(**change))
    assert findings[index].verdict == "differs", findings[index].found
    assert [f.verdict for j, f in enumerate(findings) if j != index] == ["agrees", "agrees"]


# ---- phase diagrams --------------------------------------------------------------------------------------------

NOT, DED, SUP = (phase.PHASES.index(name) for name in ("not learned", "dedicated", "superposition"))
# Rows: 1-S = 1, 0.5 (no superposition), 0.1, 0.03; columns: r = 0.2, 0.5, 2, 5.
THEORY = np.array([[NOT, NOT, DED, DED], [NOT, NOT, DED, DED], [NOT, SUP, SUP, DED], [NOT, SUP, SUP, DED]])


def diagram(empirical=THEORY, votes=3):
    D, R = empirical.shape
    full = np.full((D, R), 3)
    return phase.PhaseDiagram(problem="2-1", r=np.array([0.2, 0.5, 2.0, 5.0]), density=np.array([1, 0.5, 0.1, 0.03]),
                              run=None, models=4, model_phase=np.zeros((D, R, 4), dtype=np.int64),
                              phase=np.array(empirical), votes=np.full((D, R), votes), kept=full,
                              dropped=np.zeros((D, R), dtype=np.int64), mean_loss=np.zeros((D, R)),
                              theory=THEORY, theory_candidate=np.zeros((D, R), dtype=np.int64))


def test_a_diagram_like_the_theory_agrees():
    findings = phase_target.phase_findings(diagram())
    assert [f.verdict for f in findings] == ["agrees"] * 3
    assert "100.0% of the 16 cells" in findings[1].found


def test_a_perturbed_diagram_differs():
    dense_superposition = THEORY.copy()
    dense_superposition[0] = SUP  # superposition without sparsity
    assert phase_target.phase_findings(diagram(dense_superposition))[0].verdict == "differs"
    # Every cell in a phase the theory does not predict.
    assert phase_target.phase_findings(diagram((THEORY + 1) % len(phase.PHASES)))[1].verdict == "differs"
    # One kept model in three votes for its cell's phase: no clear configuration anywhere.
    assert phase_target.phase_findings(diagram(votes=1))[2].verdict == "differs"


# ---- geometry: n = 8, m = 4, I = 1 -----------------------------------------------------------------------------

def geometry_run(instances):
    return make_run("relu", instances, density=[1.0, 0.3, 0.1, 0.03][:len(instances)], base=1.0)


def dedicated():  # 4 features in their own dimensions: m/|W|_F^2 = 1, D_i = 1
    return np.vstack([np.eye(4), np.zeros((4, 4))])


def digons():  # 4 antipodal pairs: m/|W|_F^2 = 1/2, D_i = 1/2
    return np.vstack([s * np.eye(4)[i] for i in range(4) for s in (1, -1)])


def triangle_and_digons():  # a triangle in dimensions 0-1 (D = 2/3), digons along 2 and 3, one feature dropped
    W = np.zeros((8, 4))
    W[:3, :2] = [unit(90 + 120 * i) for i in range(3)]
    W[3, 2], W[4, 2], W[5, 3], W[6, 3] = 1, -1, 1, -1
    return W


def tilted_pairs():  # two pairs at cos 0.45: D_i = 1 / (1 + 0.45^2) = 0.83, no named fraction or polytope
    W = np.zeros((8, 4))
    for a in (0, 2):
        W[a, a] = 1
        W[a + 1, a], W[a + 1, a + 1] = 0.45, np.sqrt(1 - 0.45 ** 2)
    return W


def geometry(instances):
    run = geometry_run(instances)
    return geometry_target.geometry_findings(run, geometry_target.geometry_of(run))


GOOD_GEOMETRY = [dedicated(), digons(), digons(), triangle_and_digons()]


def test_sticky_fractions_and_named_polytopes_agree():
    findings = geometry(GOOD_GEOMETRY)
    assert [f.verdict for f in findings] == ["agrees"] * 3, [f.found for f in findings]
    assert "10 digon, 4 dedicated, 1 triangle" in findings[1].found


def test_perturbed_geometries_differ():
    # Every W scaled by 0.9: m/|W|_F^2 is on neither plateau (D_i does not change with scale).
    scaled = geometry([0.9 * W for W in GOOD_GEOMETRY])
    assert scaled[0].verdict == "differs" and scaled[2].verdict == "agrees"
    # Tilted pairs: no D_i near a named fraction, no named polytope.
    assert geometry([tilted_pairs()] * 4)[1].verdict == "differs"
    # Two dedicated features in four dimensions: sum_i D_i = 2, half of m.
    half = dedicated()
    half[2:4] = 0
    assert geometry([half] + GOOD_GEOMETRY[1:])[2].verdict == "differs"


# ---- non-uniform superposition: n = 5, m = 2, feature 0 varied ---------------------------------------------------

RELATIVE = np.array([0.1, 0.2, 0.3, 0.5, 1.0, 2.0])


def pentagon(span, norm=1.1):
    """Feature 0 (the varied one) at 90 degrees with its two neighbours span degrees apart around it; the other
    two features share the rest of the circle evenly."""
    gap = (360.0 - span) / 3
    angles = [90, 90 + span / 2, 90 + span / 2 + gap, 90 + span / 2 + 2 * gap, 90 - span / 2]
    return norm * np.array([unit(a) for a in angles])


DIGONS = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]], dtype=float)


def sweep(solutions, crossings=(0.35,), bias=-0.2):
    """A NonuniformSweep with one restart per relative density, solutions[j] its W [5, 2]."""
    runs = [types.SimpleNamespace(W=np.array([W]), b=np.full((1, 5), bias)) for W in solutions]
    families = [[nonuniform.family(W)] for W in solutions]
    pentagon_best = np.array([0 if f == ["pentagon"] else -1 for f in families])
    digons_best = np.array([0 if f == ["digons"] else -1 for f in families])
    R = len(solutions)
    return nonuniform.NonuniformSweep(relative=RELATIVE, base_density=0.05, runs=runs, families=families,
                                      loss=np.zeros((R, 1)), best=np.zeros(R, dtype=np.int64),
                                      pentagon_best=pentagon_best, digons_best=digons_best,
                                      pentagon_loss=np.zeros(R), digons_loss=np.zeros(R), digons_source=None,
                                      crossings=list(crossings), points=16)


# Digons below r = 0.35, then a pentagon that gives the varied feature more room the denser it is.
GOOD_SWEEP = [DIGONS, DIGONS, DIGONS, pentagon(120), pentagon(144), pentagon(160)]


def test_the_paper_s_sweep_agrees():
    findings = nonuniform_target.nonuniform_findings(sweep(GOOD_SWEEP))
    assert [f.verdict for f in findings] == ["agrees"] * 5, [f.found for f in findings]
    assert "‖W₀‖ of the varied feature" in findings[3].found


@pytest.mark.parametrize("index, solutions, kwargs", [
    (0, GOOD_SWEEP[:4] + [DIGONS] + GOOD_SWEEP[5:], {}),  # the uniform case is two digons
    (1, GOOD_SWEEP[:3] + [pentagon(160), pentagon(144), pentagon(120)], {}),  # denser, the feature gets less room
    (2, GOOD_SWEEP, dict(crossings=(0.12,))),  # the switch far below 1/2.5
    (2, GOOD_SWEEP, dict(crossings=())),  # no switch at all
    # Pentagons everywhere, the varied feature shrinking smoothly: no jump and no crossing.
    (3, [pentagon(144) * np.array([[s], [1], [1], [1], [1]]) for s in (0.6, 0.7, 0.8, 0.9, 1.0, 1.0)],
     dict(crossings=())),
    (4, GOOD_SWEEP[:4] + [pentagon(144, norm=0.95)] + GOOD_SWEEP[5:], dict(bias=0.0)),  # on the unit circle, b = 0
])
def test_a_perturbed_sweep_differs(index, solutions, kwargs):
    findings = nonuniform_target.nonuniform_findings(sweep(solutions, **kwargs))
    assert findings[index].verdict == "differs", findings[index].found


# ---- learning dynamics: D_i of n = 4 features at log-spaced snapshots ------------------------------------------

STEPS = np.array([0] + [2 ** i for i in range(11)])  # 0, 1, 2, ..., 1024
CURVE = np.arange(1, 1025)


def dynamics(D, loss, digon_restarts=(0,)):
    run = types.SimpleNamespace(K=2, n=4, loss_curve=np.array([loss, loss]), curve_steps=CURVE)
    return dynamics_target.dynamics_findings(run, 0, STEPS, np.asarray(D, dtype=float), list(digon_restarts))


JUMP_D = np.where(STEPS[:, None] < 64, 1.0, 0.5) * np.ones((1, 4))  # every feature jumps from 1 to 1/2 at step 64
DROP = np.where(CURVE < 64, 1.0, 0.5)  # and the loss halves there


def test_jumps_with_loss_drops_agree():
    assert [f.verdict for f in dynamics(JUMP_D, DROP)] == ["agrees", "agrees"]


def test_perturbed_dynamics_differ():
    # Smooth, no jumps, and no restart ends in digons; with no jump, the loss claim has nothing to test.
    findings = dynamics(np.full((len(STEPS), 4), 0.7), DROP, digon_restarts=())
    assert [f.verdict for f in findings] == ["differs", "n/a"]
    # Jumps, but the loss rises across them.
    assert dynamics(JUMP_D, DROP[::-1])[1].verdict == "differs"


# ---- superposition in a privileged basis: n = 10, m = 5, I_i = 0.75^i ------------------------------------------

PRIV_DENSITIES = [1.0, 0.7, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05, 0.03, 0.01]


def regime_W(represented, monosemantic, n=10, m=5):
    """A W [n, m] with `represented` features and `monosemantic` monosemantic neurons: features 0 … mono-1 each
    alone on a neuron, the next ones spread over the other neurons as signed pairs (0.8, ±0.8), every such neuron
    shared by at least two features (the paper's binary codes: (1, 1), (1, −1), (−1, 1) for three in two)."""
    import itertools

    W = np.zeros((n, m))
    for j in range(monosemantic):
        W[j, j] = 1.0
    rest = list(range(monosemantic, m))
    codes = [(a, b, s) for s in ((1, 1), (1, -1), (-1, 1)) for a, b in itertools.combinations(rest, 2)]
    for t, i in enumerate(range(monosemantic, represented)):
        a, b, (sa, sb) = codes[t]
        W[i, a], W[i, b] = 0.8 * sa, 0.8 * sb
    return W


def paper_regime(density):  # the counts the paper's regime at this 1-S is named for; (8, 0) between ranges
    name = privileged.expected_regime(density)
    return privileged.regime_counts(name) if name else (8, 0)


def rotation(m=5, seed=1):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(m, m)))
    return q


def priv_sweep(hidden=None, linear=None, densities=PRIV_DENSITIES):
    """A PrivilegedSweep of hand-made relu-hidden weights (the paper's regime at every density by default) and
    linear-hidden ones (a rotated copy of the dense solution: no neuron aligned)."""
    hidden = [regime_W(*paper_regime(d)) for d in densities] if hidden is None else hidden
    linear = [regime_W(5, 5) @ rotation()] * len(densities) if linear is None else linear
    h = make_run("relu-hidden", hidden, density=densities, base=0.75)
    lin = make_run("relu", linear, density=densities, base=0.75) if linear is not False else None
    return privileged.analyse(h, lin)


PRIV = {"dense": "Dense features", "regimes": "named regimes", "trend": "shift from monosemantic",
        "aligned": "not neuron-aligned"}


def test_hand_made_regimes_are_the_engine_s():
    for name, _, _ in privileged.PAPER_REGIMES:
        rep, mono = privileged.regime_counts(name)
        W = regime_W(rep, mono)
        nm = privileged.neurons(W)
        assert (nm.monosemantic, nm.polysemantic, nm.dead) == (mono, 5 - mono, 0), name
        assert tms._tms.privileged_regime(10, 5, int((np.linalg.norm(W, axis=1) > 0.5).sum()), nm.monosemantic) == name


def test_the_paper_s_privileged_basis_agrees():
    sweep = priv_sweep()
    findings = privileged_target.privileged_findings(sweep)
    assert [f.verdict for f in findings] == ["agrees"] * 4, [f.found for f in findings]
    assert "all monosemantic neurons at 3 of 3 densities ≥ 0.5" in by_claim(findings, PRIV["dense"]).found
    assert "at 11 of 11 densities with a printed range" in by_claim(findings, PRIV["regimes"]).found
    assert "mean neuron top share 1.00 for the ReLU hidden layer" in by_claim(findings, PRIV["aligned"]).found
    assert sweep.expected[7] is None and sweep.agree[7] is None  # 1-S = 0.1 lies between the printed ranges
    assert np.allclose(sweep.features_per_live_neuron[:3], 1) and np.allclose(sweep.features_per_live_neuron[-1], 4)


def test_a_rotated_dense_solution_differs():
    # The identity on the top 5 features, rotated: the same features, no neuron aligned with one.
    hidden = [regime_W(*paper_regime(d)) for d in PRIV_DENSITIES]
    hidden[:3] = [regime_W(5, 5) @ rotation()] * 3
    findings = privileged_target.privileged_findings(priv_sweep(hidden))
    assert by_claim(findings, PRIV["dense"]).verdict == "differs"
    assert by_claim(findings, PRIV["aligned"]).verdict == "differs"  # relu-hidden no longer aligned either
    assert by_claim(findings, PRIV["regimes"]).verdict == "partly"  # 8 of 11 densities still agree


@pytest.mark.parametrize("key, hidden, linear", [
    # Every density keeps the dense solution: no regime past the first, no trend.
    ("regimes", [regime_W(5, 5)] * len(PRIV_DENSITIES), None),
    ("trend", [regime_W(5, 5)] * len(PRIV_DENSITIES), None),
    # The sequence reversed: pairs of neurons when dense, monosemantic when sparse.
    ("trend", [regime_W(*paper_regime(d)) for d in PRIV_DENSITIES][::-1], None),
    # The linear-hidden model aligned with its neurons as well.
    ("aligned", None, [regime_W(5, 5)] * len(PRIV_DENSITIES)),
])
def test_a_perturbed_privileged_basis_differs(key, hidden, linear):
    findings = privileged_target.privileged_findings(priv_sweep(hidden, linear))
    assert by_claim(findings, PRIV[key]).verdict == "differs", by_claim(findings, PRIV[key]).found


def test_the_trend_allows_one_exception_and_the_linear_run_is_optional():
    hidden = [regime_W(*paper_regime(d)) for d in PRIV_DENSITIES]
    hidden[4] = regime_W(5, 5)  # 1-S = 0.2 falls back to the dense solution: one step against each count
    findings = privileged_target.privileged_findings(priv_sweep(hidden))
    assert by_claim(findings, PRIV["trend"]).verdict == "agrees"
    assert "1 in the represented features, 1 in the monosemantic" in by_claim(findings, PRIV["trend"]).found
    hidden[6] = regime_W(5, 5)  # and 1-S = 0.12 too: two steps against the trend
    assert by_claim(privileged_target.privileged_findings(priv_sweep(hidden)), PRIV["trend"]).verdict == "partly"
    findings = privileged_target.privileged_findings(priv_sweep(linear=False))
    assert by_claim(findings, "not neuron-aligned").verdict == "n/a"
