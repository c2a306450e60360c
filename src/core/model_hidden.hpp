// The hidden layer the models share: h_s = sum over sample s's active features i of x_si E_i, plus b_hidden
// when given, rectified (ReLU) when the model's hidden layer is (relu-hidden, abs). E [n][m] is the table's
// embedding (W, or W_in). One home for the loop, so the models' forwards and the SAEs' data (model_hidden in
// model.hpp) compute the same activations, bit for bit.
#pragma once

#include <cstddef>

#include "core/data_sparse.hpp"

namespace tms {

template <class T>
void hidden_row(T* hs, const sparse_batch<T>& x, int s, const T* E, const T* b_hidden, bool rectify, int m) {
  for (int k = 0; k < m; ++k) hs[k] = b_hidden ? b_hidden[k] : T(0);
  for (int e = x.offset[s]; e < x.offset[s + 1]; ++e) {
    const T* Ei = E + static_cast<std::size_t>(x.index[e]) * m;
    const T xi = x.value[e];
    for (int k = 0; k < m; ++k) hs[k] += xi * Ei[k];
  }
  if (rectify)
    for (int k = 0; k < m; ++k) hs[k] = hs[k] > T(0) ? hs[k] : T(0);
}

}  // namespace tms
