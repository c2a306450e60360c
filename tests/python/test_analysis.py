"""The analysis library through Python: the phase classifier and theory, the tegum-factor finder, the loss
decomposition and weight snapshots."""
import math

import numpy as np
import pytest

import tms
from tms import _tms, phase


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def test_phase_classifier_on_hand_made_weights():
    zeros = f32([0, 0])
    # n = 2, m = 1: the three candidates of the paper.
    assert phase.PHASES[phase.classify(f32([[1], [-1]]), zeros)] == "superposition"
    assert phase.PHASES[phase.classify(f32([[1], [0]]), f32([0, 0.05]))] == "not learned"
    assert phase.PHASES[phase.classify(f32([[0], [1]]), f32([0.05, 0]))] == "dedicated"
    # Both features on the same side (McGrath's confused phase) is none of them.
    assert phase.PHASES[phase.classify(f32([[0.8], [0.8]]), zeros)] == "other"
    # n = 3, m = 2: extra antipodal with feature 1; extra orthogonal to an antipodal pair.
    assert phase.PHASES[phase.classify(f32([[0, 1], [1, 0], [-1, 0]]), f32([0, 0, 0]))] == "superposition"
    assert phase.PHASES[phase.classify(f32([[1, 0], [-1, 0], [0, 1]]), f32([0, 0, 0]))] == "dedicated"
    # A learned extra feature whose output can never fire (large negative bias) is not learned.
    assert phase.PHASES[phase.classify(f32([[1], [-1]]), f32([0, -2]))] == "not learned"
    with pytest.raises(ValueError):
        _tms.phase_classify(f32([[1], [-1]]), f32([0, 0, 0]))


def test_theory_boundary_matches_phase_predict():
    eps = 1e-3
    for p in (0.02, 0.1, 0.3, 0.5):
        lower, upper = _tms.phase_superposition_lower(p), _tms.phase_superposition_upper(p)
        assert math.isclose(lower, 2 * p / (4 - 5 * p)) and math.isclose(upper, (4 - 5 * p) / (2 * p))
        for problem in ("2-1", "3-2"):
            assert phase.PHASES[phase.predict(problem, p, lower * (1 - eps))[0]] == "not learned"
            assert phase.PHASES[phase.predict(problem, p, lower * (1 + eps))[0]] == "superposition"
        assert phase.PHASES[phase.predict("2-1", p, upper * (1 - eps))[0]] == "superposition"
        assert phase.PHASES[phase.predict("2-1", p, upper * (1 + eps))[0]] == "dedicated"
    # Above the triple point (p = 4/7) the boundary is r = 1, and there is no superposition.
    for p in (0.6, 0.9):
        assert [phase.PHASES[phase.predict("2-1", p, r)[0]] for r in (0.9, 1.1)] == ["not learned", "dedicated"]
    # The drawn boundaries are the same lines.
    lines = phase.boundaries("2-1", np.array([0.1, 0.3, 0.9]))
    assert np.allclose(lines[0][1], [2 * p / (4 - 5 * p) for p in (0.1, 0.3)])
    # The boundaries agree with phase_predict's losses: the loss of the predicted candidate is the minimum.
    for p, r in ((0.1, 0.5), (0.3, 3.0), (0.9, 0.5)):
        _, cand, loss = phase.predict("3-2", p, r)
        all_losses = [_tms.phase_candidate_loss(phase.PROBLEMS["3-2"], c, p, r)
                      for c in _tms.phase_candidates(phase.PROBLEMS["3-2"])]
        assert loss == min(all_losses)


def test_reduce_cell_drops_the_highest_loss():
    C = _tms.PhaseClass
    cell = _tms.phase_reduce_cell([0.1, 0.9, 0.2, 0.3], [C.superposition, C.superposition, C.not_learned,
                                                        C.not_learned])
    assert cell.dropped == 1 and cell.kept == 3 and cell.phase == C.not_learned and cell.votes == 2
    assert math.isclose(cell.mean_loss, 0.2)


def test_geometry_finder_on_a_triangle_and_a_digon():
    # A triangle in the (x, y) plane and a digon along z: a triangular bipyramid as a tegum product.
    a = 2 * np.pi / 3
    tri = [[math.cos(k * a), math.sin(k * a), 0] for k in range(3)]
    W = f32(tri + [[0, 0, 1], [0, 0, -1], [0, 0, 0]])
    g = _tms.geometry_tegum_factors(W)
    names = sorted((f.name, tuple(f.features)) for f in g.factors)
    assert names == [("digon", (3, 4)), ("triangle", (0, 1, 2))]
    assert list(g.unrepresented) == [5] and g.rank == 3 and g.independent
    tri_factor = [f for f in g.factors if f.name == "triangle"][0]
    assert math.isclose(tri_factor.mean_dimensionality, 2 / 3, rel_tol=1e-5) and tri_factor.rank == 2


def test_relu_loss_decomposition_in_run(relu_run):
    # The ReLU split is the 1-sparse approximation: its sum is one_sparse_loss (not the expected loss).
    d = relu_run.loss_decomposition
    assert set(d) == {"feature_benefit", "interference", "bias", "one_sparse_loss"}
    assert np.allclose(d["one_sparse_loss"], d["feature_benefit"] + d["interference"] + d["bias"])
    # A model that represents nothing (W = 0, b = 0) loses exactly the whole 1-sparse feature benefit:
    # sum_i I_i / 3 per active feature.
    n = 4
    t = _tms.relu_loss_decomposition(f32(np.zeros((n, 2))), f32(np.zeros(n)), f32(np.ones(n)), 0.1)
    assert math.isclose(t.feature_benefit, n / 3, rel_tol=1e-9) and t.interference == 0
    # The 1-sparse part is a lower bound on the measured loss at a low density.
    sparse = relu_run.density < 0.5
    assert np.all(d["one_sparse_loss"][sparse] <= relu_run.loss[sparse] * 1.3)


def test_snapshots_record_the_steps_and_leave_training_unchanged(tmp_path):
    settings = dict(model="relu", features=6, hidden=2, importance=0.9, density=[1, 0.1], steps=120, batch=64,
                    seed=5)
    plain = tms.train(**settings)
    run = tms.train(**settings, snapshots=[0, 7, 50, 120])
    assert run.snapshot_steps.tolist() == [0, 7, 50, 120]
    assert run.snapshot_W.shape == (4, run.K, 6, 2) and run.snapshot_b.shape == (4, run.K, 6)
    assert np.array_equal(run.W, plain.W) and np.array_equal(run.b, plain.b)
    assert np.array_equal(run.snapshot_W[-1], run.W)
    assert np.isnan(run.snapshot_loss[0]).all() and np.isfinite(run.snapshot_loss[1:]).all()
    assert plain.snapshot_steps is None
    counted = tms.train(**settings, snapshots=5)
    assert counted.snapshot_steps[0] == 0 and counted.snapshot_steps[-1] == 120
    back = tms.load(run.save(tmp_path / "snap"))
    assert np.array_equal(back.snapshot_W, run.snapshot_W) and back.snapshot_steps.tolist() == [0, 7, 50, 120]
    assert run.select([1]).snapshot_W.shape == (4, 1, 6, 2)
