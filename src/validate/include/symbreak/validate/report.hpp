// Reports of `symbreak validate`: a table for the terminal, JSON, JUnit XML and a self-contained HTML
// page. Each names the region the kernel declared, and per property what was skipped and why.
#pragma once

#include <ostream>
#include <string>

#include "symbreak/validate/suite.hpp"

namespace symbreak::validate {

void print_report(std::ostream& out, const OpReport& report);
std::string report_json(const OpReport& report);
std::string report_junit(const OpReport& report);
std::string report_html(const OpReport& report);

}  // namespace symbreak::validate
