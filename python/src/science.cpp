// tms._tms.science: the engine's classifier thresholds and science constants (src/core/metrics.hpp and
// analysis_*.hpp), so that Python reads each from its one C++ definition instead of restating it. The
// thresholds a classifier takes as a struct are read off a default-constructed one: its defaults are the
// definition.
#include <nanobind/nanobind.h>

#include "core/analysis_geometry.hpp"
#include "core/analysis_loss.hpp"
#include "core/analysis_neurons.hpp"
#include "core/analysis_phase.hpp"
#include "core/analysis_sae.hpp"
#include "core/analysis_sets.hpp"
#include "core/metrics.hpp"

namespace nb = nanobind;

void bind_science(nb::module_& m) {
  nb::module_ s = m.def_submodule(
      "science", "The engine's classifier thresholds and science constants (metrics.hpp, analysis_*.hpp)");

  // metrics.hpp
  s.attr("represented_norm") = tms::represented_norm;
  s.attr("superposition_shared") = tms::superposition_shared;

  // analysis_geometry.hpp: the tegum-factor finder's tolerances and the antipodal pair
  const tms::geometry_thresholds geometry;
  s.attr("geometry_represented") = geometry.represented;
  s.attr("geometry_interference") = geometry.interference;
  s.attr("geometry_dimensionality") = geometry.dimensionality;
  s.attr("geometry_rank") = geometry.rank;
  s.attr("antipodal_pair_cos") = tms::antipodal_pair_cos;

  // analysis_phase.hpp: the phase classifier's tolerances and the closed form's special densities
  const tms::phase_thresholds phase;
  s.attr("phase_represented") = phase.represented;
  s.attr("phase_orthogonal") = phase.orthogonal;
  s.attr("phase_antipodal") = phase.antipodal;
  s.attr("phase_triple_density") = tms::phase_triple_density;
  s.attr("phase_no_superposition_density") = tms::phase_no_superposition_density;

  // analysis_sets.hpp: the set classifier's tolerances
  const tms::set_thresholds sets;
  s.attr("set_orthogonal") = sets.orthogonal;
  s.attr("set_collapsed") = sets.collapsed;

  // analysis_neurons.hpp
  s.attr("monosemantic_share") = tms::monosemantic_share;
  s.attr("dead_neuron_norm") = tms::dead_neuron_norm;
  s.attr("abs_side_gain") = tms::abs_side_gain;
  s.attr("abs_computed_output") = tms::abs_computed_output;
  s.attr("asymmetric_ratio") = tms::asymmetric_ratio;
  s.attr("asymmetric_path_gain") = tms::asymmetric_path_gain;
  s.attr("inhibition_share") = tms::inhibition_share;

  // analysis_loss.hpp
  s.attr("negative_bias") = tms::negative_bias;

  // analysis_sae.hpp
  s.attr("sae_recovered_cosine") = tms::recovered_cosine;
  s.attr("sae_absorption_cosine") = tms::absorption_cosine;
  s.attr("sae_absorbed_share") = tms::absorbed_share;
  s.attr("sae_detector_precision") = tms::detector_precision;
  s.attr("sae_split_share") = tms::split_share;
}
