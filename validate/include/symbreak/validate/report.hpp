// Reports of `symbreak validate`: a table for the terminal, JSON, JUnit XML and a self-contained HTML
// page. Each names the region the kernel declared, and per property what was skipped and why.
#pragma once

#include <ostream>
#include <string>

#include "symbreak/validate/suite.hpp"

namespace symbreak::validate {

void print_report(std::ostream& out, const OpReport& report);
// After a multi-seed run: per property, on how many seeds it failed; then the shown seed's report.
void print_seeds_summary(std::ostream& out, const std::string& kernel, const SeedsReport& seeds);
std::string report_json(const OpReport& report);
std::string report_junit(const OpReport& report);
std::string report_html(const OpReport& report);

}  // namespace symbreak::validate
