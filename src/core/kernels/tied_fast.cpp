#include "core/kernels/tied_fast.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

#include "core/data_sparse.hpp"

// Each kernel is compiled three times and picked once at load time (GCC function multiversioning).
#define TMS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define TMS_INLINE inline __attribute__((always_inline))

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

// The number of non-zero lanes: narrow the 16 lane flags to bytes (one instruction with AVX-512) and count
// the bits of the two 64-bit halves (each non-zero lane sets 8).
TMS_INLINE int count_nonzero(v16 v) {
  typedef signed char v16c __attribute__((vector_size(16)));
  const v16c c = __builtin_convertvector(v != v16{}, v16c);
  std::uint64_t half[2];
  std::memcpy(half, &c, sizeof half);
  return (__builtin_popcountll(half[0]) + __builtin_popcountll(half[1])) >> 3;
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

template <int T>
TMS_INLINE void wT_tiles(float* out, const float* in, const std::int32_t* L, const float* W, int n, int m,
                         int t0) {
  int k0 = 0;
  for (; k0 + 8 <= m; k0 += 8) wT_block<8, T>(out, in, L + 1, L[0], W, n, m, t0, k0);
  for (; k0 + 4 <= m; k0 += 4) wT_block<4, T>(out, in, L + 1, L[0], W, n, m, t0, k0);
  for (; k0 < m; ++k0) wT_block<1, T>(out, in, L + 1, L[0], W, n, m, t0, k0);
}

// h = W x (out = H, in = X) and dh = W^T g (out = DH, in = Y): tiled [m] from tiled [n]. Tiles go in pairs;
// `list` holds, per pair, the rows non-zero in either tile (see build_lists).
TMS_CLONES void gemm_wT(float* out, const float* in, const std::int32_t* list, const float* W, int n, int m,
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
  bool relu;
  int n, m, B, tiles;
  float c;  // 2 / (B n): the derivative of the mean
};

struct output_result {
  double loss = 0;           // summed over the batch, not yet divided by B n
  std::int64_t nonzero = 0;  // entries of g that are not zero
};

// pre = W h + b for rows [i0, i0 + R) of tiles t0 .. t0 + T - 1; then x' = act(pre), r = x' - x,
// loss += I r^2 and g = 2 I r / (B n), zeroed where the ReLU is off and (Partial: the last tile, T = 1) on
// padding samples. Returns the loss lanes.
template <int R, int T, bool Relu, bool Partial>
TMS_INLINE v16 output_block(const output_args& a, int t0, int i0, v16 valid, std::int64_t& nonzero) {
  v16 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int u = 0; u < T; ++u) acc[r][u] = splat(a.b[i0 + r]);
  const float* W = a.W + static_cast<std::size_t>(i0) * a.m;
  for (int k = 0; k < a.m; ++k) {
    v16 h[T];
    for (int u = 0; u < T; ++u) h[u] = load(a.H + at(t0 + u, a.m, k));
    for (int r = 0; r < R; ++r)
      for (int u = 0; u < T; ++u) acc[r][u] += W[r * a.m + k] * h[u];
  }
  v16 loss{};
  for (int r = 0; r < R; ++r) {
    const float I = a.importance[i0 + r];
    for (int u = 0; u < T; ++u) {
      const std::size_t row = at(t0 + u, a.n, i0 + r);
      v16 res, g;
      if constexpr (Relu) {
        const v16i on = acc[r][u] > v16{};
        res = (v16)((v16i)acc[r][u] & on) - load(a.X + row);
        if constexpr (Partial) res *= valid;
        g = (v16)((v16i)((a.c * I) * res) & on);
      } else {
        res = acc[r][u] - load(a.X + row);
        if constexpr (Partial) res *= valid;
        g = (a.c * I) * res;
      }
      loss += I * (res * res);
      store(a.Y + row, g);
      const int count = count_nonzero(g);
      a.g_nz[static_cast<std::size_t>(i0 + r) * a.tiles + t0 + u] = count > 0;
      nonzero += count;
    }
  }
  return loss;
}

template <int T, bool Relu, bool Partial>
TMS_INLINE v16 output_tiles_at(const output_args& a, int t0, v16 valid, std::int64_t& nz) {
  v16 loss{};
  int i0 = 0;
  for (; i0 + 8 <= a.n; i0 += 8) loss += output_block<8, T, Relu, Partial>(a, t0, i0, valid, nz);
  for (; i0 + 4 <= a.n; i0 += 4) loss += output_block<4, T, Relu, Partial>(a, t0, i0, valid, nz);
  for (; i0 < a.n; ++i0) loss += output_block<1, T, Relu, Partial>(a, t0, i0, valid, nz);
  return loss;
}

// Full tiles in pairs, then a last full tile alone, then the partial tile with its padding mask.
template <bool Relu>
TMS_INLINE output_result output_tiles(const output_args& a) {
  output_result out;
  const int full = a.B / tile;
  int t0 = 0;
  for (; t0 + 2 <= full; t0 += 2)
    out.loss += hsum(output_tiles_at<2, Relu, false>(a, t0, v16{}, out.nonzero));
  if (t0 < full) out.loss += hsum(output_tiles_at<1, Relu, false>(a, t0++, v16{}, out.nonzero));
  if (full < a.tiles) {
    v16 valid;
    for (int l = 0; l < tile; ++l) valid[l] = tile * full + l < a.B ? 1.0f : 0.0f;
    out.loss += hsum(output_tiles_at<1, Relu, true>(a, full, valid, out.nonzero));
  }
  return out;
}

TMS_CLONES output_result output_and_grad(const output_args& a) {
  return a.relu ? output_tiles<true>(a) : output_tiles<false>(a);
}

// ---- Sample-major paths for wide models (m >= 16) and sparse x or g: one entry at a time, m / 16 vectors
// each, so the work follows the non-zero entries rather than the non-zero tiles. Rows are padded to mp = 16
// mv floats (mv vectors); Wp and dWp are padded copies of W and dW.

// Decodes a position in the tiled X into (sample, feature).
TMS_INLINE void untile(std::int64_t at, int n, int& s, int& i) {
  const std::int64_t t = at / (static_cast<std::int64_t>(tile) * n), rem = at - t * tile * n;
  i = static_cast<int>(rem / tile);
  s = static_cast<int>(t * tile + rem % tile);
}

// Hs[s] = sum over the batch's entries (s, i, x) of x Wp[i]; entries come sample after sample.
TMS_CLONES void element_h(float* Hs, const float* Wp, const std::int64_t* written, std::int64_t count,
                          const float* X, int n, int mv, int rows) {
  std::memset(Hs, 0, sizeof(float) * static_cast<std::size_t>(rows) * mv * tile);
  for (std::int64_t e = 0; e < count; ++e) {
    int s, i;
    untile(written[e], n, s, i);
    const float x = X[written[e]];
    float* h = Hs + static_cast<std::size_t>(s) * mv * tile;
    const float* w = Wp + static_cast<std::size_t>(i) * mv * tile;
    for (int q = 0; q < mv; ++q) store(h + tile * q, load(h + tile * q) + x * load(w + tile * q));
  }
}

// Tiled [m] <-> sample-major rows [tiles 16][mp].
TMS_CLONES void tiles_from_rows(float* T, const float* rows, int m, int mv, int tiles) {
  const int mp = mv * tile;
  for (int t = 0; t < tiles; ++t)
    for (int k = 0; k < m; ++k) {
      float* out = T + at(t, m, k);
      for (int l = 0; l < tile; ++l) out[l] = rows[static_cast<std::size_t>(tile * t + l) * mp + k];
    }
}

TMS_CLONES void rows_from_tiles(float* rows, const float* T, int m, int mv, int tiles) {
  const int mp = mv * tile;
  std::memset(rows, 0, sizeof(float) * static_cast<std::size_t>(tiles) * tile * mp);
  for (int t = 0; t < tiles; ++t)
    for (int k = 0; k < m; ++k) {
      const float* in = T + at(t, m, k);
      for (int l = 0; l < tile; ++l) rows[static_cast<std::size_t>(tile * t + l) * mp + k] = in[l];
    }
}

// For every non-zero g_si: DHs[s] += g Wp[i] (dh = W^T g) and dWp[i] += g Hs[s] (dW += g h^T); db_i += g.
TMS_CLONES void element_g(float* dWp, float* db, float* DHs, const float* Y, const std::uint8_t* g_nz,
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

// For every entry (s, i, x) of the batch: dWp[i] += x DHs[s] (dW += x dh^T).
TMS_CLONES void element_x(float* dWp, const float* DHs, const std::int64_t* written, std::int64_t count,
                          const float* X, int n, int mv) {
  const std::size_t mp = static_cast<std::size_t>(mv) * tile;
  for (std::int64_t e = 0; e < count; ++e) {
    int s, i;
    untile(written[e], n, s, i);
    const float x = X[written[e]];
    float* dw = dWp + i * mp;
    const float* dh = DHs + static_cast<std::size_t>(s) * mp;
    for (int q = 0; q < mv; ++q) store(dw + tile * q, load(dw + tile * q) + x * load(dh + tile * q));
  }
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
TMS_CLONES void gemm_abT(float* dW, float* db, const float* A, const std::uint8_t* a_nz, const float* Bm,
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
// with its padding mask.
template <int M, int T, bool Relu, bool Partial>
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

template <int M, bool Relu>
TMS_INLINE output_result small_step(const small_args& a) {
  const int n = a.n;
  constexpr int row = (M + 1) * tile;
  std::memset(a.acc, 0, sizeof(float) * static_cast<std::size_t>(n) * row);
  constexpr int T = M <= 6 ? 2 : 1;  // two tiles at once while h and dh fit in the registers
  output_result out;
  v16i nonzero{};
  const int full = a.B / tile;
  int t0 = 0;
  for (; t0 + T <= full; t0 += T) out.loss += small_tiles<M, T, Relu, false>(a, t0, v16{}, nonzero);
  for (; t0 < full; ++t0) out.loss += small_tiles<M, 1, Relu, false>(a, t0, v16{}, nonzero);
  if (full < a.tiles) {
    v16 valid;
    for (int l = 0; l < tile; ++l) valid[l] = tile * full + l < a.B ? 1.0f : 0.0f;
    out.loss += small_tiles<M, 1, Relu, true>(a, full, valid, nonzero);
  }
  for (int i = 0; i < n; ++i) {
    const float* ac = a.acc + static_cast<std::size_t>(i) * row;
    for (int k = 0; k < M; ++k) a.dW[static_cast<std::size_t>(i) * M + k] += hsum(load(ac + tile * k));
    a.db[i] += hsum(load(ac + tile * M));
  }
  for (int l = 0; l < tile; ++l) out.nonzero += nonzero[l];
  return out;
}

template <int M>
TMS_INLINE output_result small_step_m(const small_args& a, bool relu) {
  return relu ? small_step<M, true>(a) : small_step<M, false>(a);
}

TMS_CLONES output_result small_model_step(const small_args& a, int m, bool relu) {
  switch (m) {
    case 1:
      return small_step_m<1>(a, relu);
    case 2:
      return small_step_m<2>(a, relu);
    case 3:
      return small_step_m<3>(a, relu);
    case 4:
      return small_step_m<4>(a, relu);
    case 5:
      return small_step_m<5>(a, relu);
    case 6:
      return small_step_m<6>(a, relu);
    case 7:
      return small_step_m<7>(a, relu);
    default:
      return small_step_m<8>(a, relu);
  }
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

}  // namespace

// From this many hidden dimensions on, the sample-major entry-by-entry paths are available (below, a row of h
// fills too little of a vector for them to pay).
constexpr int wide_m = 16;
// Models up to this size take the one-pass small-model path.
constexpr int small_m_max = 8, small_nm_max = 256;

bool is_small_model(int n, int m) {
  return m <= small_m_max && n * m <= small_nm_max;
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
  H.assign(static_cast<std::size_t>(tiles) * m * tile);
  Y.assign(static_cast<std::size_t>(tiles) * n * tile);
  DH.assign(static_cast<std::size_t>(tiles) * m * tile);
  mv = m >= wide_m ? (m + tile - 1) / tile : 0;
  if (mv) {
    Wp.assign(static_cast<std::size_t>(n) * mv * tile);
    dWp.assign(static_cast<std::size_t>(n) * mv * tile);
    Hs.assign(static_cast<std::size_t>(tiles) * tile * mv * tile);
    DHs.assign(static_cast<std::size_t>(tiles) * tile * mv * tile);
  }
  sampler.reserve(B, n);
  written.reserve(static_cast<std::size_t>(B) * n + 1);
  written.clear();
  x_nz.assign(static_cast<std::size_t>(n) * tiles, 0);
  g_nz.assign(static_cast<std::size_t>(n) * tiles, 0);
  list.assign(static_cast<std::size_t>(tiles) * (n + 1) + tiles, 0);
  if (is_small_model(n, m)) acc.assign(static_cast<std::size_t>(n) * (m + 3) * tile);
}

double tied_fast_loss_and_grad(model_kind kind, float* grad, const float* params, const float* importance,
                               double density, std::uint64_t seed, std::int64_t step,
                               tied_fast_workspace& ws) {
  const int n = ws.n, m = ws.m, B = ws.B, tiles = ws.tiles;
  const float* W = params;
  const float* b = params + static_cast<std::size_t>(n) * m;
  float* dW = grad;
  float* db = grad + static_cast<std::size_t>(n) * m;
  std::int32_t* tile_scratch = ws.list.data() + static_cast<std::size_t>(tiles) * (n + 1);

  // Phase clock, read only when a benchmark asked for a profile.
  using clock = std::chrono::steady_clock;
  clock::time_point mark;
  auto phase = [&](double* slot) {
    if (!ws.profile) return;
    const auto now = clock::now();
    if (slot) *slot += std::chrono::duration<double>(now - mark).count();
    mark = now;
  };
  phase(nullptr);

  ws.last_nnz = sample_tiled(ws.X.get(), ws.x_nz.data(), ws.written, ws.sampler, seed, step, density);
  if (is_small_model(n, m)) {
    phase(ws.profile ? &ws.profile->sample : nullptr);
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
    const output_result out = small_model_step(args, m, kind == model_kind::relu_output);
    ws.g_nonzero = out.nonzero;
    ws.last_path = step_path::small;
    phase(ws.profile ? &ws.profile->output : nullptr);
    if (ws.profile) ++ws.profile->steps;
    return out.loss / (static_cast<double>(B) * n);
  }
  // The binomial sampler lists its entries (sample after sample); the Bernoulli one writes every entry.
  const bool x_entries = ws.mv > 0 && !(ws.written.size() == 1 && ws.written[0] < 0);
  const std::size_t mp = static_cast<std::size_t>(ws.mv) * tile;
  if (ws.mv)
    for (int i = 0; i < n; ++i)
      std::memcpy(ws.Wp.get() + i * mp, W + static_cast<std::size_t>(i) * m, sizeof(float) * m);
  if (!x_entries) build_lists(ws.list.data(), ws.x_nz.data(), n, tiles);
  phase(ws.profile ? &ws.profile->sample : nullptr);
  if (x_entries) {  // h = W x
    element_h(ws.Hs.get(), ws.Wp.get(), ws.written.data(), static_cast<std::int64_t>(ws.written.size()),
              ws.X.get(), n, ws.mv, tiles * tile);
    tiles_from_rows(ws.H.get(), ws.Hs.get(), m, ws.mv, tiles);
  } else {
    gemm_wT(ws.H.get(), ws.X.get(), ws.list.data(), W, n, m, tiles);
  }
  phase(ws.profile ? &ws.profile->h : nullptr);

  const output_args args{ws.Y.get(),
                         ws.g_nz.data(),
                         ws.X.get(),
                         ws.H.get(),
                         W,
                         b,
                         importance,
                         kind == model_kind::relu_output,
                         n,
                         m,
                         B,
                         tiles,
                         static_cast<float>(2.0 / (static_cast<double>(B) * n))};
  const output_result out = output_and_grad(args);
  const double loss = out.loss / (static_cast<double>(B) * n);
  ws.g_nonzero = out.nonzero;
  phase(ws.profile ? &ws.profile->output : nullptr);

  const bool g_entries = ws.mv > 0 && out.nonzero < sparse_g_share * n * B;
  ws.last_path = g_entries ? step_path::sparse_g : step_path::tiles;
  if (g_entries) {
    if (!x_entries) rows_from_tiles(ws.Hs.get(), ws.H.get(), m, ws.mv, tiles);
    std::memset(ws.dWp.get(), 0, sizeof(float) * n * mp);
    element_g(ws.dWp.get(), db, ws.DHs.get(), ws.Y.get(), ws.g_nz.data(), ws.Hs.get(), ws.Wp.get(), n, ws.mv,
              tiles);  // dW += g h^T, dh = W^T g, db += g
    if (x_entries) {
      element_x(ws.dWp.get(), ws.DHs.get(), ws.written.data(), static_cast<std::int64_t>(ws.written.size()),
                ws.X.get(), n, ws.mv);  // dW += x dh^T
    } else {
      tiles_from_rows(ws.DH.get(), ws.DHs.get(), m, ws.mv, tiles);
      gemm_abT(dW, nullptr, ws.X.get(), ws.x_nz.data(), ws.DH.get(), tile_scratch, n, m, tiles);
    }
  } else {
    gemm_abT(dW, db, ws.Y.get(), ws.g_nz.data(), ws.H.get(), tile_scratch, n, m,
             tiles);  // dW += g h^T, db += g
    build_lists(ws.list.data(), ws.g_nz.data(), n, tiles);
    gemm_wT(ws.DH.get(), ws.Y.get(), ws.list.data(), W, n, m, tiles);  // dh = W^T g
    if (x_entries) {
      rows_from_tiles(ws.DHs.get(), ws.DH.get(), m, ws.mv, tiles);
      std::memset(ws.dWp.get(), 0, sizeof(float) * n * mp);
      element_x(ws.dWp.get(), ws.DHs.get(), ws.written.data(), static_cast<std::int64_t>(ws.written.size()),
                ws.X.get(), n, ws.mv);  // dW += x dh^T
    } else {
      gemm_abT(dW, nullptr, ws.X.get(), ws.x_nz.data(), ws.DH.get(), tile_scratch, n, m, tiles);
    }
  }
  if (g_entries || x_entries)  // the entry paths accumulated into the padded dWp
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < m; ++k) dW[static_cast<std::size_t>(i) * m + k] += ws.dWp.get()[i * mp + k];
  phase(ws.profile ? &ws.profile->backward : nullptr);
  if (ws.profile) ++ws.profile->steps;
  return loss;
}

}  // namespace tms::kernels
