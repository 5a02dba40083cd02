#include "symbreak/experiments/step.hpp"

#include <algorithm>

#include "symbreak/backward.hpp"
#include "symbreak/experiments/optimizer.hpp"

namespace symbreak::experiments {
namespace {

// The rows [begin, end) of part p of `batch` sequences cut into `parts` contiguous pieces.
std::pair<int, int> share(int batch, int parts, int p) {
  const int base = batch / parts, extra = batch % parts;
  const int begin = p * base + std::min(p, extra);
  return {begin, begin + base + (p < extra ? 1 : 0)};
}

}  // namespace

GradientRunner::GradientRunner(const ModelConfig& config, int threads) : parts_(std::max(1, threads)) {
  for (Part& p : parts_) p.grads = zero_weights<float>(config);
}

void GradientRunner::zero() { fresh_ = true; }

double GradientRunner::accumulate(const Model<float>& model, std::span<const int> tokens, int batch, int seq,
                                  std::span<const int> targets, double weight) {
  const int parts = std::min(threads(), batch);
  int total = 0;
  for (int t : targets) total += t >= 0;
  if (total == 0) return 0;
  std::vector<double> losses(parts, 0.0);
  const bool overwrite = fresh_;
  fresh_ = false;
  if (overwrite)  // parts that get no rows this pass must not keep stale gradients
    for (int p = parts; p < threads(); ++p)
      for (auto& [name, t] : named_parameters(parts_[p].grads)) t->zero();
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; ++p) {
    const auto [begin, end] = share(batch, parts, p);
    Part& part = parts_[p];
    const std::size_t from = static_cast<std::size_t>(begin) * seq, count = static_cast<std::size_t>(end - begin) * seq;
    const auto part_tokens = tokens.subspan(from, count), part_targets = targets.subspan(from, count);
    int mine = 0;
    for (int t : part_targets) mine += t >= 0;
    forward(model, part_tokens, end - begin, seq, part.acts);
    const double loss = mine ? cross_entropy(part.dlogits, part.acts.logits, part_targets) : 0.0;
    // cross_entropy averages over this part; rescale to the whole batch's mean, times the weight.
    const float scale = static_cast<float>(weight * mine / total);
    for (float& g : part.dlogits.data) g *= scale;
    backward(model, part_tokens, part.acts, part.dlogits, part.grads, /*accumulate=*/!overwrite);
    losses[p] = loss * mine / total;
  }
  double loss = 0;
  for (double l : losses) loss += l;
  return loss;
}

Weights<float>& GradientRunner::reduce() {
  // Elementwise sums in part order: every element gets the same additions whatever the schedule.
  auto total = named_parameters(parts_[0].grads);
  std::vector<std::vector<std::pair<std::string, Tensor<float>*>>> others;
  for (std::size_t p = 1; p < parts_.size(); ++p) others.push_back(named_parameters(parts_[p].grads));
  if (others.empty()) return parts_[0].grads;
  std::vector<std::size_t> sizes;
  for (const auto& [name, t] : total) sizes.push_back(t->size());
  for_each_chunk(sizes, [&](std::size_t i, std::size_t begin, std::size_t end) {
    float* a = total[i].second->data.data();
    for (const auto& other : others) {
      const float* b = other[i].second->data.data();
      for (std::size_t k = begin; k < end; ++k) a[k] += b[k];
    }
  });
  return parts_[0].grads;
}

Tensor<float> position_logits(const Model<float>& model, std::span<const int> tokens, int batch, int seq,
                              const std::vector<int>& positions, int threads) {
  const int parts = std::max(1, std::min(threads, batch)), per = static_cast<int>(positions.size());
  Tensor<float> out(batch * per, model.config.vocab_size);
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; ++p) {
    const auto [begin, end] = share(batch, parts, p);
    thread_local Activations<float> acts;
    forward(model, tokens.subspan(static_cast<std::size_t>(begin) * seq, static_cast<std::size_t>(end - begin) * seq),
            end - begin, seq, acts);
    for (int i = begin; i < end; ++i)
      for (int k = 0; k < per; ++k)
        std::copy_n(acts.logits.row((i - begin) * seq + positions[k]), out.cols, out.row(i * per + k));
  }
  return out;
}

Tensor<float> last_position_logits(const Model<float>& model, std::span<const int> tokens, int batch, int seq, int threads) {
  return position_logits(model, tokens, batch, seq, {seq - 1}, threads);
}

}  // namespace symbreak::experiments
