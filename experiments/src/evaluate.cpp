// The evaluation on the held-out test set: greedy exact match, per-digit accuracy and the
// teacher-forced test loss.
#include <algorithm>
#include <cmath>

#include "symbreak/experiments/step.hpp"
#include "symbreak/experiments/trainer.hpp"

namespace symbreak::experiments {
namespace {

int argmax_row(const Tensor<float>& logits, int row) {
  const float* z = logits.row(row);
  int best = 0;
  for (int c = 1; c < logits.cols; ++c)
    if (z[c] > z[best]) best = c;
  return best;
}

}  // namespace

Evaluation evaluate(const Model<float>& model, const AdditionTask& task, const std::vector<std::pair<int, int>>& pairs,
                    int threads) {
  const int batch = static_cast<int>(pairs.size()), prompt = task.prompt_length();
  std::vector<std::vector<int>> seqs;
  std::vector<std::array<int, 4>> truth;
  for (const auto& [a, b] : pairs) {
    std::vector<int> s = task.encode(a, b);
    s.resize(prompt);
    seqs.push_back(std::move(s));
    truth.push_back(AdditionTask::answer(a, b));
  }
  Evaluation e;
  std::vector<bool> all_right(batch, true);
  std::vector<int> tokens;
  for (int k = 0; k < AdditionTask::kAnswerDigits; ++k) {
    const int n = prompt + k;
    tokens.clear();
    for (const auto& s : seqs) tokens.insert(tokens.end(), s.begin(), s.end());
    const Tensor<float> last = last_position_logits(model, tokens, batch, n, threads);
    int right = 0;
    for (int i = 0; i < batch; ++i) {
      const int predicted = argmax_row(last, i);
      seqs[i].push_back(predicted);
      const bool ok = predicted == truth[i][k];
      right += ok;
      all_right[i] = all_right[i] && ok;
    }
    e.per_digit[k] = static_cast<double>(right) / batch;
  }
  int exact = 0;
  for (bool ok : all_right) exact += ok;
  e.exact_match = static_cast<double>(exact) / batch;

  // The teacher-forced loss: digit k's logits given the prompt and the true digits 0..k-1.
  const auto cross_entropy = [](const float* logits, int vocab, int target) {
    const double top = *std::max_element(logits, logits + vocab);
    double sum = 0;
    for (int v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(logits[v]) - top);
    return top + std::log(sum) - logits[target];
  };
  double loss = 0;
  const int vocab = model.config.vocab_size;
  const auto teacher_forced = [&](int length) {
    tokens.clear();
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const std::vector<int> s = task.encode(pairs[i].first, pairs[i].second);
      tokens.insert(tokens.end(), s.begin(), s.begin() + length);
    }
  };
  if (model.config.mask == MaskKind::causal) {
    const int n = prompt + AdditionTask::kAnswerDigits - 1;
    teacher_forced(n);
    std::vector<int> positions;
    for (int k = 0; k < AdditionTask::kAnswerDigits; ++k) positions.push_back(prompt - 1 + k);
    const Tensor<float> logits = position_logits(model, tokens, batch, n, positions, threads);
    for (int i = 0; i < batch; ++i)
      for (int k = 0; k < AdditionTask::kAnswerDigits; ++k)
        loss += cross_entropy(logits.row(i * AdditionTask::kAnswerDigits + k), vocab, truth[i][k]);
  } else {
    for (int k = 0; k < AdditionTask::kAnswerDigits; ++k) {
      teacher_forced(prompt + k);
      const Tensor<float> last = last_position_logits(model, tokens, batch, prompt + k, threads);
      for (int i = 0; i < batch; ++i) loss += cross_entropy(last.row(i), vocab, truth[i][k]);
    }
  }
  e.test_loss = loss / (static_cast<double>(batch) * AdditionTask::kAnswerDigits);
  return e;
}

}  // namespace symbreak::experiments
