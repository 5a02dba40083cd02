// End-to-end: a reduced `symbreak reproduce` (minutes), its report opened in headless Chromium.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_runner.hpp"

namespace symbreak::test {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

const std::vector<std::string> kClaims = {"A1", "A2", "A3", "A4", "A5", "A6", "A7", "A7-matched", "B1",
                                          "B2", "B3", "B3-ECD", "B3-SGD-paperB", "B3-SGD-ours", "B3-SOAP", "B3-AdamW",
                                          "B4", "B4-raw", "X1", "X2"};
const std::set<std::string> kVerdicts = {"reproduced", "not reproduced", "inconclusive", "not run"};

// Debian's Chromium, started as the machine notes require (no sandbox as root, no background
// networking: the machine's network is closed), with a fresh profile.
std::string chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (fs::exists(p)) return p;
  return "";
}

std::string chromium_command(const std::string& profile) {
  return chromium() +
         " --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking "
         "--disable-component-update --disable-sync --disable-quic --user-data-dir=" +
         profile;
}

std::string shell(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* pipe = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  std::size_t got;
  while ((got = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, got);
  const int st = pclose(pipe);
  if (status) *status = st;
  return out;
}

// One reduced reproduction (tests/data/reproduce-plans: tiny models, a few seconds per run), checked
// from the console, claims.json, report.html, and the page as headless Chromium renders it.
TEST(Reproduce, ReducedRunWritesEveryClaimAndItsReportRendersInHeadlessChromium) {
  const std::string out_ = scratch("reproduce_out");
  fs::remove_all(out_);
  const CliResult result_ = run_cli("reproduce --plans " + std::string(SYMBREAK_TEST_DATA) + "/reproduce-plans --out " + out_ +
                                    " --exact-cases 5 --jobs 2 --threads 1");
  ASSERT_EQ(result_.exit_code, 0) << result_.output;
  EXPECT_THAT(result_.output, HasSubstr("What will run"));  // the first screen
  EXPECT_THAT(result_.output, HasSubstr("Estimated total"));
  const nlohmann::json j = nlohmann::json::parse(slurp(out_ + "/claims.json"));
  ASSERT_EQ(j["claims"].size(), kClaims.size());
  for (std::size_t i = 0; i < kClaims.size(); ++i) {
    EXPECT_EQ(j["claims"][i]["id"], kClaims[i]);
    EXPECT_TRUE(kVerdicts.count(j["claims"][i]["verdict"].get<std::string>())) << j["claims"][i].dump();
  }
  // The exact claims are decided by exact checks and the prover, whatever the scale.
  for (std::size_t i : {0u, 1u, 2u, 8u, 9u}) {
    EXPECT_EQ(j["claims"][i]["verdict"], "reproduced") << j["claims"][i].dump();
    EXPECT_EQ(j["claims"][i]["kind"], "exact") << j["claims"][i].dump();
  }
  EXPECT_EQ(j["claims"][4]["kind"], "implementation");  // A5: theorem T7 guarantees it
  EXPECT_EQ(j["claims"][3]["kind"], "empirical");
  // The follow-up plans exist at the default scale only: their claims are not run here.
  for (std::size_t i : {7u, 11u, 12u, 13u, 14u, 15u, 17u}) {
    EXPECT_EQ(j["claims"][i]["verdict"], "not run") << j["claims"][i].dump();
    EXPECT_EQ(j["claims"][i]["measurement"], "not run at this scale") << j["claims"][i].dump();
  }
  EXPECT_TRUE(j["environment"].contains("machine"));
  // The commit is the one built from, written at build time (a configure-time value goes stale in an
  // incremental build): HEAD now, when the build is current, with "+modified" for edited sources.
  std::string head;
  if (FILE* git = popen(("git -C '" + std::string(SYMBREAK_SOURCE_DIR) + "' rev-parse --short HEAD 2>/dev/null").c_str(), "r")) {
    std::array<char, 64> line{};
    if (std::fgets(line.data(), line.size(), git)) head = line.data();
    pclose(git);
  }
  while (!head.empty() && std::isspace(static_cast<unsigned char>(head.back()))) head.pop_back();
  const std::string commit = j["environment"]["commit"].get<std::string>();
  if (head.empty())
    EXPECT_EQ(commit, "unknown");
  else
    EXPECT_EQ(commit.substr(0, commit.find('+')), head) << "rebuild after committing: the binary records " << commit;
  // A second run without --resume refuses to mix results; with it, nothing is retrained.
  expect_bad_input("reproduce --plans " + std::string(SYMBREAK_TEST_DATA) + "/reproduce-plans --out " + out_, "--resume");
  const CliResult again = run_cli("reproduce --plans " + std::string(SYMBREAK_TEST_DATA) + "/reproduce-plans --out " + out_ +
                                  " --exact-cases 5 --resume");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("0 still to run"));

  const std::string html = slurp(out_ + "/report.html");
  // Self-contained: no resource is loaded from anywhere (links to the papers are only links).
  for (const char* remote : {"src=\"http", "src=\"//", "href=\"http://", "<link", "<script", "url(http", "@import"})
    EXPECT_THAT(html, ::testing::Not(HasSubstr(remote))) << remote;
  EXPECT_THAT(html, HasSubstr("src=\"data:image/svg+xml;base64,"));  // figures as standalone SVG documents
  EXPECT_LE(fs::file_size(out_ + "/report.html"), 5u << 20) << "the report must stay under 5 MB";
  // One table per kind of claim, and when each plan's rules were fixed.
  for (const char* kind : {"data-kind=\"exact\"", "data-kind=\"implementation\"", "data-kind=\"empirical\""})
    EXPECT_THAT(html, HasSubstr(kind));
  EXPECT_THAT(html, HasSubstr("When each plan's decision rules were fixed"));
  EXPECT_THAT(html, HasSubstr("Test plan, fixed with the test."));
  if (chromium().empty())
    GTEST_SKIP() << "Chromium is not installed (Debian package chromium; bash .ci/bootstrap.sh test installs it)";
  const std::string profile = scratch("chromium_profile");
  fs::remove_all(profile);
  const std::string url = "file://" + fs::absolute(out_ + "/report.html").string();
  int status = 0;
  const std::string dom = shell(chromium_command(profile) + " --dump-dom " + url, &status);
  ASSERT_FALSE(dom.empty()) << "chromium --dump-dom produced nothing (status " << status << ")";
  // Every claim row, rendered, with a verdict cell that holds one of the four verdicts.
  for (const std::string& id : kClaims) {
    const std::size_t row = dom.find("<tr class=\"claim\" data-claim=\"" + id + "\">");
    ASSERT_NE(row, std::string::npos) << "no rendered row for " << id;
    const std::size_t cell = dom.find("<td class=\"verdict ", row), end_row = dom.find("</tr>", row);
    ASSERT_LT(cell, end_row) << "the row of " << id << " has no verdict cell";
    const std::size_t text = dom.find('>', cell) + 1;
    const std::string verdict = dom.substr(text, std::min(dom.find("</td>", text), dom.find('<', text)) - text);
    EXPECT_TRUE(kVerdicts.count(verdict)) << id << ": " << verdict;
  }
  const std::string shot = scratch("report.png");
  fs::remove(shot);
  shell(chromium_command(profile) + " --hide-scrollbars --window-size=1400,2200 --screenshot=" + shot + " " + url);
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_EQ(slurp(shot).substr(1, 3), "PNG");
  EXPECT_GT(fs::file_size(shot), 20000u);  // a rendered page, not a blank one
}

// --verify on a committed sweep: its results.md is recomputed from its ledger and one run per
// condition is retrained to its first evaluation; identical here (same build, same threads). A
// hand-edited table, or a committed curve this engine does not reproduce, fails it (exit 1).
TEST(Reproduce, VerifyRecomputesTheTablesAndRetrainsASampleOfTheRuns) {
  const std::string plans = std::string(SYMBREAK_TEST_DATA) + "/reproduce-plans", sweeps = scratch("verify_sweeps"),
                    out = scratch("verify_out");
  fs::remove_all(sweeps);
  const CliResult swept = run_cli("sweep --plan " + plans + "/depth.json --out " + sweeps + "/depth --jobs 2 --threads 1 --quiet");
  ASSERT_EQ(swept.exit_code, 0) << swept.output;
  const std::string verify = "reproduce --verify --plans " + plans + " --sweeps " + sweeps + " --exact-cases 3 --jobs 2 --out ";
  fs::remove_all(out);
  const CliResult ok = run_cli(verify + out);
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("results.md against the ledger (every verdict recomputed by the plan's rules): identical"));
  EXPECT_THAT(ok.output, HasSubstr("retrain L1-s1 to step 50: identical to the committed numbers"));
  EXPECT_THAT(ok.output, HasSubstr("retrain L2-s1 to step 50: identical to the committed numbers"));
  EXPECT_THAT(ok.output, HasSubstr("3 of 3 checks pass"));
  const nlohmann::json j = nlohmann::json::parse(slurp(out + "/claims.json"));
  ASSERT_EQ(j["verification"].size(), 3u);
  // B3's own plan (biases) has no committed sweep here: its row names the claims that decide it instead.
  for (const nlohmann::json& c : j["claims"])
    if (c["id"] == "B3") {
      EXPECT_EQ(c["verdict"], "not run");
      EXPECT_THAT(c["measurement"].get<std::string>(),
                  HasSubstr("the claim is restated and decided by B3-ECD, B3-SGD-paperB, B3-SGD-ours, B3-SOAP, B3-AdamW"));
    }
  EXPECT_THAT(slurp(out + "/report.html"), HasSubstr("Verification on this machine"));

  // A hand-edited number in the committed table.
  const std::string md = sweeps + "/depth/results.md", original = slurp(md);
  std::ofstream(md, std::ios::app) << "| L1 | 2/2 | 2 | 1.00 | [0.34, 1.00] | 50 | 1.0000 |\n";
  fs::remove_all(out);
  const CliResult edited = run_cli(verify + out);
  EXPECT_EQ(edited.exit_code, 1) << edited.output;
  EXPECT_THAT(edited.output, HasSubstr("FAIL differs"));
  std::ofstream(md, std::ios::trunc) << original;

  // A committed curve the retraining does not reproduce (the first evaluation's loss moved by 5 %).
  const std::string csv = sweeps + "/depth/runs/L1-s1/metrics.csv";
  std::string metrics = slurp(csv);
  const std::size_t row = metrics.find('\n') + 1, comma = metrics.find(',', row) + 1, end = metrics.find(',', comma);
  const double loss = std::stod(metrics.substr(comma, end - comma));
  metrics.replace(comma, end - comma, std::to_string(loss * 1.05));
  std::ofstream(csv, std::ios::trunc) << metrics;
  fs::remove_all(out);
  const CliResult moved = run_cli(verify + out);
  EXPECT_EQ(moved.exit_code, 1) << moved.output;
  EXPECT_THAT(moved.output, HasSubstr("outside tolerance: loss"));

  // The replay runs with the OpenBLAS kernels run.json records; that name goes into a shell command,
  // so anything but a core name is a bad input.
  const std::string run_json = sweeps + "/depth/runs/L1-s1/run.json";
  nlohmann::json run = nlohmann::json::parse(slurp(run_json));
  ASSERT_TRUE(run.contains("blas_kernels")) << run.dump();
  run["blas_kernels"] = "Haswell; touch pwned";
  std::ofstream(run_json, std::ios::trunc) << run.dump(2);
  expect_bad_input(verify + scratch("verify_kernels"), "\"blas_kernels\" must be an OpenBLAS core name");
  // Likewise the product blocking a replay passes to train: three positive byte counts.
  run["blas_kernels"] = "Haswell";
  for (const char* sizes : {R"("32768; touch pwned")", "[32768, 1048576]", "[32768, -1, 335544320]", "[32768, 1.5, 335544320]"}) {
    run["product_blocking"] = nlohmann::json::parse(sizes);
    std::ofstream(run_json, std::ios::trunc) << run.dump(2);
    expect_bad_input(verify + scratch("verify_blocking"), "\"product_blocking\" must be three positive byte counts");
  }
  expect_bad_input("reproduce --sweeps " + sweeps + " --out " + scratch("verify_bad"), "--sweeps goes with --verify");
}

// The claims file is read strictly: a misspelt key, an unknown kind or a rule the plan lacks exits 2.
TEST(Reproduce, ABadClaimsFileIsABadInput) {
  const std::string plans = std::string(SYMBREAK_TEST_DATA) + "/reproduce-plans";
  nlohmann::json claims = nlohmann::json::parse(slurp(std::string(SYMBREAK_SOURCE_DIR) + "/experiments/claims.json"));
  const auto with = [&](const std::function<void(nlohmann::json&)>& change, const std::string& name) {
    nlohmann::json c = claims;
    change(c);
    const std::string path = scratch(name);
    std::ofstream(path) << c.dump(1);
    return path;
  };
  expect_bad_input("reproduce --plans " + plans + " --out " + scratch("rc1") + " --claims " +
                       with([](nlohmann::json& c) { c["claims"][0]["statment"] = "typo"; }, "c1.json"),
                   "claims[0].statment");
  expect_bad_input("reproduce --plans " + plans + " --out " + scratch("rc2") + " --claims " +
                       with([](nlohmann::json& c) { c["claims"][3]["kind"] = "anecdotal"; }, "c2.json"),
                   "\"anecdotal\"");
  expect_bad_input("reproduce --plans " + plans + " --out " + scratch("rc3") + " --claims " +
                       with([](nlohmann::json& c) { c["claims"][0]["checks"]["EQUIV"] = "probably"; }, "c3.json"),
                   "claims[0].checks.EQUIV");
  // restated_by names other claims of the file.
  const auto index_of = [&](const std::string& id) {
    for (std::size_t i = 0; i < claims["claims"].size(); ++i)
      if (claims["claims"][i]["id"] == id) return i;
    ADD_FAILURE() << id << " is not in experiments/claims.json";
    return std::size_t{0};
  };
  const std::size_t b3 = index_of("B3");
  expect_bad_input("reproduce --plans " + plans + " --out " + scratch("rc4") + " --claims " +
                       with([&](nlohmann::json& c) { c["claims"][b3]["restated_by"] = {"B3-ECD", "B3-Adam"}; }, "c4.json"),
                   "claims[" + std::to_string(b3) + "].restated_by: \"B3-Adam\" is not another claim");
  expect_bad_input("reproduce --plans " + plans + " --out " + scratch("rc5") + " --claims " +
                       with([&](nlohmann::json& c) { c["claims"][b3]["restated_by"] = {"B3"}; }, "c5.json"),
                   "\"B3\" is not another claim");
}

}  // namespace
}  // namespace symbreak::test
