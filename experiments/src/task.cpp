#include "symbreak/experiments/task.hpp"

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
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < size; ++i) pairs.push_back(sample(rng));
  return pairs;
}

}  // namespace symbreak::experiments
