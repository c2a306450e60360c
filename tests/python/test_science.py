"""The science definitions have one home: the thresholds Python classifies with are the engine's, read through
the binding, and no module restates one as a number of its own."""
import ast
import pathlib

import numpy as np
import pytest

import tms
from tms import nonuniform, science
from tms.targets import geometry as geometry_target
from tms.targets import phase as phase_target

PACKAGE = pathlib.Path(tms.__file__).parent


def test_tms_science_holds_exactly_the_binding_s_constants():
    engine = tms._tms.science
    assert science.ENGINE_NAMES and set(science.ENGINE_NAMES) <= set(science.__all__)
    for name in science.ENGINE_NAMES:
        assert getattr(science, name) == getattr(engine, name), name
    constants = {name for name in science.__all__ if isinstance(getattr(science, name), float)}
    assert constants == set(science.ENGINE_NAMES)  # no constant of its own beside the engine's


def test_the_science_module_agrees_with_the_classifiers_own_defaults():
    phase, geometry = tms._tms.PhaseThresholds(), tms._tms.GeometryThresholds()
    assert (science.phase_represented, science.phase_orthogonal, science.phase_antipodal) == (
        phase.represented, phase.orthogonal, phase.antipodal)
    assert (science.geometry_represented, science.geometry_interference, science.geometry_dimensionality,
            science.geometry_rank) == (geometry.represented, geometry.interference, geometry.dimensionality,
                                       geometry.rank)
    assert science.represented_norm == tms.represented_norm == tms._tms.represented_norm
    assert science.monosemantic_share == tms._tms.monosemantic_share
    assert science.dead_neuron_norm == tms._tms.dead_neuron_norm
    assert science.phase_triple_density == tms._tms.phase_triple_density


def test_the_two_antipodal_and_orthogonal_thresholds_stay_distinct():
    # The strict antipodal pair leaves out the pentagon's non-neighbours (cos 144°); the phase classifier's
    # "points against" takes in the triangle (cos 120°). Orthogonal: the geometry finder's is the stricter.
    assert np.cos(np.radians(144)) > science.antipodal_pair_cos
    assert -science.phase_antipodal > science.antipodal_pair_cos > -1
    assert np.cos(np.radians(120)) <= -science.phase_antipodal
    assert science.geometry_interference < science.phase_orthogonal


def test_names_that_quote_a_threshold_are_the_engine_s():
    assert geometry_target.FRACTION_TOL == science.geometry_dimensionality
    assert phase_target.DENSE_DENSITY == science.phase_no_superposition_density
    # The closed form agrees: no superposition at any r from that density on.
    assert tms._tms.phase_superposition_lower(science.phase_no_superposition_density) == float("inf")


# Words that name a classification of a model; a module-level number under such a name is a restated threshold.
CLASSIFIER_WORDS = ("REPRESENTED", "ANTIPODAL", "ORTHOGONAL", "MONOSEMANTIC", "DEAD", "SHARED", "NEGATIVE_BIAS",
                    "INTERFERENCE", "DIMENSIONALITY")


def _numeric_constants(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Constant, ast.UnaryOp, ast.BinOp)):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        yield target.id


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_restates_a_classifier_threshold(path):
    restated = [name for name in _numeric_constants(path) if any(word in name for word in CLASSIFIER_WORDS)]
    assert restated == [], f"{path.name}: {restated} restate a threshold; read it from tms.science"


def test_the_digon_family_uses_the_strict_antipodal_pair():
    # Features 1-4 in two pairs 180° - delta apart, feature 0 dropped: pairs while cos stays below
    # antipodal_pair_cos.
    def digons(delta_deg):
        a = np.radians(180 - delta_deg)
        return np.array([[0, 0], [1, 0], [np.cos(a), np.sin(a)], [0, 1], [-np.sin(a), np.cos(a)]])

    edge = np.degrees(np.arccos(-science.antipodal_pair_cos))  # the delta at which cos is the threshold
    assert nonuniform.family(digons(edge - 1)) == "digons"
    assert nonuniform.family(digons(edge + 1)) == "other"


def test_effective_density_is_the_engine_s_rule():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 2)).astype(np.float32)
    b = rng.normal(size=3).astype(np.float32) * 0.1
    importance = np.array([1.0, 0.7, 0.49], dtype=np.float32)
    relative = [5.0, 1.0, 0.5]  # 0.3 x 5 is clamped to 1
    densities = science.effective_density(0.3, relative)
    assert densities.tolist() == [1.0, 0.3, 0.15]
    engine = tms._tms.reported_loss_split("linear", W, b, importance, 0.3, relative)
    ours = tms._tms.linear_loss_decomposition(W, b, importance, np.ascontiguousarray(densities))
    assert engine["expected_loss"] == pytest.approx(ours.total, rel=1e-12)
    assert engine["interference"] == pytest.approx(ours.interference, rel=1e-12)
