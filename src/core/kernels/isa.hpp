// The instruction-set levels the fast loops are compiled for, and how one is picked. The tied step's kernels
// (tied_fast.cpp), the tiled sampler (data_sparse.cpp) and AdamW (adamw.cpp) each have an x86-64-v4
// (AVX-512), an x86-64-v3 (AVX2, FMA) and a baseline x86-64 build; a run uses the best one this machine has,
// chosen once. Tests force the others (each must match its plain reference), so that a machine with AVX-512
// also checks what an AVX2 or a baseline machine would compute: isa::machine means "the one chosen at
// start", and is what every workspace and sampler holds unless a test sets another.
#pragma once

#include <string_view>

namespace tms::kernels {

enum class isa : signed char { machine = -1, baseline = 0, avx2 = 1, avx512 = 2 };

// Whether this machine runs the build for `which` (the level, as GCC's ifunc resolvers test it).
inline bool isa_supported(isa which) {
  __builtin_cpu_init();
  switch (which) {
    case isa::machine:
    case isa::baseline:
      return true;
    case isa::avx2:
      return __builtin_cpu_supports("x86-64-v3");
    case isa::avx512:
      return __builtin_cpu_supports("x86-64-v4");
  }
  return false;
}

// The level every run on this machine uses (never isa::machine).
inline isa machine_isa() {
  static const isa best = isa_supported(isa::avx512) ? isa::avx512
                          : isa_supported(isa::avx2) ? isa::avx2
                                                     : isa::baseline;
  return best;
}

inline isa resolve_isa(isa which) {
  return which == isa::machine ? machine_isa() : which;
}

inline const char* isa_name(isa which) {
  switch (resolve_isa(which)) {
    case isa::avx512:
      return "avx512";
    case isa::avx2:
      return "avx2";
    default:
      return "baseline";
  }
}

// "avx512", "avx2", "baseline" or "machine"; false for any other name.
inline bool parse_isa(std::string_view name, isa& out) {
  for (isa w : {isa::machine, isa::baseline, isa::avx2, isa::avx512})
    if (name == (w == isa::machine ? "machine" : isa_name(w))) {
      out = w;
      return true;
    }
  return false;
}

// One always-inline body F compiled for each level: clones<F>::avx512 / avx2 / baseline are functions with
// F's signature whose code is F's under arch=x86-64-v4, -v3 and the default target (the same code GCC's
// target_clones would emit for each, but each reachable by name, so tests can call any of them).
template <auto F>
struct clones;
template <class R, class... A, R (*F)(A...)>
struct clones<F> {
  __attribute__((target("arch=x86-64-v4"))) static R avx512(A... a) { return F(a...); }
  __attribute__((target("arch=x86-64-v3"))) static R avx2(A... a) { return F(a...); }
  static R baseline(A... a) { return F(a...); }
  // The build for a level (isa::machine resolved); the caller checks isa_supported first.
  static auto pick(isa which) -> R (*)(A...) {
    switch (resolve_isa(which)) {
      case isa::avx512:
        return avx512;
      case isa::avx2:
        return avx2;
      default:
        return baseline;
    }
  }
};

}  // namespace tms::kernels
