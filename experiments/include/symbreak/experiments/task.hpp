// 3-digit addition as a sequence task: prompt "abc+def=" (operands zero-padded), then the 4-digit
// sum least-significant digit first: 123+456=579 → "123+456=9750". Optional format tokens: a BOS at
// the start, and a delimiter '$' around the answer ("...=$9750$").
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "symbreak/rng.hpp"

namespace symbreak::experiments {

struct TaskFormat {
  bool bos = false;
  bool delimiter = false;
};

class AdditionTask {
 public:
  // Tokens: digits 0-9 are 0-9, then '+', '=', BOS, '$'.
  static constexpr int kPlus = 10, kEquals = 11, kBos = 12, kDollar = 13, kVocab = 14;
  static constexpr int kAnswerDigits = 4;

  explicit AdditionTask(TaskFormat format) : format_(format) {}

  const TaskFormat& format() const { return format_; }
  int prompt_length() const;    // tokens up to and including "=" (and the opening '$')
  int sequence_length() const;  // the whole sequence, with the answer (and the closing '$')
  // The whole sequence of a problem; the answer digits are at prompt_length() + k.
  std::vector<int> encode(int a, int b) const;
  static std::array<int, kAnswerDigits> answer(int a, int b);  // least-significant digit first
  static std::string render(const std::vector<int>& tokens);   // "123+456=9750"

  static constexpr int kOperands = 1000, kPairs = kOperands * kOperands;
  static int pair_index(int a, int b) { return a * kOperands + b; }

  // One pair drawn uniformly from all 10^6.
  static std::pair<int, int> sample(Rng& rng) { return {static_cast<int>(rng.below(kOperands)), static_cast<int>(rng.below(kOperands))}; }
  // The test set: `size` distinct pairs fixed by the seed. test_set(m) is a prefix of test_set(n) for m <= n.
  static std::vector<std::pair<int, int>> test_set(int size, std::uint64_t seed);
  // Marks the pairs of a test set, so that training can draw around them.
  static std::vector<bool> held_out_mask(const std::vector<std::pair<int, int>>& test_pairs);
  // A training pair: drawn uniformly from the pairs that are not held out (rejection; at most
  // 2,000 of 10^6 are held out, so a redraw happens once in 500 draws).
  static std::pair<int, int> sample_training(Rng& rng, const std::vector<bool>& held_out);

 private:
  TaskFormat format_;
};

}  // namespace symbreak::experiments
