// The tables a reader is shown come from the committed ledgers: every committed sweep's results.md,
// and every generated block in the READMEs, equal what `symbreak sweep --markdown` computes now from
// the sweep's ledger and its runs' files. A hand-edited number, or a rule whose code changed a
// committed verdict, fails here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "symbreak/experiments/sweep.hpp"

namespace symbreak::experiments {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = SYMBREAK_SOURCE_DIR;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Committed sweeps: experiments/results/sweeps/NAME with a ledger, decided by experiments/plans/NAME.json.
std::vector<std::string> committed_sweeps() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(kSource / "experiments/results/sweeps"))
    if (fs::exists(e.path() / "ledger.sqlite")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string regenerated(const std::string& name) {
  return sweep_markdown((kSource / "experiments/plans" / (name + ".json")).string(),
                        (kSource / "experiments/results/sweeps" / name).string());
}

TEST(CommittedResults, EverySweepsResultsMdMatchesItsLedger) {
  int checked = 0;
  for (const std::string& name : committed_sweeps()) {
    const fs::path md = kSource / "experiments/results/sweeps" / name / "results.md";
    if (!fs::exists(md)) continue;  // a sweep still running writes results.md when it finishes
    EXPECT_EQ(slurp(md), regenerated(name)) << md << " differs from its ledger";
    ++checked;
  }
  EXPECT_GE(checked, 2);  // residual and depth at least
}

TEST(CommittedResults, EveryGeneratedTableInTheReadmesMatchesItsLedger) {
  const std::string begin = "<!-- BEGIN generated from experiments/results/sweeps/", end = "<!-- END generated -->";
  int blocks = 0;
  for (const fs::path& readme : {kSource / "README.md", kSource / "experiments/README.md"}) {
    const std::string text = slurp(readme);
    for (std::size_t at = text.find(begin); at != std::string::npos; at = text.find(begin, at + 1)) {
      const std::size_t name_start = at + begin.size(), name_end = text.find(' ', name_start);
      const std::string name = text.substr(name_start, name_end - name_start);
      const std::size_t body = text.find('\n', at) + 1, stop = text.find(end, body);
      ASSERT_NE(stop, std::string::npos) << readme << ": a generated block from " << name << " has no end marker";
      const std::string table = text.substr(body, stop - body);
      EXPECT_THAT(regenerated(name), ::testing::HasSubstr(table))
          << readme << ": the table generated from " << name << " no longer matches its ledger:\n"
          << table;
      ++blocks;
    }
  }
  EXPECT_GE(blocks, 4);
}

}  // namespace
}  // namespace symbreak::experiments
