#include "symbreak/proofs/ceiling.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace symbreak::proofs {
namespace {

constexpr int kProblems = 1000 * 1000;
constexpr int kDigits = 4;

// The information a position-blind predictor has for answer digit k: the counts of each digit among
// the preceding tokens (the 6 prompt digits and answer digits 0..k-1; '+' and '=' are always there)
// and the last token ('=' before digit 0, else answer digit k-1).
std::uint64_t class_key(const std::array<int, 10>& counts, int last) {
  std::uint64_t key = 0;
  for (int d = 9; d >= 0; --d) key = key * 10 + static_cast<std::uint64_t>(counts[d]);  // counts <= 9
  return key * 11 + static_cast<std::uint64_t>(last);                                   // last: digit or 10 for '='
}

struct Problem {
  std::array<std::uint32_t, kDigits> cls;  // class index for each answer digit
  std::array<std::uint8_t, kDigits> answer;
};

// The first two digits jointly, exactly: a digit-1 class (M + s0, last s0) determines the digit-0
// class M and s0, so the classes nest and the best pair of predictors picks, for each prompt multiset
// M, the (s0, s1) pair that is most frequent.
std::uint64_t best_first_two(const std::vector<std::uint32_t>& prompt_class, const std::vector<Problem>& problems,
                             std::size_t prompt_classes) {
  std::vector<std::array<std::uint32_t, 100>> pairs(prompt_classes);
  for (std::size_t i = 0; i < problems.size(); ++i) ++pairs[prompt_class[i]][problems[i].answer[0] * 10 + problems[i].answer[1]];
  std::uint64_t total = 0;
  for (const auto& p : pairs) total += *std::max_element(p.begin(), p.end());
  return total;
}

}  // namespace

AdditionCeiling addition3_ceiling() {
  const auto started = std::chrono::steady_clock::now();
  std::array<std::unordered_map<std::uint64_t, std::uint32_t>, kDigits> index;
  std::array<std::vector<std::array<std::uint32_t, 10>>, kDigits> counts;
  std::vector<Problem> problems;
  problems.reserve(kProblems);
  for (int a = 0; a < 1000; ++a)
    for (int b = 0; b < 1000; ++b) {
      std::array<int, 10> seen{};
      for (int x : {a, b})
        for (int p = 0; p < 3; ++p) ++seen[(x / (p == 0 ? 1 : p == 1 ? 10 : 100)) % 10];
      const int sum = a + b;
      Problem pr;
      int last = 10;  // '='
      for (int k = 0; k < kDigits; ++k) {
        const int digit = (sum / (k == 0 ? 1 : k == 1 ? 10 : k == 2 ? 100 : 1000)) % 10;
        const std::uint64_t key = class_key(seen, last);
        auto [it, fresh] = index[k].emplace(key, static_cast<std::uint32_t>(counts[k].size()));
        if (fresh) counts[k].push_back({});
        ++counts[k][it->second][digit];
        pr.cls[k] = it->second;
        pr.answer[k] = static_cast<std::uint8_t>(digit);
        ++seen[digit];
        last = digit;
      }
      problems.push_back(pr);
    }

  AdditionCeiling out;
  out.problems = problems.size();
  std::array<std::vector<std::uint8_t>, kDigits> predict;
  for (int k = 0; k < kDigits; ++k) {
    std::uint64_t best_total = 0;
    predict[k].resize(counts[k].size());
    for (std::size_t c = 0; c < counts[k].size(); ++c) {
      const auto& n = counts[k][c];
      const auto best = std::max_element(n.begin(), n.end());
      best_total += *best;
      predict[k][c] = static_cast<std::uint8_t>(best - n.begin());
    }
    out.digits.push_back({k, Exact(static_cast<long>(best_total)) / kProblems, counts[k].size()});
  }
  // Upper bound: no better than any single digit, nor than the first two digits together.
  std::vector<std::uint32_t> prompt_class(problems.size());
  for (std::size_t i = 0; i < problems.size(); ++i) prompt_class[i] = problems[i].cls[0];
  out.whole_upper_bound = Exact(static_cast<long>(best_first_two(prompt_class, problems, counts[0].size()))) / kProblems;
  for (const auto& d : out.digits) out.whole_upper_bound = std::min(out.whole_upper_bound, d.ceiling);

  // The joint objective: problems with every digit predicted right. Coordinate ascent: for one digit
  // at a time, give each class the answer that is right for the most problems whose other digits are
  // right; never decreases.
  const auto all_right = [&]() {
    std::uint64_t n = 0;
    for (const Problem& p : problems) {
      bool ok = true;
      for (int k = 0; k < kDigits && ok; ++k) ok = predict[k][p.cls[k]] == p.answer[k];
      n += ok;
    }
    return n;
  };
  std::uint64_t best = all_right();
  for (int round = 0; round < 4; ++round) {
    for (int k = 0; k < kDigits; ++k) {
      std::vector<std::array<std::uint32_t, 10>> votes(counts[k].size());
      for (const Problem& p : problems) {
        bool others = true;
        for (int j = 0; j < kDigits && others; ++j)
          if (j != k) others = predict[j][p.cls[j]] == p.answer[j];
        if (others) ++votes[p.cls[k]][p.answer[k]];
      }
      for (std::size_t c = 0; c < votes.size(); ++c) {
        const auto& v = votes[c];
        const auto top = std::max_element(v.begin(), v.end());
        if (*top > v[predict[k][c]]) predict[k][c] = static_cast<std::uint8_t>(top - v.begin());
      }
    }
    const std::uint64_t now = all_right();
    if (now <= best) break;
    best = now;
  }
  out.whole_lower_bound = Exact(static_cast<long>(best)) / kProblems;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

std::string ceiling_json(const AdditionCeiling& c) {
  nlohmann::json j;
  j["task"] = "addition3";
  j["format"] = "abc+def= then the 4-digit sum, least-significant digit first";
  j["predictor"] = "depends only on the multiset of preceding tokens and the last token";
  j["problems"] = c.problems;
  j["per_digit"] = nlohmann::json::array();
  for (const auto& d : c.digits)
    j["per_digit"].push_back({{"digit", d.digit},
                              {"ceiling", exact_to_string(d.ceiling)},
                              {"value", exact_to_double(d.ceiling)},
                              {"classes", d.classes}});
  j["whole_answer_teacher_forced"] = {{"upper_bound", exact_to_string(c.whole_upper_bound)},
                                      {"upper_bound_value", exact_to_double(c.whole_upper_bound)},
                                      {"lower_bound", exact_to_string(c.whole_lower_bound)},
                                      {"lower_bound_value", exact_to_double(c.whole_lower_bound)},
                                      {"exact", c.whole_upper_bound == c.whole_lower_bound}};
  return j.dump(2);
}

}  // namespace symbreak::proofs
