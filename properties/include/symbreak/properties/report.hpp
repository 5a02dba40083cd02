// Reports of a check run: a table a person reads at a glance, JSON for tools, JUnit XML for CI.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "symbreak/properties/runner.hpp"

namespace symbreak::properties {

// One line of evidence: "max|Δ| = 2.4e-07 ≤ bound 9.5e-07 (c=2 × ref err 4.7e-07 + atol 1.2e-07)",
// "max|Δ| = 0 (exact)", or the witness / counterexample.
std::string evidence(const Verdict& v);

void print_table(std::ostream& out, const std::vector<Verdict>& verdicts);
// Cases by architecture class, per property and arithmetic.
void print_statistics(std::ostream& out, const std::vector<Verdict>& verdicts);
// The failures, each with its replay line.
void print_findings(std::ostream& out, const std::vector<Verdict>& verdicts);

std::string to_json(const std::vector<Verdict>& verdicts, std::uint64_t seed);
std::string to_junit(const std::vector<Verdict>& verdicts, const std::string& suite_name);

}  // namespace symbreak::properties
