// The tables a reader is shown come from the committed ledgers: every committed sweep's results.md,
// and every generated block in the READMEs, equal what `symbreak sweep --markdown` computes now from
// the sweep's ledger and its runs' files. A hand-edited number, or a rule whose code changed a
// committed verdict, fails here.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "symbreak/experiments/analysis.hpp"
#include "symbreak/experiments/sweep.hpp"
#include "symbreak/io.hpp"
#include "symbreak/json_reader.hpp"

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

// A committed sweep: experiments/results/sweeps/NAME decided by experiments/plans/NAME.json, or a pilot:
// experiments/results/pilots/NAME run from experiments/plans/pilots/NAME.json.
struct Committed {
  std::string kind, name;  // kind: "sweeps" or "pilots"
  fs::path dir() const { return kSource / "experiments/results" / kind / name; }
  fs::path plan() const {
    return kSource / "experiments/plans" / ((kind == "pilots" ? "pilots/" : "") + name + ".json");
  }
};

std::vector<Committed> committed_sweeps() {
  std::vector<Committed> all;
  for (const std::string kind : {"sweeps", "pilots"})
    for (const auto& e : fs::directory_iterator(kSource / "experiments/results" / kind))
      if (fs::exists(e.path() / "ledger.sqlite")) all.push_back({kind, e.path().filename().string()});
  std::sort(all.begin(), all.end(), [](const Committed& x, const Committed& y) { return x.dir() < y.dir(); });
  return all;
}

std::string regenerated(const Committed& c) { return sweep_markdown(load_plan(c.plan().string()), c.dir().string()); }

TEST(CommittedResults, EverySweepsResultsMdMatchesItsLedger) {
  int checked = 0;
  for (const Committed& c : committed_sweeps()) {
    const fs::path md = c.dir() / "results.md";
    if (!fs::exists(md)) continue;  // a sweep still running writes results.md when it finishes
    EXPECT_EQ(slurp(md), regenerated(c)) << md << " differs from its ledger";
    ++checked;
  }
  EXPECT_GE(checked, 4);  // residual, depth, symmetry and the biases-gap-budget pilot at least
}

// Each generated block names its source, experiments/results/sweeps/NAME or .../pilots/NAME; its table
// must appear, as it stands, in what `symbreak sweep --markdown` prints for that ledger now.
TEST(CommittedResults, EveryGeneratedTableInTheReadmesMatchesItsLedger) {
  const std::string begin = "<!-- BEGIN generated from experiments/results/", end = "<!-- END generated -->";
  int blocks = 0;
  for (const fs::path& readme : {kSource / "README.md", kSource / "experiments/README.md"}) {
    const std::string text = slurp(readme);
    for (std::size_t at = text.find(begin); at != std::string::npos; at = text.find(begin, at + 1)) {
      const std::size_t source_start = at + begin.size(), source_end = text.find(' ', source_start);
      const std::string source = text.substr(source_start, source_end - source_start);  // sweeps/NAME or pilots/NAME
      const std::size_t slash = source.find('/');
      ASSERT_NE(slash, std::string::npos) << readme << ": a generated block names no experiments/results/KIND/NAME: " << source;
      const Committed c{source.substr(0, slash), source.substr(slash + 1)};
      ASSERT_TRUE(c.kind == "sweeps" || c.kind == "pilots") << readme << ": " << source;
      const std::size_t body = text.find('\n', at) + 1, stop = text.find(end, body);
      ASSERT_NE(stop, std::string::npos) << readme << ": a generated block from " << source << " has no end marker";
      const std::string table = text.substr(body, stop - body);
      EXPECT_THAT(regenerated(c), ::testing::HasSubstr(table))
          << readme << ": the table generated from " << source << " no longer matches its ledger:\n"
          << table;
      ++blocks;
    }
  }
  EXPECT_GE(blocks, 4);
}

// Every committed analysis.json reads through the strict typed reader (the rules and the report read
// them so), and writing the result back gives the same JSON: no field is dropped or invented.
TEST(CommittedResults, EveryAnalysisJsonReadsStrictlyAndRoundTrips) {
  int checked = 0;
  for (const auto& e : fs::recursive_directory_iterator(kSource / "experiments/results")) {
    if (e.path().filename() != "analysis.json") continue;
    const std::string path = e.path().string();
    const nlohmann::json stored = parse_json_text(slurp(e.path()), path);
    RunAnalysis a;
    ASSERT_NO_THROW(a = read_analysis_json(path)) << path;
    nlohmann::json again = analysis_to_json(a), expected = stored;
    // Fields added later are written as null where an older file lacks them; the model config is
    // written in full (defaults included), so compare it as a parsed config.
    for (const char* key : {"log_diagonality_index", "diagonality_index_unbiased", "log_diagonality_index_unbiased"})
      for (std::size_t p = 0; p < again["pairs"].size(); ++p)
        if (!expected["pairs"][p].contains(key)) again["pairs"][p].erase(key);
    if (!expected.contains("at_step")) again.erase("at_step");
    EXPECT_EQ(config_to_json(parse_config_object(again["model"], path, "model")),
              config_to_json(parse_config_object(expected["model"], path, "model")))
        << path;
    again.erase("model");
    expected.erase("model");
    EXPECT_EQ(again, expected) << path << ": reading and writing changed it";
    ++checked;
  }
  EXPECT_GE(checked, 100);
}

}  // namespace
}  // namespace symbreak::experiments
