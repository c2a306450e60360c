#include "core/backend.hpp"

#include <algorithm>

#include "core/attack.hpp"
#include "core/batch_source.hpp"
#include "core/kernels/tied_fast.hpp"
#include "core/model.hpp"

namespace tms {

namespace {

// The tied kernel on the tiled batch.
class tied_fast_backend final : public step_backend {
 public:
  explicit tied_fast_backend(const train_config& c)
      : kind_(c.model), source_(c), P_(model_tensors(c).params) {
    ws_.reserve(c.batch, c.features, c.hidden);
    source_.prepare(ws_);
  }
  void step(std::int64_t step, step_member* members, std::size_t count) override {
    ws_.sampler.keep_words = count > 1;
    for (std::size_t j = 0; j < count; ++j) {
      step_member& a = members[j];
      std::fill_n(a.grad, P_, 0.0f);
      source_.fill(ws_, a.stream_seed, step, a.density);
      a.loss = kernels::tied_fast_loss_and_grad(kind_, a.grad, a.params, a.importance, ws_);
    }
  }
  const char* path() const override { return "tied_fast"; }

 private:
  model_kind kind_;
  batch_source source_;
  std::size_t P_;
  kernels::tied_fast_workspace ws_;
};

// The reference maths (model.hpp) on compressed rows: every kind, every option. With adversarial training,
// the source's batch is kept clean as the loss's target and the model reads its attack (attack.hpp).
class reference_backend final : public step_backend {
 public:
  explicit reference_backend(const train_config& c)
      : layout_(model_tensors(c)),
        source_(c),
        l1_(c.l1),
        attack_norm_(c.adversarial_training),
        relu_(c.model == model_kind::relu_output) {
    ws_.reserve(c.batch, c.features, c.hidden);
    if (attack_norm_ > 0) {
      clean_.reserve(c.batch, c.features);
      source_.prepare(clean_);
      attack_.reserve(c.features, c.hidden);
    } else {
      source_.prepare(ws_.x);
    }
  }
  void step(std::int64_t step, step_member* members, std::size_t count) override {
    for (std::size_t j = 0; j < count; ++j) {
      step_member& a = members[j];
      std::fill_n(a.grad, layout_.params, 0.0f);
      if (attack_norm_ > 0) {
        source_.fill(clean_, a.stream_seed, step, a.density);
        attack_batch(ws_.x, clean_, a.params + layout_.at("W").offset, a.params + layout_.at("b").offset,
                     a.importance, layout_.m, relu_, attack_norm_, a.stream_seed, step, attack_);
        a.loss = model_loss_and_grad(layout_, a.grad, a.params, a.importance, ws_, l1_, &clean_);
      } else {
        source_.fill(ws_.x, a.stream_seed, step, a.density);
        a.loss = model_loss_and_grad(layout_, a.grad, a.params, a.importance, ws_, l1_);
      }
    }
  }
  const char* path() const override { return "reference"; }

 private:
  model_layout layout_;
  batch_source source_;
  double l1_;
  double attack_norm_;  // train_config::adversarial_training
  bool relu_;
  model_workspace<float> ws_;
  sparse_batch<float> clean_;  // with adversarial training: the source's batch, the loss's target
  attack_workspace attack_;
};

}  // namespace

std::unique_ptr<step_backend> make_cpu_backend(const train_config& c) {
  if (kernels::tied_fast_supports(c)) return std::make_unique<tied_fast_backend>(c);
  return std::make_unique<reference_backend>(c);
}

}  // namespace tms
