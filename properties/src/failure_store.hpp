// The failure database: each finding of `symbreak check` is stored as one JSON file,
// <property>-<arith>-<hash of the case>.json in CheckOptions::failure_dir, holding the shrunk case, the
// target (reference with an optional fault) and the evidence. A later run replays stored failures
// before any search; `symbreak check --replay FILE` reruns one. Internal to symbreak::properties.
#pragma once

#include <string>

#include "symbreak/properties/runner.hpp"

namespace symbreak::properties {

// The start of every file name of (property, arith): the files a run of that pair replays.
std::string failure_file_prefix(const Property& property, Precision arith);

// Writes the finding atomically; returns its path, or "" when there is no failure_dir or the write
// failed (the run still reports the finding).
std::string save_failure(const CheckOptions& options, const Property& property, Precision arith, const Target& target,
                         const Finding& finding);

struct StoredFailure {
  std::string path;
  Case stored;
  FaultSpec fault;
  std::string target;
};

// Reads one stored failure strictly: a missing or unknown field, property, arith or fault is a
// ConfigError naming the file.
StoredFailure load_failure(const std::string& path, const Property** property, Precision* arith);

}  // namespace symbreak::properties
