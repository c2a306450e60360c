// The fast training step of the tied models (linear, ReLU output; ReLU hidden when small), on a batch that a
// batch_source (batch_source.hpp) has filled into its workspace: the same maths as model_linear.hpp /
// model_relu_output.hpp / loss_weighted_mse.hpp (the reference, which tests compare against on odd sizes),
// reorganised for speed:
//  * batch-tiled layout (see tied_fast_workspace): every product vectorises over 16 samples at a time (one
//    tile) for any n and m;
//  * register-blocked products (up to 12 outputs per pass, blocks sized to divide m evenly) with the weight
//    broadcast from memory;
//  * sparsity: the tiles of x and of the output gradient g that are all zero are skipped in h = W x,
//    dh = W^T g, dW += g h^T and dW += x dh^T (with a ReLU and a negative bias most of g is exactly zero);
//  * wide models (m >= 16): entry by entry where x or g is sparse. x's non-zeros are listed sample after
//    sample (from the binomial sampler, or compressed out of a Bernoulli batch under 25% non-zero, tile by
//    tile transposed), so h accumulates per sample in registers and dW += x dh^T keeps dh in registers;
//    elsewhere, where rows fill their 16-float vectors well, dW as outer products over sample-major rows of
//    h and dh (no sums across lanes, one pass per 8-12 rows of W);
//  * loss, ReLU and gradient fused into the output product;
//  * small models (m <= 8, n m <= 256) take the whole step in one pass over the tiles instead.
// Compiled for AVX-512, AVX2 and baseline x86-64 (x86-64-v4, -v3, default; isa.hpp), chosen once at run time;
// tests force each level through tied_fast_force_isa. Results are identical for any thread count; they differ
// in the last bits between instruction sets (fused multiply-adds).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/config.hpp"
#include "core/data_sparse.hpp"
#include "core/kernels/isa.hpp"

namespace tms::kernels {

struct aligned_floats {
  std::unique_ptr<float[], void (*)(float*)> data{nullptr, [](float*) {}};
  void assign(std::size_t count);  // zero-filled, 64-byte aligned
  float* get() const { return data.get(); }
};

// Optional per-phase wall time, for benchmarks (null in training: no clock reads).
struct tied_fast_profile {
  double sample = 0, h = 0, output = 0, backward = 0;  // seconds
  std::int64_t steps = 0;
};

// Which path the last step took (for tests and benchmarks).
enum class step_path { small, tiles, outer, sparse_g };
// How the last step of a wide model went over x in h = W x and dW += x dh^T: through the dense tiled
// products, or entry by entry over its non-zeros.
enum class x_route { dense, entries };

// Scratch for one instance-step; sized once (reserve), reused every step. The batch-sized buffers are tiled:
// tile t (samples 16t .. 16t+15) of row r of a matrix with R rows is the 16 floats at ((t R) + r) 16, so one
// tile of every row is contiguous (no cache-set conflicts between rows).
struct tied_fast_workspace {
  int B = 0, n = 0, m = 0;
  int tiles = 0;      // ceil(B / 16); samples s >= B are padding (x = 0, excluded from loss and gradient)
  aligned_floats X;   // tiled [n] the batch
  aligned_floats XA;  // tiled [n] |x|, the abs model's target
  // The abs model's batch without its all-zero samples (abs_step): tiled [n] over ceil(kept / 16) tiles,
  // their non-zero flags [n][kept tiles], and per tile of X the lanes that hold a non-zero sample.
  aligned_floats XC;
  std::vector<std::uint8_t> xc_nz;
  std::vector<std::uint16_t> sample_mask;
  int last_kept = 0;   // samples the last abs step took through its products (for tests and benchmarks)
  aligned_floats H;    // tiled [m] h = W x
  aligned_floats Y;    // tiled [n] g = dL/d(pre-activation)
  aligned_floats DH;   // tiled [m] dL/dh
  aligned_floats acc;  // small models: [n][m + 1] tiles of lane-wise gradient sums
  step_path last_path = step_path::tiles;
  x_route last_x_route = x_route::dense;
  isa last_isa = isa::machine;  // the level whose kernels the last step ran (never isa::machine after a step)
  // Test hook (set through tied_fast_force_isa): the level whose kernels the steps run; isa::machine, as in
  // every run, is the machine's best.
  isa forced_isa = isa::machine;
  // Wide models (m >= 16) also keep sample-major copies, rows padded to mp = 16 ceil(m / 16) floats, for the
  // entry-by-entry paths taken when x or g is sparse.
  int mv = 0;                            // mp / 16; 0 when m < 16
  aligned_floats Wp, dWp;                // [n][mp] W and its gradient, padded
  aligned_floats Hs, DHs;                // [tiles 16][mp] h and dL/dh per sample
  aligned_floats Xs;                     // [16][np] one tile of X, sample-major (np = 16 ceil(n / 16))
  std::int64_t g_nonzero = 0;            // non-zeros of g in the last step (small path: only with a profile)
  std::vector<std::uint8_t> x_nz, g_nz;  // [n][tiles] tile has a non-zero
  std::vector<std::int32_t> list;        // [tiles][n + 1] per tile: count, then the rows that are non-zero
  std::vector<float> cI;                 // [n] c I_i, the output gradient's factor (c = 2 / (B n))
  batch_sampler sampler;
  std::vector<std::int64_t> written;  // entries of X set by the last batch
  bool x_listed = false;  // `written` lists every non-zero of the batch, sample after sample (batch_source)
  // The batch's non-zeros sample after sample for the entry-by-entry paths of wide models, from the binomial
  // sampler or from the Bernoulli tiles at moderate densities: sample s owns entries [entry_offset[s],
  // entry_offset[s + 1]) ([tiles 16 + 1]), each a feature and its value ([B n + 16] each).
  std::vector<std::int32_t> entry_offset, entry_i;
  std::vector<float> entry_x;
  std::int64_t last_nnz = 0;             // non-zeros in the last batch (for benchmarks)
  tied_fast_profile* profile = nullptr;  // set by benchmarks only

  void reserve(int B, int n, int m);
};

// Whether this kernel computes a kind at n x m (the others train through the reference, model_loss_and_grad):
// linear, relu and abs (untied, the tiled products) at any size, relu-hidden where the one-pass small-model
// path applies (m <= 8, n m <= 256).
bool tied_fast_supports(model_kind kind, int n, int m);

// Whether training this config can take the kernel: a supported kind, no hidden bias, no L1 penalty (it
// computes neither), no adversarial training (its inputs are dense, and not the loss's targets), and uniform
// values, or for abs either (the batch source fills signed tiles; the tied
// kinds keep the reference path for signed values, as their runs always had).
inline bool tied_fast_supports(const train_config& c) {
  return tied_fast_supports(c.model, c.features, c.hidden) && !c.hidden_bias && c.l1 == 0 &&
         c.adversarial_training == 0 &&
         (c.values == value_distribution::uniform || c.model == model_kind::abs);
}

// The loss of the batch a batch_source filled into ws (X, x_nz, written, x_listed, last_nnz), its gradient
// accumulated (+=) into grad (the tied layout: W [n][m], then b [n]). The same contract as
// model_loss_and_grad. Throws run_error for a kind it does not support (tied_fast_supports), never computing
// another model instead.
double tied_fast_loss_and_grad(model_kind kind, float* grad, const float* params, const float* importance,
                               tied_fast_workspace& ws);

// The level whose kernels every run on this machine uses: "avx512", "avx2" or "baseline".
const char* tied_fast_isa();

// For tests: makes the steps of `ws` run the kernels, and its sampler the tile clones and Philox path, of
// level `which` (isa::machine: back to the machine's best), as a machine with only that level would; the
// Bernoulli listing of wide models (AVX-512 only) follows the level too. Returns false, changing nothing,
// when this machine cannot run it.
bool tied_fast_force_isa(tied_fast_workspace& ws, isa which);

}  // namespace tms::kernels
