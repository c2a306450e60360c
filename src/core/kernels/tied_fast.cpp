#include "core/kernels/tied_fast.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>
#include <type_traits>

#include <immintrin.h>

#include "core/data_sparse.hpp"
#include "core/errors.hpp"

// Each kernel (TMS_KERNEL) is an always-inline body compiled three times, for x86-64-v4, -v3 and baseline
// (kernels::clones, isa.hpp), into the kernel_set of each level; a step uses the machine's best set, chosen
// once, unless a test forced another (tied_fast_force_isa).
#define TMS_INLINE inline __attribute__((always_inline))
#define TMS_KERNEL TMS_INLINE

namespace tms::kernels {
namespace {

// One tile: 16 consecutive samples of one row. GCC lowers it to one AVX-512 register, two AVX2 registers or
// four SSE registers, depending on the clone.
typedef float v16 __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
constexpr int tile = 16;

TMS_INLINE v16 load(const float* p) {
  v16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
TMS_INLINE void store(float* p, v16 v) {
  std::memcpy(p, &v, sizeof v);
}
TMS_INLINE v16 splat(float x) {
  return v16{} + x;
}

// Sum of the 16 lanes in a fixed pairwise order.
TMS_INLINE float hsum(v16 v) {
  v16 a = v + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
  a = a + __builtin_shufflevector(a, a, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
  a = a + __builtin_shufflevector(a, a, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
  return a[0] + a[1];
}

// The non-zero lanes as a 16-bit mask: narrow the lane flags to bytes (one instruction with AVX-512), then
// take their sign bits (SSE2, so every clone has it).
TMS_INLINE unsigned nonzero_mask(v16 v) {
  typedef char v16c __attribute__((vector_size(16)));
  const v16c c = __builtin_convertvector(v != v16{}, v16c);
  return static_cast<unsigned>(_mm_movemask_epi8(reinterpret_cast<__m128i>(c)));
}

// outT[k][t] = sum over the listed rows i of W[i][k] inT[i][t], for k in [k0, k0 + R): R outputs per pass.
// Tile t of a tiled matrix with `rows` rows starts at (t rows) 16.
TMS_INLINE std::size_t at(int t, int rows, int row) {
  return (static_cast<std::size_t>(t) * rows + row) * tile;
}

// out[t][k] = sum over the listed rows i of W[i][k] in[t][i], for tiles t0 .. t0 + T - 1 and k in [k0, k0 +
// R): R T outputs per pass, so each listed row costs T loads and R broadcasts for R T multiply-adds.
template <int R, int T>
TMS_INLINE void wT_block(float* out, const float* in, const std::int32_t* rows, int count, const float* W,
                         int n, int m, int t0, int k0) {
  v16 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < T; ++u) acc[r][u] = v16{};
  for (int j = 0; j < count; ++j) {
    const int i = rows[j];
    v16 x[T];
    for (int u = 0; u < T; ++u) x[u] = load(in + at(t0 + u, n, i));
    const float* w = W + static_cast<std::size_t>(i) * m + k0;
    for (int r = 0; r < R; ++r)
      for (int u = 0; u < T; ++u) acc[r][u] += w[r] * x[u];
  }
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < T; ++u) store(out + at(t0 + u, m, k0 + r), acc[r][u]);
}

// One block of R outputs from k0 (R = 1 ... 12, a run-time value dispatched to the template).
template <int T>
TMS_INLINE void wT_block_any(int R, float* out, const float* in, const std::int32_t* rows, int count,
                             const float* W, int n, int m, int t0, int k0) {
  switch (R) {
#define TMS_WT_CASE(r) \
  case r:              \
    return wT_block<r, T>(out, in, rows, count, W, n, m, t0, k0);
    TMS_WT_CASE(1)
    TMS_WT_CASE(2)
    TMS_WT_CASE(3)
    TMS_WT_CASE(4)
    TMS_WT_CASE(5)
    TMS_WT_CASE(6)
    TMS_WT_CASE(7)
    TMS_WT_CASE(8)
    TMS_WT_CASE(9)
    TMS_WT_CASE(10)
    TMS_WT_CASE(11)
#undef TMS_WT_CASE
    default:
      return wT_block<12, T>(out, in, rows, count, W, n, m, t0, k0);
  }
}

// The m outputs in the fewest passes of at most 12 (each pass re-reads the listed input rows), split evenly:
// m = 30 goes as 10 + 10 + 10 rather than 8 + 8 + 8 + 4 + 1 + 1, whose narrow blocks are load-bound.
template <int T>
TMS_INLINE void wT_tiles(float* out, const float* in, const std::int32_t* L, const float* W, int n, int m,
                         int t0) {
  const int passes = (m + 11) / 12;
  for (int p = 0, k0 = 0; p < passes; ++p) {
    const int R = (m - k0) / (passes - p);  // the first passes take the smaller share
    wT_block_any<T>(R, out, in, L + 1, L[0], W, n, m, t0, k0);
    k0 += R;
  }
}

// h = W x (out = H, in = X) and dh = W^T g (out = DH, in = Y): tiled [m] from tiled [n]. Tiles go in pairs;
// `list` holds, per pair, the rows non-zero in either tile (see build_lists).
TMS_KERNEL void gemm_wT(float* out, const float* in, const std::int32_t* list, const float* W, int n, int m,
                        int tiles) {
  for (int t0 = 0; t0 < tiles; t0 += 2) {
    const std::int32_t* L = list + static_cast<std::size_t>(t0 / 2) * (n + 1);
    if (t0 + 1 < tiles)
      wT_tiles<2>(out, in, L, W, n, m, t0);
    else
      wT_tiles<1>(out, in, L, W, n, m, t0);
  }
}

struct output_args {
  float* Y;
  std::uint8_t* g_nz;
  const float* X;
  const float* H;
  const float* W;
  const float* b;
  const float* importance;
  const float* cI;  // [n] c I_i, the gradient's factor (c = 2 / (B n): the derivative of the mean)
  bool relu;
  int n, m, B, tiles;
};

struct output_result {
  double loss = 0;           // summed over the batch, not yet divided by B n
  std::int64_t nonzero = 0;  // entries of g that are not zero
};

// pre = W h + b for rows [i0, i0 + R) of tiles t0 .. t0 + T - 1; then x' = act(pre), r = x' - x,
// loss += I r^2 and g = 2 I r / (B n), zeroed where the ReLU is off and (Partial: the last tile, T = 1) on
// padding samples. Returns the loss lanes. I and c I are read from memory at each use (a broadcast folded
// into the multiply, rather than a product and two broadcasts per row and tile).
template <int R, int T, bool Relu, bool Partial, bool Avx512>
TMS_INLINE v16 output_block(const output_args& a, int t0, int i0, v16 valid, std::int64_t& nonzero) {
  // Locals, so that the stores to Y do not force the arguments to be reloaded.
  const int n = a.n, m = a.m, tiles = a.tiles;
  const float* __restrict H = a.H;
  const float* __restrict W = a.W + static_cast<std::size_t>(i0) * m;
  const float* __restrict importance = a.importance + i0;
  const float* __restrict cI = a.cI + i0;
  v16 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < T; ++u) acc[r][u] = splat(a.b[i0 + r]);
  for (int k = 0; k < m; ++k) {
    v16 h[T];
    for (int u = 0; u < T; ++u) h[u] = load(H + at(t0 + u, m, k));
    for (int r = 0; r < R; ++r)
      for (int u = 0; u < T; ++u) acc[r][u] += W[r * m + k] * h[u];
  }
  float* __restrict Y = a.Y;
  const float* __restrict X = a.X;
  std::uint8_t* __restrict g_nz = a.g_nz + static_cast<std::size_t>(i0) * tiles + t0;
  v16 loss{};
  // Unrolled, so that acc stays in registers (indexed by constants) through the product loop above.
#pragma GCC unroll 4
  for (int u = 0; u < T; ++u) {
    // Rows i0 ... i0 + R - 1 of a tile are consecutive vectors.
    float* y = Y + at(t0 + u, n, i0);
    const float* x = X + at(t0 + u, n, i0);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      v16 res, g;
      if constexpr (Relu) {
        const v16i on = acc[r][u] > v16{};
        res = (v16)((v16i)acc[r][u] & on) - load(x + tile * r);
        if constexpr (Partial) res *= valid;
        g = on ? cI[r] * res : v16{};  // one multiply under the ReLU's mask
      } else {
        res = acc[r][u] - load(x + tile * r);
        if constexpr (Partial) res *= valid;
        g = cI[r] * res;
      }
      loss += importance[r] * (res * res);
      store(y + tile * r, g);
      unsigned mask;
      if constexpr (Avx512) {
        // g != 0 lane by lane into a mask register (the same predicate as nonzero_mask: not-equal or
        // unordered), then one move to a general register. Written as an instruction because this body is
        // inlined into an AVX-512 function only, while the template itself carries no target.
        std::uint16_t k;
        asm("vcmpneqps %[zero], %[g], %[k]" : [k] "=k"(k) : [g] "v"(g), [zero] "v"(v16{}));
        mask = k;
      } else {
        mask = nonzero_mask(g);
      }
      g_nz[static_cast<std::size_t>(r) * tiles + u] = mask != 0;
      nonzero += __builtin_popcount(mask);
    }
  }
  return loss;
}

template <int T, bool Relu, bool Partial, bool Avx512>
TMS_INLINE v16 output_tiles_at(const output_args& a, int t0, v16 valid, std::int64_t& nz) {
  v16 loss{};
  int i0 = 0;
  for (; i0 + 8 <= a.n; i0 += 8) loss += output_block<8, T, Relu, Partial, Avx512>(a, t0, i0, valid, nz);
  for (; i0 + 4 <= a.n; i0 += 4) loss += output_block<4, T, Relu, Partial, Avx512>(a, t0, i0, valid, nz);
  for (; i0 < a.n; ++i0) loss += output_block<1, T, Relu, Partial, Avx512>(a, t0, i0, valid, nz);
  return loss;
}

// Full tiles in pairs, then a last full tile alone, then the partial tile with its padding mask.
template <bool Relu, bool Avx512>
TMS_INLINE output_result output_tiles(const output_args& a) {
  output_result out;
  const int full = a.B / tile;
  int t0 = 0;
  for (; t0 + 2 <= full; t0 += 2)
    out.loss += hsum(output_tiles_at<2, Relu, false, Avx512>(a, t0, v16{}, out.nonzero));
  if (t0 < full) out.loss += hsum(output_tiles_at<1, Relu, false, Avx512>(a, t0++, v16{}, out.nonzero));
  if (full < a.tiles) {
    v16 valid;
    for (int l = 0; l < tile; ++l) valid[l] = tile * full + l < a.B ? 1.0f : 0.0f;
    out.loss += hsum(output_tiles_at<1, Relu, true, Avx512>(a, full, valid, out.nonzero));
  }
  return out;
}

// Avx512: g's non-zero lanes taken from a mask register (the same arithmetic, so the same bits); only the
// x86-64-v4 build (clones<output_and_grad<true>>::avx512) may use it, the other levels build <false>.
template <bool Avx512>
TMS_KERNEL output_result output_and_grad(const output_args& a) {
  return a.relu ? output_tiles<true, Avx512>(a) : output_tiles<false, Avx512>(a);
}

// ---- Sample-major paths for wide models (m >= 16) and sparse x or g: one entry at a time, m / 16 vectors
// each, so the work follows the non-zero entries rather than the non-zero tiles. Rows are padded to mp = 16
// mv floats (mv vectors); Wp and dWp are padded copies of W and dW.

// x's non-zeros sample after sample (compressed rows): sample s owns entries [offset[s], offset[s + 1]), each
// a feature i and its value x (the workspace owns the arrays).
struct x_entries {
  std::int32_t* offset;  // [tiles 16 + 1]
  std::int32_t* i;
  float* x;
};

// Decodes a position in the tiled X into (sample, feature).
TMS_INLINE void untile(std::int64_t at, int n, int& s, int& i) {
  const std::int64_t t = at / (static_cast<std::int64_t>(tile) * n), rem = at - t * tile * n;
  i = static_cast<int>(rem / tile);
  s = static_cast<int>(t * tile + rem % tile);
}

// Column chunks of up to 4 vectors: f(V, q0) for the vectors [q0, q0 + V) of a padded row.
template <typename F>
TMS_INLINE void by_chunks(int mv, F&& f) {
  for (int q0 = 0; q0 < mv;) {
    const int V = std::min(4, mv - q0);
    switch (V) {
      case 4:
        f(std::integral_constant<int, 4>{}, q0);
        break;
      case 3:
        f(std::integral_constant<int, 3>{}, q0);
        break;
      case 2:
        f(std::integral_constant<int, 2>{}, q0);
        break;
      default:
        f(std::integral_constant<int, 1>{}, q0);
    }
    q0 += V;
  }
}

// h[q0 .. q0 + V) = sum over entries [j0, j1) of x Wp[i] (those vectors), in registers. Sets = 2: two
// accumulator sets take alternate entries, so consecutive multiply-adds do not wait on each other; Sets = 1:
// one chain in list order.
template <int V, int Sets>
TMS_INLINE void row_h(float* h, const std::int32_t* idx, const float* xv, int j0, int j1, const float* Wp,
                      std::size_t mp, int q0) {
  v16 a0[V], a1[V];
  for (int q = 0; q < V; ++q) a0[q] = a1[q] = v16{};
  const float* Wq = Wp + tile * q0;
  int j = j0;
  if constexpr (Sets == 2)
    for (; j + 1 < j1; j += 2) {
      const float* w0 = Wq + idx[j] * mp;
      const float* w1 = Wq + idx[j + 1] * mp;
      const v16 x0 = splat(xv[j]), x1 = splat(xv[j + 1]);
      for (int q = 0; q < V; ++q) {
        a0[q] += x0 * load(w0 + tile * q);
        a1[q] += x1 * load(w1 + tile * q);
      }
    }
  for (; j < j1; ++j) {
    const float* w0 = Wq + idx[j] * mp;
    const v16 x0 = splat(xv[j]);
    for (int q = 0; q < V; ++q) a0[q] += x0 * load(w0 + tile * q);
  }
  for (int q = 0; q < V; ++q) store(h + tile * (q0 + q), Sets == 2 ? a0[q] + a1[q] : a0[q]);
}

// Hs[s] = sum over sample s's entries (i, x) of x Wp[i] (h = W x), for every row s < rows.
template <int Sets>
TMS_INLINE void element_h_rows(float* Hs, const float* Wp, const x_entries& e, int mv, int rows) {
  const std::size_t mp = static_cast<std::size_t>(mv) * tile;
  for (int s = 0; s < rows; ++s)
    by_chunks(
        mv, [&](auto V, int q0) __attribute__((always_inline)) {
          row_h<V(), Sets>(Hs + s * mp, e.i, e.x, e.offset[s], e.offset[s + 1], Wp, mp, q0);
        });
}

// two_sets: two interleaved accumulator sets (faster on long rows), else one chain in list order.
TMS_KERNEL void element_h(float* Hs, const float* Wp, const x_entries& e, int mv, int rows, bool two_sets) {
  if (two_sets)
    element_h_rows<2>(Hs, Wp, e, mv, rows);
  else
    element_h_rows<1>(Hs, Wp, e, mv, rows);
}

// One step of the 16 x 16 transpose: rows i and i + b exchange their blocks of b lanes.
#define TMS_STEP(b, lo, hi)                                      \
  for (int i = 0; i < tile; ++i)                                 \
    if (!(i & (b))) {                                            \
      const v16 x = a[i], y = a[i + (b)];                        \
      a[i] = __builtin_shufflevector(x, y, TMS_EXPAND lo);       \
      a[i + (b)] = __builtin_shufflevector(x, y, TMS_EXPAND hi); \
    }
#define TMS_EXPAND(...) __VA_ARGS__

// a[j][l] -> a[l][j] in place: four steps of pairwise block exchanges (two-input shuffles).
TMS_INLINE void transpose16(v16 (&a)[tile]) {
  TMS_STEP(8, (0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
           (8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
  TMS_STEP(4, (0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
           (4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
  TMS_STEP(2, (0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
           (2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
  TMS_STEP(1, (0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
           (1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
}
#undef TMS_STEP
#undef TMS_EXPAND

// Tiled [m] -> sample-major rows [tiles 16][mp] (the padding columns m ... mp - 1 zero), 16 x 16 blocks at a
// time.
TMS_KERNEL void rows_from_tiles(float* rows, const float* T, int m, int mv, int tiles) {
  const int mp = mv * tile;
  for (int t = 0; t < tiles; ++t)
    for (int q = 0; q < mv; ++q) {
      v16 a[tile];
      const int k0 = tile * q;
      for (int j = 0; j < tile; ++j) a[j] = k0 + j < m ? load(T + at(t, m, k0 + j)) : v16{};
      transpose16(a);
      for (int l = 0; l < tile; ++l) store(rows + static_cast<std::size_t>(tile * t + l) * mp + k0, a[l]);
    }
}

// Sample-major rows [tiles 16][mp] -> tiled [m], the inverse of rows_from_tiles.
TMS_KERNEL void tiles_from_rows(float* T, const float* rows, int m, int mv, int tiles) {
  const int mp = mv * tile;
  for (int t = 0; t < tiles; ++t)
    for (int q = 0; q < mv; ++q) {
      v16 a[tile];
      const int k0 = tile * q;
      for (int l = 0; l < tile; ++l) a[l] = load(rows + static_cast<std::size_t>(tile * t + l) * mp + k0);
      transpose16(a);
      for (int j = 0; j < tile && k0 + j < m; ++j) store(T + at(t, m, k0 + j), a[j]);
    }
}

// For every non-zero g_si: DHs[s] += g Wp[i] (dh = W^T g) and dWp[i] += g Hs[s] (dW += g h^T); db_i += g.
TMS_KERNEL void element_g(float* dWp, float* db, float* DHs, const float* Y, const std::uint8_t* g_nz,
                          const float* Hs, const float* Wp, int n, int mv, int tiles) {
  const std::size_t mp = static_cast<std::size_t>(mv) * tile;
  std::memset(DHs, 0, sizeof(float) * tiles * tile * mp);
  for (int t = 0; t < tiles; ++t)
    for (int i = 0; i < n; ++i) {
      if (!g_nz[static_cast<std::size_t>(i) * tiles + t]) continue;
      const float* y = Y + at(t, n, i);
      db[i] += hsum(load(y));
      const float* w = Wp + i * mp;
      float* dw = dWp + i * mp;
      for (int l = 0; l < tile; ++l) {
        const float g = y[l];
        if (g == 0.0f) continue;
        const std::size_t s = static_cast<std::size_t>(tile * t + l);
        float* dh = DHs + s * mp;
        const float* h = Hs + s * mp;
        for (int q = 0; q < mv; ++q) {
          store(dh + tile * q, load(dh + tile * q) + g * load(w + tile * q));
          store(dw + tile * q, load(dw + tile * q) + g * load(h + tile * q));
        }
      }
    }
}

// dWp[i] += x DHs[s] for every entry (s, i, x) (dW += x dh^T), sample after sample: DHs[s] stays in
// registers, and consecutive entries of a sample hit different rows of dWp.
TMS_KERNEL void element_x(float* dWp, const float* DHs, const x_entries& e, int mv, int rows) {
  const std::size_t mp = static_cast<std::size_t>(mv) * tile;
  for (int s = 0; s < rows; ++s) {
    const int j0 = e.offset[s], j1 = e.offset[s + 1];
    if (j0 == j1) continue;
    by_chunks(
        mv, [&](auto V, int q0) __attribute__((always_inline)) {
          v16 d[V()];
          for (int q = 0; q < V(); ++q) d[q] = load(DHs + s * mp + tile * (q0 + q));
          for (int j = j0; j < j1; ++j) {
            const v16 x = splat(e.x[j]);
            float* w = dWp + e.i[j] * mp + tile * q0;
            for (int q = 0; q < V(); ++q) store(w + tile * q, load(w + tile * q) + x * d[q]);
          }
        });
  }
}

// The binomial sampler's entries (positions in the tiled X, sample after sample) as compressed rows.
void entries_from_positions(x_entries& e, const std::vector<std::int64_t>& written, const float* X, int n,
                            int rows) {
  const auto count = static_cast<std::int32_t>(written.size());
  int next = 0;  // the next row whose offset is due
  for (std::int32_t j = 0; j < count; ++j) {
    int s, i;
    untile(written[j], n, s, i);
    while (next <= s) e.offset[next++] = j;
    e.i[j] = i, e.x[j] = X[written[j]];
  }
  while (next <= rows) e.offset[next++] = count;
}

// The non-zeros of a Bernoulli batch as compressed rows (AVX-512 only; elsewhere those batches take the tiled
// products): each tile is transposed to sample-major rows (Xs: scratch [16][np]; to_rows: the step's
// rows_from_tiles), whose non-zero lanes are compressed out 16 features at a time.
__attribute__((target("avx512f"))) void entries_from_tiles_avx512(x_entries& e, float* Xs, const float* X,
                                                                  int n, int tiles,
                                                                  void (*to_rows)(float*, const float*, int,
                                                                                  int, int)) {
  const int np = (n + tile - 1) / tile * tile;
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  std::int32_t count = 0;
  for (int t = 0; t < tiles; ++t) {
    to_rows(Xs, X + at(t, n, 0), n, np / tile, 1);  // this tile, sample-major
    for (int l = 0; l < tile; ++l) {
      e.offset[t * tile + l] = count;
      const float* x = Xs + static_cast<std::size_t>(l) * np;
      for (int i0 = 0; i0 < np; i0 += tile) {
        const __m512 v = _mm512_load_ps(x + i0);
        const __mmask16 on = _mm512_cmpneq_ps_mask(v, _mm512_setzero_ps());
        // Full 16-lane stores past the end are overwritten next (the arrays have 16 spare slots).
        _mm512_storeu_ps(e.x + count, _mm512_maskz_compress_ps(on, v));
        _mm512_storeu_si512(e.i + count,
                            _mm512_maskz_compress_epi32(on, _mm512_add_epi32(iota, _mm512_set1_epi32(i0))));
        count += __builtin_popcount(on);
      }
    }
  }
  e.offset[tiles * tile] = count;
}

// dW[i0 + r][k0 + q] += sum over the listed tiles t of <A[t][i0 + r], B[t][k0 + q]>: R rows x K columns per
// pass, so each tile costs R + K loads for R K fused multiply-adds.
template <int R, int K>
TMS_INLINE void abT_rows_block(float* dW, const float* A, const float* Bm, const std::int32_t* tl, int count,
                               int n, int m, int i0, int k0) {
  v16 acc[R][K];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < K; ++q) acc[r][q] = v16{};
  for (int j = 0; j < count; ++j) {
    const int t = tl[j];
    // Within a tile the rows are consecutive 16-float vectors.
    const float* a_tile = A + at(t, n, i0);
    const float* b_tile = Bm + at(t, m, k0);
    v16 b[K];
    for (int q = 0; q < K; ++q) b[q] = load(b_tile + tile * q);
    for (int r = 0; r < R; ++r) {
      const v16 a = load(a_tile + tile * r);
      for (int q = 0; q < K; ++q) acc[r][q] += a * b[q];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < K; ++q) dW[static_cast<std::size_t>(i0 + r) * m + k0 + q] += hsum(acc[r][q]);
}

// Rows per block of gemm_abT: 6 rows x 4 columns = 24 accumulators, 10 loads per 24 multiply-adds.
constexpr int abT_block_rows = 6;

// Rows [i0, i0 + R) over the tiles in tl: db (when given) and every column block of dW.
template <int R>
TMS_INLINE void abT_rows(float* dW, float* db, const float* A, const float* Bm, const std::int32_t* tl,
                         int count, int n, int m, int i0) {
  if (db)
    for (int r = 0; r < R; ++r) {
      v16 s{};
      for (int j = 0; j < count; ++j) s += load(A + at(tl[j], n, i0 + r));
      db[i0 + r] += hsum(s);
    }
  constexpr int K = R == 1 ? 8 : 4;
  int k0 = 0;
  for (; k0 + K <= m; k0 += K) abT_rows_block<R, K>(dW, A, Bm, tl, count, n, m, i0, k0);
  for (; k0 < m; ++k0) abT_rows_block<R, 1>(dW, A, Bm, tl, count, n, m, i0, k0);
}

// dW += A B^T over the non-zero tiles of A (tiled [n] x tiled [m] -> [n][m]); db += row sums of A when db is
// given. Rows go eight at a time over the union of their non-zero tiles, unless that union would more than
// double the work (sparse, scattered rows), in which case each row goes alone over its own tiles.
// `tl` is scratch of `tiles` ints.
TMS_KERNEL void gemm_abT(float* dW, float* db, const float* A, const std::uint8_t* a_nz, const float* Bm,
                         std::int32_t* tl, int n, int m, int tiles) {
  auto row_list = [&](int i) {
    int count = 0;  // branch-free: the pattern of non-zero tiles is random
    for (int t = 0; t < tiles; ++t) {
      tl[count] = t;
      count += a_nz[static_cast<std::size_t>(i) * tiles + t];
    }
    return count;
  };
  int i0 = 0;
  for (; i0 + abT_block_rows <= n; i0 += abT_block_rows) {
    int union_count = 0, row_sum = 0;
    for (int t = 0; t < tiles; ++t) {
      int any = 0;
      for (int r = 0; r < abT_block_rows; ++r) any += a_nz[static_cast<std::size_t>(i0 + r) * tiles + t];
      row_sum += any;
      tl[union_count] = t;
      union_count += any > 0;
    }
    if (union_count == 0) continue;
    if (abT_block_rows * union_count <= 2 * row_sum) {
      abT_rows<abT_block_rows>(dW, db, A, Bm, tl, union_count, n, m, i0);
    } else {
      for (int i = i0; i < i0 + abT_block_rows; ++i)
        if (const int count = row_list(i)) abT_rows<1>(dW, db, A, Bm, tl, count, n, m, i);
    }
  }
  for (int i = i0; i < n; ++i)
    if (const int count = row_list(i)) abT_rows<1>(dW, db, A, Bm, tl, count, n, m, i);
}

// ---- dW += A B^T as a sum of outer products, for wide models: A tiled [n] (g or x), B sample-major rows
// [tiles 16][mp] (h or dh), into the padded dWp [n][mp]. Per sample, V vectors of its B row are loaded once
// and multiplied by R broadcast scalars of A, so R V accumulators stay in registers for the whole batch and
// nothing is summed across lanes; each block of R rows (8 or 12) streams B once (the tiled form above streams
// it once per 6 rows and sums across lanes per block).
template <int R, int V>
TMS_INLINE void outer_block(float* dWp, const float* A, const float* Bs, const std::int32_t* tl, int count,
                            int n, int mp, int i0, int q0) {
  v16 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = v16{};
  for (int j = 0; j < count; ++j) {
    const int t = tl[j];
    const float* a = A + at(t, n, i0);  // rows i0 ... i0 + R - 1 of tile t: consecutive 16-float vectors
    const float* b = Bs + (static_cast<std::size_t>(t) * tile * mp) + tile * q0;
    for (int l = 0; l < tile; ++l) {
      v16 bv[V];
      for (int v = 0; v < V; ++v) bv[v] = load(b + static_cast<std::size_t>(l) * mp + tile * v);
      for (int r = 0; r < R; ++r) {
        const float ar = a[r * tile + l];
        for (int v = 0; v < V; ++v) acc[r][v] += ar * bv[v];
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      float* d = dWp + static_cast<std::size_t>(i0 + r) * mp + tile * (q0 + v);
      store(d, load(d) + acc[r][v]);
    }
}

// Vectors in the next column chunk, with `left` vectors of the row still to do: 3 unless that would leave a
// single vector behind (so 7 = 3 + 2 + 2, 4 = 2 + 2), else 2, else 1.
TMS_INLINE int chunk_vectors(int left) {
  return left >= 3 && left != 4 ? 3 : left >= 2 ? 2 : 1;
}

// Rows [i0, i0 + R) over the tiles in tl, every column chunk: 3 vectors by 8 rows, 2 by 12, 1 by 12 (24
// accumulators at most).
template <int R3, int R2, int R1>
TMS_INLINE void outer_rows(float* dWp, const float* A, const float* Bs, const std::int32_t* tl, int count,
                           int n, int mv, int i0) {
  const int mp = mv * tile;
  for (int q0 = 0; q0 < mv;) {
    const int V = chunk_vectors(mv - q0);
    if (V == 3)
      outer_block<R3, 3>(dWp, A, Bs, tl, count, n, mp, i0, q0);
    else if (V == 2)
      outer_block<R2, 2>(dWp, A, Bs, tl, count, n, mp, i0, q0);
    else
      outer_block<R1, 1>(dWp, A, Bs, tl, count, n, mp, i0, q0);
    q0 += V;
  }
}

// db_i += the sum of row i of A over the listed tiles, for rows [i0, i0 + R) (just read by the products, so
// in cache); lanes summed once per row.
template <int R>
TMS_INLINE void block_sums(float* db, const float* A, const std::int32_t* tl, int count, int n, int i0) {
  v16 s[R];
  for (int r = 0; r < R; ++r) s[r] = v16{};
  for (int j = 0; j < count; ++j) {
    const float* a = A + at(tl[j], n, i0);  // the R rows of one tile are consecutive
    for (int r = 0; r < R; ++r) s[r] += load(a + tile * r);
  }
  for (int r = 0; r < R; ++r) db[i0 + r] += hsum(s[r]);
}

// dWp += A B^T over the tiles where a row block of A has a non-zero, and db += the row sums of A when db is
// given. Rows go 24 at a time over one shared tile list (the union of their rows' non-zero tiles), in passes
// of 8 or 12 rows by the column chunk, each streaming that chunk of B once; then 4 rows, then 1.
TMS_KERNEL void gemm_outer(float* dWp, float* db, const float* A, const std::uint8_t* a_nz, const float* Bs,
                           std::int32_t* tl, int n, int mv, int tiles) {
  auto block_list = [&](int i0, int R) {
    int count = 0;  // branch-free: the pattern of non-zero tiles is random
    for (int t = 0; t < tiles; ++t) {
      int any = 0;
      for (int r = 0; r < R; ++r) any |= a_nz[static_cast<std::size_t>(i0 + r) * tiles + t];
      tl[count] = t;
      count += any != 0;
    }
    return count;
  };
  const int mp = mv * tile;
  int i0 = 0;
  for (; i0 + 24 <= n; i0 += 24) {
    const int count = block_list(i0, 24);
    if (count == 0) continue;
    for (int c = 0; c < mv;) {  // column chunks of 3, 2 or 1 vectors, each over the 24 rows
      const int V = chunk_vectors(mv - c);
      if (V == 3)
        for (int r = 0; r < 24; r += 8) outer_block<8, 3>(dWp, A, Bs, tl, count, n, mp, i0 + r, c);
      else if (V == 2)
        for (int r = 0; r < 24; r += 12) outer_block<12, 2>(dWp, A, Bs, tl, count, n, mp, i0 + r, c);
      else
        for (int r = 0; r < 24; r += 12) outer_block<12, 1>(dWp, A, Bs, tl, count, n, mp, i0 + r, c);
      c += V;
    }
    if (db) block_sums<24>(db, A, tl, count, n, i0);
  }
  for (; i0 + 4 <= n; i0 += 4)
    if (const int count = block_list(i0, 4)) {
      outer_rows<4, 4, 4>(dWp, A, Bs, tl, count, n, mv, i0);
      if (db) block_sums<4>(db, A, tl, count, n, i0);
    }
  for (; i0 < n; ++i0)
    if (const int count = block_list(i0, 1)) {
      outer_rows<1, 1, 1>(dWp, A, Bs, tl, count, n, mv, i0);
      if (db) block_sums<1>(db, A, tl, count, n, i0);
    }
}

// ---- Small models (m <= small_m_max, n m <= small_nm_max): the whole step in one pass over the tiles, since
// for products this small the separate tiled passes cost more in loop overhead and memory traffic than in
// arithmetic. Per tile, h and dh (m vectors each) stay in registers and the gradient accumulates lane by lane
// in acc ([n][m + 1] vectors, L1-resident), summed across lanes once at the end in a fixed order.
// Branch-free: the few multiply-adds of a zero row cost less than a mispredicted skip.
struct small_args {
  float* dW;
  float* db;
  float* acc;  // [n][m + 1] tiles: the lanes of dW row i, then of db_i; then [2][n] tiles of scratch
  const float* X;
  const float* W;
  const float* b;
  const float* importance;
  int n, B, tiles;
  float c;     // 2 / (B n)
  bool count;  // count the non-zeros of g (benchmarks)
};

// T tiles from t0 (T = 2 halves the weight loads and doubles the independent chains); Partial: the last tile,
// with its padding mask. Hidden: the ReLU hidden-layer model (h = ReLU(W x); dL/dz = dL/dh where h > 0).
template <int M, int T, bool Relu, bool Partial, bool Hidden>
TMS_INLINE float small_tiles(const small_args& a, int t0, v16 valid, v16i& nonzero) {
  const int n = a.n;
  constexpr int row = (M + 1) * tile;  // floats per accumulator row
  // acc is written in the loop and aliases nothing: restrict lets the weights stay in registers.
  float* __restrict acc = a.acc;
  float* __restrict gt = a.acc + static_cast<std::size_t>(n) * row;  // [T][n] g of the current tiles
  const float* __restrict Wm = a.W;
  const float* __restrict X = a.X;
  v16 h[T][M];  // h = W x, [m] tiles
  for (int u = 0; u < T; ++u)
    for (int k = 0; k < M; ++k) h[u][k] = v16{};
  for (int i = 0; i < n; ++i) {
    const float* w = Wm + i * M;
    for (int u = 0; u < T; ++u) {
      const v16 x = load(X + at(t0 + u, n, i));
      for (int k = 0; k < M; ++k) h[u][k] += w[k] * x;
    }
  }
  if constexpr (Hidden)
    for (int u = 0; u < T; ++u)
      for (int k = 0; k < M; ++k) h[u][k] = (v16)((v16i)h[u][k] & (h[u][k] > v16{}));
  v16 dh[T][M];  // dL/dh = W^T g
  for (int u = 0; u < T; ++u)
    for (int k = 0; k < M; ++k) dh[u][k] = v16{};
  v16 loss{};
  for (int i = 0; i < n; ++i) {
    const float* w = Wm + i * M;
    const float I = a.importance[i], cI = a.c * I;
    for (int u = 0; u < T; ++u) {
      v16 pre = splat(a.b[i]);
      for (int k = 0; k < M; ++k) pre += w[k] * h[u][k];
      const v16 x = load(X + at(t0 + u, n, i));
      v16 res, g;
      if constexpr (Relu) {
        const v16i on = pre > v16{};
        res = (v16)((v16i)pre & on) - x;
        if constexpr (Partial) res *= valid;
        g = (v16)((v16i)(cI * res) & on);
      } else {
        res = pre - x;
        if constexpr (Partial) res *= valid;
        g = cI * res;
      }
      loss += I * (res * res);
      if (a.count) nonzero -= (v16i)(g != v16{});
      for (int k = 0; k < M; ++k) dh[u][k] += w[k] * g;
      store(gt + (static_cast<std::size_t>(u) * n + i) * tile, g);
    }
  }
  // The hidden ReLU's mask (h > 0 after the ReLU exactly where its input was), so the mask needs no register.
  if constexpr (Hidden)
    for (int u = 0; u < T; ++u)
      for (int k = 0; k < M; ++k) dh[u][k] = (v16)((v16i)dh[u][k] & (h[u][k] > v16{}));
  for (int i = 0; i < n; ++i) {  // dW += g h^T + x dh^T, db += g
    float* ac = acc + static_cast<std::size_t>(i) * row;
    v16 x[T], g[T];
    for (int u = 0; u < T; ++u)
      x[u] = load(X + at(t0 + u, n, i)), g[u] = load(gt + (static_cast<std::size_t>(u) * n + i) * tile);
    for (int k = 0; k < M; ++k) {
      v16 sum = load(ac + tile * k);
      for (int u = 0; u < T; ++u) {
        sum += g[u] * h[u][k];
        sum += x[u] * dh[u][k];
      }
      store(ac + tile * k, sum);
    }
    v16 sum = load(ac + tile * M);
    for (int u = 0; u < T; ++u) sum += g[u];
    store(ac + tile * M, sum);
  }
  return hsum(loss);
}

template <int M, bool Relu, bool Hidden>
TMS_INLINE output_result small_step(const small_args& a) {
  const int n = a.n;
  constexpr int row = (M + 1) * tile;
  std::memset(a.acc, 0, sizeof(float) * static_cast<std::size_t>(n) * row);
  constexpr int T = M <= 6 ? 2 : 1;  // two tiles at once while h and dh fit in the registers
  output_result out;
  v16i nonzero{};
  const int full = a.B / tile;
  int t0 = 0;
  for (; t0 + T <= full; t0 += T) out.loss += small_tiles<M, T, Relu, false, Hidden>(a, t0, v16{}, nonzero);
  for (; t0 < full; ++t0) out.loss += small_tiles<M, 1, Relu, false, Hidden>(a, t0, v16{}, nonzero);
  if (full < a.tiles) {
    v16 valid;
    for (int l = 0; l < tile; ++l) valid[l] = tile * full + l < a.B ? 1.0f : 0.0f;
    out.loss += small_tiles<M, 1, Relu, true, Hidden>(a, full, valid, nonzero);
  }
  for (int i = 0; i < n; ++i) {
    const float* ac = a.acc + static_cast<std::size_t>(i) * row;
    for (int k = 0; k < M; ++k) a.dW[static_cast<std::size_t>(i) * M + k] += hsum(load(ac + tile * k));
    a.db[i] += hsum(load(ac + tile * M));
  }
  for (int l = 0; l < tile; ++l) out.nonzero += nonzero[l];
  return out;
}

// The three tied kinds: linear (no ReLU), relu output, relu output and hidden.
template <int M>
TMS_INLINE output_result small_step_m(const small_args& a, model_kind kind) {
  switch (kind) {
    case model_kind::linear:
      return small_step<M, false, false>(a);
    case model_kind::relu_output:
      return small_step<M, true, false>(a);
    case model_kind::relu_hidden:
      return small_step<M, true, true>(a);
    case model_kind::abs:  // untied: tied_fast_supports refuses it before any step
      break;
  }
  return {};
}

TMS_KERNEL output_result small_model_step(const small_args& a, int m, model_kind kind) {
  switch (m) {
    case 1:
      return small_step_m<1>(a, kind);
    case 2:
      return small_step_m<2>(a, kind);
    case 3:
      return small_step_m<3>(a, kind);
    case 4:
      return small_step_m<4>(a, kind);
    case 5:
      return small_step_m<5>(a, kind);
    case 6:
      return small_step_m<6>(a, kind);
    case 7:
      return small_step_m<7>(a, kind);
    default:
      return small_step_m<8>(a, kind);
  }
}

// ---- The abs model's elementwise passes and its packing of sparse batches.

// Packs the non-empty samples of the tiled X (tiles tiles) into XC, tiled, in sample order, and their flags
// into xc_nz (stride: the kept tiles); returns how many were kept, or -1 when that would not save a tile
// (nothing written). mask: scratch [tiles], the lanes of each tile that hold a non-empty sample.
TMS_KERNEL int compact_samples(float* XC, std::uint8_t* xc_nz, std::uint16_t* mask, const float* X,
                               const std::uint8_t* x_nz, int n, int tiles) {
  int kept = 0;
  for (int t = 0; t < tiles; ++t) {
    unsigned on = 0;
    for (int i = 0; i < n; ++i)
      if (x_nz[static_cast<std::size_t>(i) * tiles + t]) on |= nonzero_mask(load(X + at(t, n, i)));
    mask[t] = static_cast<std::uint16_t>(on);
    kept += __builtin_popcount(on);
  }
  const int kept_tiles = (kept + tile - 1) / tile;
  if (kept_tiles == tiles) return -1;
  std::memset(XC, 0, sizeof(float) * static_cast<std::size_t>(kept_tiles) * n * tile);
  std::memset(xc_nz, 0, static_cast<std::size_t>(n) * kept_tiles);
  int base = 0;  // the packed index of tile t's first kept sample
  for (int t = 0; t < tiles; ++t) {
    const unsigned lanes = mask[t];
    if (!lanes) continue;
    for (int i = 0; i < n; ++i) {
      if (!x_nz[static_cast<std::size_t>(i) * tiles + t]) continue;
      const float* x = X + at(t, n, i);
      for (unsigned on = nonzero_mask(load(x)); on; on &= on - 1) {
        const int l = __builtin_ctz(on);
        const int s = base + __builtin_popcount(lanes & ((1u << l) - 1));  // l's rank among the kept lanes
        XC[at(s / tile, n, i) + s % tile] = x[l];
        xc_nz[static_cast<std::size_t>(i) * kept_tiles + s / tile] = 1;
      }
    }
    base += __builtin_popcount(lanes);
  }
  return kept;
}

// h = ReLU(h) and |x| (the target), over whole tiles (padding stays 0).
TMS_KERNEL void relu_and_abs(float* H, std::size_t h_count, float* XA, const float* X, std::size_t x_count) {
  for (std::size_t j = 0; j < h_count; ++j) H[j] = H[j] > 0.0f ? H[j] : 0.0f;
  for (std::size_t j = 0; j < x_count; ++j) XA[j] = std::fabs(X[j]);
}

// dz = dh [h > 0]: the gradient through the hidden ReLU.
TMS_KERNEL void relu_mask(float* DH, const float* H, std::size_t count) {
  for (std::size_t j = 0; j < count; ++j) DH[j] = H[j] > 0.0f ? DH[j] : 0.0f;
}

// Per pair of tiles (2p, 2p + 1): how many rows have a non-zero in either, then which (ascending).
void build_lists(std::int32_t* list, const std::uint8_t* nz, int n, int tiles) {
  for (int t0 = 0; t0 < tiles; t0 += 2) {
    std::int32_t* L = list + static_cast<std::size_t>(t0 / 2) * (n + 1);
    const bool pair = t0 + 1 < tiles;
    int count = 0;  // branch-free: the pattern is random
    for (int i = 0; i < n; ++i) {
      const std::uint8_t* row = nz + static_cast<std::size_t>(i) * tiles + t0;
      L[1 + count] = i;
      count += (row[0] | (pair ? row[1] : 0)) != 0;
    }
    L[0] = count;
  }
}

// The kernels of one instruction-set level: each member is the build of the body of the same name above.
struct kernel_set {
  isa level;
  void (*gemm_wT)(float*, const float*, const std::int32_t*, const float*, int, int, int);
  output_result (*output_and_grad)(const output_args&);
  void (*element_h)(float*, const float*, const x_entries&, int, int, bool);
  void (*rows_from_tiles)(float*, const float*, int, int, int);
  void (*tiles_from_rows)(float*, const float*, int, int, int);
  void (*element_g)(float*, float*, float*, const float*, const std::uint8_t*, const float*, const float*,
                    int, int, int);
  void (*element_x)(float*, const float*, const x_entries&, int, int);
  void (*gemm_abT)(float*, float*, const float*, const std::uint8_t*, const float*, std::int32_t*, int, int,
                   int);
  void (*gemm_outer)(float*, float*, const float*, const std::uint8_t*, const float*, std::int32_t*, int, int,
                     int);
  output_result (*small_model_step)(const small_args&, int, model_kind);
  int (*compact_samples)(float*, std::uint8_t*, std::uint16_t*, const float*, const std::uint8_t*, int, int);
  void (*relu_and_abs)(float*, std::size_t, float*, const float*, std::size_t);
  void (*relu_mask)(float*, const float*, std::size_t);
};

kernel_set make_kernel_set(isa w) {
  return {.level = w,
          .gemm_wT = clones<gemm_wT>::pick(w),
          .output_and_grad = w == isa::avx512 ? clones<output_and_grad<true>>::avx512
                                              : clones<output_and_grad<false>>::pick(w),
          .element_h = clones<element_h>::pick(w),
          .rows_from_tiles = clones<rows_from_tiles>::pick(w),
          .tiles_from_rows = clones<tiles_from_rows>::pick(w),
          .element_g = clones<element_g>::pick(w),
          .element_x = clones<element_x>::pick(w),
          .gemm_abT = clones<gemm_abT>::pick(w),
          .gemm_outer = clones<gemm_outer>::pick(w),
          .small_model_step = clones<small_model_step>::pick(w),
          .compact_samples = clones<compact_samples>::pick(w),
          .relu_and_abs = clones<relu_and_abs>::pick(w),
          .relu_mask = clones<relu_mask>::pick(w)};
}

// The set of a level (isa::machine: the machine's best); built once.
const kernel_set& kernels_for(isa which) {
  static const kernel_set sets[3] = {make_kernel_set(isa::baseline), make_kernel_set(isa::avx2),
                                     make_kernel_set(isa::avx512)};
  return sets[static_cast<int>(resolve_isa(which))];
}

}  // namespace

// From this many hidden dimensions on, the sample-major entry-by-entry paths are available (below, a row of h
// fills too little of a vector for them to pay).
constexpr int wide_m = 16;
// Models up to this size take the one-pass small-model path.
constexpr int small_m_max = 8, small_nm_max = 256;

bool is_small_model(int n, int m) {
  return m <= small_m_max && n * m <= small_nm_max;
}

bool tied_fast_supports(model_kind kind, int n, int m) {
  switch (kind) {
    case model_kind::linear:
    case model_kind::relu_output:
      return true;
    case model_kind::relu_hidden:  // the one-pass small path only: the others have no hidden ReLU
      return is_small_model(n, m);
    case model_kind::abs:  // untied: the tiled products with W_in and W_out (abs_step below)
      return true;
  }
  return false;
}
// Wide models whose rows fill their padded vectors well enough take dW as outer products (gemm_outer).
bool outer_pays(int m) {
  const int mp = (m + tile - 1) / tile * tile;
  return 8 * mp <= 9 * m;  // at most 1/9 of each vector is padding
}
// A Bernoulli batch of a wide model whose rows fill their vectors (outer_pays) is listed entry by entry when
// under this share of x is non-zero. Measured against the tiled products: n = 400, m = 30 (one thread): 20%
// faster at 0.2, even at 0.3, slower at 0.35; n = 1000, m = 100: 15-25% faster at 0.14, slower at 0.37. For
// n = 100, m = 20 (a third of each padded row empty) listing made the two-thread sweep 3-27% slower.
constexpr double x_entry_share = 0.25;

bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}

const char* tied_fast_isa() {
  return isa_name(isa::machine);
}

bool tied_fast_force_isa(tied_fast_workspace& ws, isa which) {
  if (!isa_supported(which)) return false;
  ws.forced_isa = which;
  ws.sampler.forced_isa = which;
  return true;
}

// The g path goes entry by entry when under this share of g is non-zero.
constexpr double sparse_g_share = 0.25;

void aligned_floats::assign(std::size_t count) {
  const std::size_t bytes = std::max<std::size_t>(64, (count * sizeof(float) + 63) / 64 * 64);
  auto* p = static_cast<float*>(::operator new(bytes, std::align_val_t(64)));
  std::memset(p, 0, bytes);
  data = std::unique_ptr<float[], void (*)(float*)>(
      p, [](float* q) { ::operator delete(q, std::align_val_t(64)); });
}

void tied_fast_workspace::reserve(int B_, int n_, int m_) {
  B = B_, n = n_, m = m_;
  tiles = (B + tile - 1) / tile;
  X.assign(static_cast<std::size_t>(tiles) * n * tile);
  XA.assign(static_cast<std::size_t>(tiles) * n * tile);
  XC.assign(static_cast<std::size_t>(tiles) * n * tile);
  xc_nz.assign(static_cast<std::size_t>(n) * tiles, 0);
  sample_mask.assign(tiles, 0);
  H.assign(static_cast<std::size_t>(tiles) * m * tile);
  Y.assign(static_cast<std::size_t>(tiles) * n * tile);
  DH.assign(static_cast<std::size_t>(tiles) * m * tile);
  mv = m >= wide_m ? (m + tile - 1) / tile : 0;
  if (mv) {
    Wp.assign(static_cast<std::size_t>(n) * mv * tile);
    dWp.assign(static_cast<std::size_t>(n) * mv * tile);
    Hs.assign(static_cast<std::size_t>(tiles) * tile * mv * tile);
    DHs.assign(static_cast<std::size_t>(tiles) * tile * mv * tile);
    Xs.assign(static_cast<std::size_t>(tile) * ((n + tile - 1) / tile * tile));
  }
  sampler.reserve(B, n);
  written.reserve(static_cast<std::size_t>(B) * n + 1);
  if (mv) {
    entry_offset.assign(static_cast<std::size_t>(tiles) * tile + 1, 0);
    entry_i.assign(static_cast<std::size_t>(B) * n + tile, 0);
    entry_x.assign(static_cast<std::size_t>(B) * n + tile, 0.0f);
  }
  written.clear();
  cI.assign(n, 0.0f);
  x_nz.assign(static_cast<std::size_t>(n) * tiles, 0);
  g_nz.assign(static_cast<std::size_t>(n) * tiles, 0);
  list.assign(static_cast<std::size_t>(tiles) * (n + 1) + tiles, 0);
  if (is_small_model(n, m)) acc.assign(static_cast<std::size_t>(n) * (m + 3) * tile);
}

namespace {

// Phase clock of a step, read only when a benchmark asked for a profile (training reads no clock).
struct phase_clock {
  tied_fast_profile* profile;
  std::chrono::steady_clock::time_point mark;
  explicit phase_clock(tied_fast_profile* p) : profile(p) {
    if (profile) mark = std::chrono::steady_clock::now();
  }
  void operator()(double tied_fast_profile::*slot) {
    if (!profile) return;
    const auto now = std::chrono::steady_clock::now();
    profile->*slot += std::chrono::duration<double>(now - mark).count();
    mark = now;
  }
};

// Samples whose x is all zero have h = ReLU(W_in 0) = 0 (the fast path has no hidden bias), so their output
// is ReLU(b), the same for each: their loss and db are Z times one sample's, and they add nothing to dW_in,
// dW_out or dh. A sparse batch (under this many non-zeros per sample: at least e^-3 of the samples of
// independent features are empty) is packed into the tiles of its non-empty samples when that saves at least
// one tile, so that all five products follow the samples that carry a feature.
constexpr double compact_below_per_sample = 3.0;
// Under this share of non-zeros, h = W_in x and dW_in += x dz^T go entry by entry over x's non-zeros (n =
// 100, m = 40, one thread, trained from initialisation: 13% faster at 0.1 and 0.03, no faster at 0.3).
constexpr double abs_entry_share = 0.2;

// The samples of compressed rows that have entries.
int samples_with_entries(const x_entries& e, int rows) {
  int kept = 0;
  for (int s = 0; s < rows; ++s) kept += e.offset[s + 1] > e.offset[s];
  return kept;
}

// Drops the empty samples from compressed rows, in place (sample s' <= s takes s's entries); the rows after
// the kept ones, up to `rows`, get none.
void pack_entries(x_entries& e, int rows) {
  int kept = 0;
  for (int s = 0; s < rows; ++s)
    if (e.offset[s + 1] > e.offset[s]) e.offset[kept++] = e.offset[s];
  const std::int32_t count = e.offset[rows];
  for (int s = kept; s <= rows; ++s) e.offset[s] = count;
}

// |x|, the target, tiled over `tiles` tiles, from compressed rows.
void targets_from_entries(float* XA, const x_entries& e, int n, int tiles) {
  std::memset(XA, 0, sizeof(float) * static_cast<std::size_t>(tiles) * n * tile);
  for (int s = 0; s < tiles * tile; ++s)
    for (int j = e.offset[s]; j < e.offset[s + 1]; ++j)
      XA[at(s / tile, n, e.i[j]) + s % tile] = std::fabs(e.x[j]);
}

// The abs model (model_abs.hpp) on the same tiled products, untied: h = ReLU(W_in^T x) (gemm_wT with W_in),
// y' = ReLU(W_out h + b) against |x| (output_and_grad with W_out and the target tiles |X|), dW_out += g h^T
// and db (gemm_abT), dh = W_out^T g (gemm_wT), dz = dh [h > 0], dW_in += x dz^T (gemm_abT). A sparse x
// goes entry by entry in h and dW_in (element_h, element_x), and a batch with many empty samples is packed
// to its non-empty ones, the empty ones added in closed form. Layout: W_in [n][m], W_out [n][m], b [n]
// (model_tensors' abs without a hidden bias).
double abs_step(float* grad, const float* params, const float* importance, tied_fast_workspace& ws,
                const kernel_set& K) {
  const int n = ws.n, m = ws.m, B = ws.B;
  const std::size_t nm = static_cast<std::size_t>(n) * m, mp = static_cast<std::size_t>(ws.mv) * tile;
  const float *W_in = params, *W_out = params + nm, *b = params + 2 * nm;
  float *dW_in = grad, *dW_out = grad + nm, *db = grad + 2 * nm;
  phase_clock phase(ws.profile);
  const bool sparse_samples = ws.last_nnz < compact_below_per_sample * B;

  // x's non-zeros entry by entry, sample after sample, when few enough: from the binomial sampler's list, or
  // from the tiles (AVX-512 only; a forced level stands for a machine that has just that level).
  x_entries entries{ws.entry_offset.data(), ws.entry_i.data(), ws.entry_x.data()};
  x_route route = x_route::dense;
  const bool can_list = ws.forced_isa == isa::machine ? has_avx512() : ws.forced_isa == isa::avx512;
  if (ws.mv > 0 && (ws.x_listed || can_list) && ws.last_nnz < abs_entry_share * n * static_cast<double>(B)) {
    if (ws.x_listed)
      entries_from_positions(entries, ws.written, ws.X.get(), n, ws.tiles * tile);
    else
      entries_from_tiles_avx512(entries, ws.Xs.get(), ws.X.get(), n, ws.tiles, K.rows_from_tiles);
    route = x_route::entries;
  }
  // The samples the products see (Bk of them, in `tiles` tiles): all of X, or its non-empty ones packed
  // (compressed rows on the entry route, else the tiles XC with their flags xc_nz).
  int Bk = B;
  const float* X = ws.X.get();
  const std::uint8_t* x_nz = ws.x_nz.data();
  if (sparse_samples && route == x_route::entries) {
    const int kept = samples_with_entries(entries, ws.tiles * tile);
    if ((kept + tile - 1) / tile < ws.tiles) {
      pack_entries(entries, ws.tiles * tile);
      Bk = kept;
    }
  } else if (sparse_samples) {
    const int kept =
        K.compact_samples(ws.XC.get(), ws.xc_nz.data(), ws.sample_mask.data(), X, x_nz, n, ws.tiles);
    if (kept >= 0) Bk = kept, X = ws.XC.get(), x_nz = ws.xc_nz.data();
  }
  const int tiles = (Bk + tile - 1) / tile;
  const bool packed = Bk < B;
  ws.last_kept = Bk;
  ws.last_x_route = route;
  const auto c = static_cast<float>(2.0 / (static_cast<double>(B) * n));
  for (int i = 0; i < n; ++i) ws.cI[i] = c * importance[i];
  output_result out;
  std::int32_t* tile_scratch = ws.list.data() + static_cast<std::size_t>(tiles) * (n + 1);
  if (Bk > 0) {
    const std::size_t xs = static_cast<std::size_t>(tiles) * n * tile,
                      hs = static_cast<std::size_t>(tiles) * m * tile;
    float *H = ws.H.get(), *XA = ws.XA.get();
    if (route == x_route::entries) {
      for (int i = 0; i < n; ++i)
        std::memcpy(ws.Wp.get() + i * mp, W_in + static_cast<std::size_t>(i) * m, sizeof(float) * m);
      if (packed) targets_from_entries(XA, entries, n, tiles);  // the packed X exists as entries only
    } else {
      build_lists(ws.list.data(), x_nz, n, tiles);
    }
    phase(&tied_fast_profile::sample);
    if (route == x_route::entries) {  // h = W_in x
      K.element_h(ws.Hs.get(), ws.Wp.get(), entries, ws.mv, tiles * tile, !ws.x_listed);
      K.tiles_from_rows(H, ws.Hs.get(), m, ws.mv, tiles);
    } else {
      K.gemm_wT(H, X, ws.list.data(), W_in, n, m, tiles);
    }
    K.relu_and_abs(H, hs, XA, X, route == x_route::entries && packed ? 0 : xs);  // h = ReLU(.), |x|
    const output_args args{ws.Y.get(),   ws.g_nz.data(), XA, H, W_out, b,    importance,
                           ws.cI.data(), true,           n,  m, Bk,    tiles};
    phase(&tied_fast_profile::h);
    out = K.output_and_grad(args);
    phase(&tied_fast_profile::output);
    K.gemm_abT(dW_out, db, ws.Y.get(), ws.g_nz.data(), H, tile_scratch, n, m, tiles);  // dW_out += g h^T
    build_lists(ws.list.data(), ws.g_nz.data(), n, tiles);
    K.gemm_wT(ws.DH.get(), ws.Y.get(), ws.list.data(), W_out, n, m, tiles);  // dh = W_out^T g
    K.relu_mask(ws.DH.get(), H, hs);                                         // through the hidden ReLU
    if (route == x_route::entries) {  // dW_in += x dz^T over x's entries, into the padded dWp
      K.rows_from_tiles(ws.DHs.get(), ws.DH.get(), m, ws.mv, tiles);
      std::memset(ws.dWp.get(), 0, sizeof(float) * n * mp);
      K.element_x(ws.dWp.get(), ws.DHs.get(), entries, ws.mv, tiles * tile);
      for (int i = 0; i < n; ++i)
        for (int k = 0; k < m; ++k) dW_in[static_cast<std::size_t>(i) * m + k] += ws.dWp.get()[i * mp + k];
    } else {
      K.gemm_abT(dW_in, nullptr, X, x_nz, ws.DH.get(), tile_scratch, n, m, tiles);  // dW_in += x dz^T
    }
  } else {
    phase(&tied_fast_profile::sample);
  }
  // The B - Bk empty samples: y' = ReLU(b) against |0|, with output_block's float operations for one sample.
  if (const int empty = B - Bk; empty > 0) {
    double loss = 0;
    for (int i = 0; i < n; ++i) {
      if (!(b[i] > 0.0f)) continue;
      const float r = b[i];
      loss += static_cast<double>(importance[i] * (r * r));
      db[i] += static_cast<float>(empty) * (ws.cI[i] * r);
      out.nonzero += empty;
    }
    out.loss += empty * loss;
  }
  ws.g_nonzero = out.nonzero;
  ws.last_path = step_path::tiles;
  phase(&tied_fast_profile::backward);
  if (ws.profile) ++ws.profile->steps;
  return out.loss / (static_cast<double>(B) * n);
}

}  // namespace

double tied_fast_loss_and_grad(model_kind kind, float* grad, const float* params, const float* importance,
                               tied_fast_workspace& ws) {
  if (!tied_fast_supports(kind, ws.n, ws.m))
    throw run_error("tied_fast: the model '" + std::string(model_name(kind)) + "' has no fast path");
  if (kind == model_kind::abs) {
    const kernel_set& K = kernels_for(ws.forced_isa);
    ws.last_isa = K.level;
    return abs_step(grad, params, importance, ws, K);
  }
  const int n = ws.n, m = ws.m, B = ws.B, tiles = ws.tiles;
  const float* W = params;
  const float* b = params + static_cast<std::size_t>(n) * m;
  float* dW = grad;
  float* db = grad + static_cast<std::size_t>(n) * m;
  std::int32_t* tile_scratch = ws.list.data() + static_cast<std::size_t>(tiles) * (n + 1);
  const kernel_set& K = kernels_for(ws.forced_isa);
  ws.last_isa = K.level;

  phase_clock phase(ws.profile);

  if (is_small_model(n, m)) {
    phase(&tied_fast_profile::sample);
    const small_args args{dW,
                          db,
                          ws.acc.get(),
                          ws.X.get(),
                          W,
                          b,
                          importance,
                          n,
                          B,
                          tiles,
                          static_cast<float>(2.0 / (static_cast<double>(B) * n)),
                          ws.profile != nullptr};
    const output_result out = K.small_model_step(args, m, kind);
    ws.g_nonzero = out.nonzero;
    ws.last_path = step_path::small;
    phase(&tied_fast_profile::output);
    if (ws.profile) ++ws.profile->steps;
    return out.loss / (static_cast<double>(B) * n);
  }
  // Wide models skip x's zeros in h = W x and dW += x dh^T when x is sparse enough, entry by entry over its
  // non-zeros listed sample after sample: the binomial sampler's list, or a Bernoulli batch's tiles
  // compressed.
  x_entries entries{ws.entry_offset.data(), ws.entry_i.data(), ws.entry_x.data()};
  x_route route = x_route::dense;
  bool long_rows = false;  // the Bernoulli listing: tens to hundreds of entries per sample
  // Listing a Bernoulli batch needs AVX-512F; a forced level stands for a machine that has just that level.
  const bool can_list = ws.forced_isa == isa::machine ? has_avx512() : ws.forced_isa == isa::avx512;
  if (ws.mv > 0) {
    if (ws.x_listed) {
      entries_from_positions(entries, ws.written, ws.X.get(), n, tiles * tile);
      route = x_route::entries;
    } else if (can_list && outer_pays(m) && ws.last_nnz < x_entry_share * n * B) {
      entries_from_tiles_avx512(entries, ws.Xs.get(), ws.X.get(), n, tiles, K.rows_from_tiles);
      route = x_route::entries;
      long_rows = true;
    }
  }
  ws.last_x_route = route;
  const std::size_t mp = static_cast<std::size_t>(ws.mv) * tile;
  if (ws.mv)
    for (int i = 0; i < n; ++i)
      std::memcpy(ws.Wp.get() + i * mp, W + static_cast<std::size_t>(i) * m, sizeof(float) * m);
  if (route == x_route::dense) build_lists(ws.list.data(), ws.x_nz.data(), n, tiles);
  phase(&tied_fast_profile::sample);
  if (route == x_route::dense) {  // h = W x
    K.gemm_wT(ws.H.get(), ws.X.get(), ws.list.data(), W, n, m, tiles);
  } else {
    K.element_h(ws.Hs.get(), ws.Wp.get(), entries, ws.mv, tiles * tile, long_rows);
    K.tiles_from_rows(ws.H.get(), ws.Hs.get(), m, ws.mv, tiles);
  }
  phase(&tied_fast_profile::h);

  const auto c = static_cast<float>(2.0 / (static_cast<double>(B) * n));
  for (int i = 0; i < n; ++i) ws.cI[i] = c * importance[i];
  const output_args args{ws.Y.get(),
                         ws.g_nz.data(),
                         ws.X.get(),
                         ws.H.get(),
                         W,
                         b,
                         importance,
                         ws.cI.data(),
                         kind == model_kind::relu_output,
                         n,
                         m,
                         B,
                         tiles};
  const output_result out = K.output_and_grad(args);
  const double loss = out.loss / (static_cast<double>(B) * n);
  ws.g_nonzero = out.nonzero;
  phase(&tied_fast_profile::output);

  // dW += x dh^T into the padded dWp over x's non-zeros, from the sample-major DHs.
  auto x_dhT_sparse = [&] { K.element_x(ws.dWp.get(), ws.DHs.get(), entries, ws.mv, tiles * tile); };
  const bool g_entries = ws.mv > 0 && out.nonzero < sparse_g_share * n * B;
  const bool outer = !g_entries && ws.mv > 0 && outer_pays(m);
  ws.last_path = g_entries ? step_path::sparse_g : outer ? step_path::outer : step_path::tiles;
  if (g_entries) {
    if (route == x_route::dense) K.rows_from_tiles(ws.Hs.get(), ws.H.get(), m, ws.mv, tiles);
    std::memset(ws.dWp.get(), 0, sizeof(float) * n * mp);
    K.element_g(ws.dWp.get(), db, ws.DHs.get(), ws.Y.get(), ws.g_nz.data(), ws.Hs.get(), ws.Wp.get(), n,
                ws.mv,
                tiles);  // dW += g h^T, dh = W^T g, db += g
    if (route != x_route::dense) {
      x_dhT_sparse();
    } else {
      K.tiles_from_rows(ws.DH.get(), ws.DHs.get(), m, ws.mv, tiles);
      K.gemm_abT(dW, nullptr, ws.X.get(), ws.x_nz.data(), ws.DH.get(), tile_scratch, n, m, tiles);
    }
  } else if (outer) {
    if (route == x_route::dense) K.rows_from_tiles(ws.Hs.get(), ws.H.get(), m, ws.mv, tiles);
    std::memset(ws.dWp.get(), 0, sizeof(float) * n * mp);
    K.gemm_outer(ws.dWp.get(), db, ws.Y.get(), ws.g_nz.data(), ws.Hs.get(), tile_scratch, n, ws.mv,
                 tiles);  // dW += g h^T, db += g
    build_lists(ws.list.data(), ws.g_nz.data(), n, tiles);
    K.gemm_wT(ws.DH.get(), ws.Y.get(), ws.list.data(), W, n, m, tiles);  // dh = W^T g
    K.rows_from_tiles(ws.DHs.get(), ws.DH.get(), m, ws.mv, tiles);
    if (route != x_route::dense)
      x_dhT_sparse();
    else
      K.gemm_outer(ws.dWp.get(), nullptr, ws.X.get(), ws.x_nz.data(), ws.DHs.get(), tile_scratch, n, ws.mv,
                   tiles);  // dW += x dh^T
  } else {
    K.gemm_abT(dW, db, ws.Y.get(), ws.g_nz.data(), ws.H.get(), tile_scratch, n, m,
               tiles);  // dW += g h^T, db += g
    build_lists(ws.list.data(), ws.g_nz.data(), n, tiles);
    K.gemm_wT(ws.DH.get(), ws.Y.get(), ws.list.data(), W, n, m, tiles);  // dh = W^T g
    if (route != x_route::dense) {
      K.rows_from_tiles(ws.DHs.get(), ws.DH.get(), m, ws.mv, tiles);
      std::memset(ws.dWp.get(), 0, sizeof(float) * n * mp);
      x_dhT_sparse();
    } else {
      K.gemm_abT(dW, nullptr, ws.X.get(), ws.x_nz.data(), ws.DH.get(), tile_scratch, n, m, tiles);
    }
  }
  if (g_entries || route != x_route::dense || outer)  // these paths accumulated into the padded dWp
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < m; ++k) dW[static_cast<std::size_t>(i) * m + k] += ws.dWp.get()[i * mp + k];
  phase(&tied_fast_profile::backward);
  if (ws.profile) ++ws.profile->steps;
  return loss;
}

}  // namespace tms::kernels
