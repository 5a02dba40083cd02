#include "symbreak/experiments/task.hpp"

#include <stdexcept>
#include <string>

namespace symbreak::experiments {

int AdditionTask::prompt_length() const { return (format_.bos ? 1 : 0) + 8 + (format_.delimiter ? 1 : 0); }

int AdditionTask::sequence_length() const { return prompt_length() + kAnswerDigits + (format_.delimiter ? 1 : 0); }

std::array<int, AdditionTask::kAnswerDigits> AdditionTask::answer(int a, int b) {
  std::array<int, kAnswerDigits> digits{};
  int s = a + b;
  for (int& d : digits) {
    d = s % 10;
    s /= 10;
  }
  return digits;
}

std::vector<int> AdditionTask::encode(int a, int b) const {
  std::vector<int> t;
  t.reserve(sequence_length());
  if (format_.bos) t.push_back(kBos);
  const auto digits = [&t](int x) {
    t.push_back(x / 100);
    t.push_back(x / 10 % 10);
    t.push_back(x % 10);
  };
  digits(a);
  t.push_back(kPlus);
  digits(b);
  t.push_back(kEquals);
  if (format_.delimiter) t.push_back(kDollar);
  for (int d : answer(a, b)) t.push_back(d);
  if (format_.delimiter) t.push_back(kDollar);
  return t;
}

std::string AdditionTask::render(const std::vector<int>& tokens) {
  std::string s;
  for (int t : tokens) s += t < 10 ? static_cast<char>('0' + t) : t == kPlus ? '+' : t == kEquals ? '=' : t == kBos ? '^' : '$';
  return s;
}

std::vector<std::pair<int, int>> AdditionTask::test_set(int size, std::uint64_t seed) {
  Rng rng(stream_seed(seed, "addition3.test"));
  if (size < 0 || size > kPairs / 2)
    throw std::invalid_argument("test_set: size " + std::to_string(size) + " is outside 0.." + std::to_string(kPairs / 2));
  std::vector<std::pair<int, int>> pairs;
  std::vector<bool> taken(kPairs, false);
  while (static_cast<int>(pairs.size()) < size) {
    const auto p = sample(rng);
    if (taken[pair_index(p.first, p.second)]) continue;  // distinct: a repeated pair would count twice
    taken[pair_index(p.first, p.second)] = true;
    pairs.push_back(p);
  }
  return pairs;
}

std::vector<bool> AdditionTask::held_out_mask(const std::vector<std::pair<int, int>>& test_pairs) {
  std::vector<bool> mask(kPairs, false);
  for (const auto& [a, b] : test_pairs) mask[pair_index(a, b)] = true;
  return mask;
}

std::pair<int, int> AdditionTask::sample_training(Rng& rng, const std::vector<bool>& held_out) {
  for (;;) {
    const auto p = sample(rng);
    if (!held_out[pair_index(p.first, p.second)]) return p;
  }
}

}  // namespace symbreak::experiments
