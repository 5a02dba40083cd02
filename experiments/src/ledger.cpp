// The sweep ledger: one SQLite database per sweep directory. Every change is one transaction, so a
// sweep killed at any instant leaves a consistent ledger.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <stdexcept>

#include "symbreak/config.hpp"
#include "symbreak/experiments/ledger.hpp"
#include "symbreak/experiments/plan.hpp"

namespace symbreak::experiments {

std::string_view to_string(RunStatus status) {
  switch (status) {
    case RunStatus::pending: return "pending";
    case RunStatus::running: return "running";
    case RunStatus::done: return "done";
    case RunStatus::failed: return "failed";
  }
  return "?";
}

RunStatus parse_run_status(std::string_view text) {
  for (RunStatus s : {RunStatus::pending, RunStatus::running, RunStatus::done, RunStatus::failed})
    if (to_string(s) == text) return s;
  throw std::runtime_error("ledger: unknown run status '" + std::string(text) + "'");
}

using nlohmann::json;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs(
  run_id TEXT PRIMARY KEY,
  condition TEXT NOT NULL,
  seed INTEGER NOT NULL,
  config_hash TEXT NOT NULL,
  steps INTEGER NOT NULL,
  threads INTEGER,
  status TEXT NOT NULL CHECK(status IN ('pending', 'running', 'done', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  started_at TEXT, ended_at TEXT, rank INTEGER, host TEXT,
  final_exact REAL, best_exact REAL, first_step_converged INTEGER, final_loss REAL, wall_seconds REAL,
  per_digit TEXT, result TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS attempts(
  run_id TEXT NOT NULL REFERENCES runs(run_id),
  attempt INTEGER NOT NULL,
  started_at TEXT NOT NULL, ended_at TEXT,
  resumed_from INTEGER NOT NULL,
  outcome TEXT, rank INTEGER, host TEXT,
  PRIMARY KEY(run_id, attempt));
)sql";

std::string now_utc() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("ledger: ") + sqlite3_errmsg(db) + " in: " + sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), -1, SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("ledger: ") + sqlite3_errmsg(db_));
  }
  std::string text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  bool null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

Ledger::Ledger(const std::string& path, bool read_only) : path_(path) {
  const int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw ConfigError(path + ": cannot open the ledger (" + why + ")");
  }
  sqlite3_busy_timeout(db_, 10000);
  if (!read_only) {
    // A rollback journal, not WAL: every committed write is in ledger.sqlite itself, so the file can
    // be committed to git mid-sweep (a WAL ledger kept its runs in ledger.sqlite-wal, which was lost).
    exec("PRAGMA journal_mode=DELETE;");
    exec("PRAGMA synchronous=FULL;");
    exec(kSchema);
  }
}

Ledger::~Ledger() { sqlite3_close(db_); }

void Ledger::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(path_ + ": " + why);
  }
}

std::optional<std::string> Ledger::meta(const std::string& key) const {
  Statement s(db_, "SELECT value FROM meta WHERE key = ?");
  s.bind(1, key);
  if (s.step()) return s.text(0);
  return std::nullopt;
}

void Ledger::set_meta(const std::string& key, const std::string& value) {
  Statement s(db_, "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  s.bind(1, key).bind(2, value).step();
}

// A plan whose decision rules (or description) were restated after its runs still describes the
// same runs: the plan as bound, without "decision" and "description", must equal the plan now, and
// every run's config must be its condition's config now. The rules' history is the plans'
// provenance (experiments/plans/provenance.json), which the report prints.
bool Ledger::same_runs_as_bound(const Plan& plan) const {
  const auto stored_text = meta("plan");
  if (!stored_text) return false;
  nlohmann::json stored = nlohmann::json::parse(*stored_text, nullptr, false), now = plan.json;
  if (!stored.is_object() || !now.is_object()) return false;
  for (nlohmann::json* j : {&stored, &now}) {
    j->erase("decision");
    j->erase("description");
  }
  if (stored != now) return false;
  for (const RunRecord& r : runs()) {
    const auto c = std::find_if(plan.conditions.begin(), plan.conditions.end(), [&](const auto& pc) { return pc.name == r.condition; });
    if (c == plan.conditions.end() || c->config_hash != r.config_hash) return false;
  }
  return true;
}

void Ledger::bind_plan(const Plan& plan) {
  const auto hash = meta("plan_hash");
  if (!hash) {
    exec("BEGIN IMMEDIATE");
    set_meta("plan_hash", plan.hash);
    set_meta("plan_name", plan.name);
    set_meta("plan", plan.json.dump(2));
    set_meta("created_at", now_utc());
    exec("COMMIT");
    return;
  }
  if (*hash != plan.hash && !same_runs_as_bound(plan)) {
    const std::string name = meta("plan_name").value_or("?");
    throw ConfigError(path_ + ": this sweep directory belongs to plan \"" + name + "\" as it was (fingerprint " + *hash + "); " +
                      plan.path + " now differs (fingerprint " + plan.hash +
                      ", the plan file or its base config changed, beyond its decision rules and description). Use another "
                      "--out, or restore the plan.");
  }
}

int Ledger::add_runs(const Plan& plan, const std::vector<std::uint64_t>& seeds, const std::vector<std::string>& conditions) {
  int added = 0;
  exec("BEGIN IMMEDIATE");
  try {
    for (const PlanCondition& c : plan.conditions) {
      bool wanted = conditions.empty();
      for (const auto& n : conditions) wanted = wanted || n == c.name;
      if (!wanted) continue;
      for (std::uint64_t seed : seeds) {
        Statement s(
            db_,
            "INSERT OR IGNORE INTO runs(run_id, condition, seed, config_hash, steps, status) VALUES(?, ?, ?, ?, ?, 'pending')");
        s.bind(1, run_id(c.name, seed)).bind(2, c.name).bind(3, static_cast<std::int64_t>(seed)).bind(4, c.config_hash);
        s.bind(5, static_cast<std::int64_t>(c.steps)).step();
        added += sqlite3_changes(db_);
      }
    }
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
  return added;
}

int Ledger::reset_interrupted() {
  exec("BEGIN IMMEDIATE");
  exec("UPDATE attempts SET outcome = 'interrupted', ended_at = NULL WHERE outcome IS NULL");
  exec("UPDATE runs SET status = 'pending' WHERE status IN ('running', 'failed')");
  const int n = sqlite3_changes(db_);
  exec("COMMIT");
  return n;
}

std::vector<RunRecord> Ledger::runs() const {
  Statement s(
      db_,
      "SELECT run_id, condition, seed, config_hash, steps, threads, status, attempts, started_at, ended_at, rank, host, "
      "final_exact, best_exact, first_step_converged, final_loss, wall_seconds, per_digit, error FROM runs ORDER BY rowid");
  std::vector<RunRecord> out;
  while (s.step()) {
    RunRecord r;
    r.run_id = s.text(0);
    r.condition = s.text(1);
    r.seed = static_cast<std::uint64_t>(s.integer(2));
    r.config_hash = s.text(3);
    r.steps = static_cast<int>(s.integer(4));
    r.threads = static_cast<int>(s.integer(5));
    r.status = parse_run_status(s.text(6));
    r.attempts = static_cast<int>(s.integer(7));
    r.started_at = s.text(8);
    r.ended_at = s.text(9);
    r.rank = s.null(10) ? -1 : static_cast<int>(s.integer(10));
    r.host = s.text(11);
    if (!s.null(12)) r.final_exact = s.real(12);
    if (!s.null(13)) r.best_exact = s.real(13);
    if (!s.null(14)) r.first_step_converged = static_cast<int>(s.integer(14));
    if (!s.null(15)) r.final_loss = s.real(15);
    if (!s.null(16)) r.wall_seconds = s.real(16);
    if (!s.null(17)) r.per_digit = json::parse(s.text(17)).get<std::vector<double>>();
    r.error = s.text(18);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<RunRecord> Ledger::run(const std::string& id) const {
  for (auto& r : runs())
    if (r.run_id == id) return r;
  return std::nullopt;
}

std::vector<AttemptRecord> Ledger::attempts() const {
  Statement s(
      db_,
      "SELECT run_id, attempt, started_at, ended_at, resumed_from, outcome, rank, host FROM attempts ORDER BY run_id, attempt");
  std::vector<AttemptRecord> out;
  while (s.step()) {
    AttemptRecord a;
    a.run_id = s.text(0);
    a.attempt = static_cast<int>(s.integer(1));
    a.started_at = s.text(2);
    a.ended_at = s.text(3);
    a.resumed_from = static_cast<int>(s.integer(4));
    a.outcome = s.text(5);
    a.rank = s.null(6) ? -1 : static_cast<int>(s.integer(6));
    a.host = s.text(7);
    out.push_back(std::move(a));
  }
  return out;
}

void Ledger::mark_running(const std::string& id, int threads, int rank, const std::string& host, int resumed_from) {
  exec("BEGIN IMMEDIATE");
  try {
    const std::string now = now_utc();
    Statement u(db_,
                "UPDATE runs SET status = 'running', attempts = attempts + 1, threads = ?, rank = ?, host = ?, "
                "started_at = COALESCE(started_at, ?), error = NULL WHERE run_id = ?");
    u.bind(1, static_cast<std::int64_t>(threads))
        .bind(2, static_cast<std::int64_t>(rank))
        .bind(3, host)
        .bind(4, now)
        .bind(5, id)
        .step();
    Statement a(db_,
                "INSERT INTO attempts(run_id, attempt, started_at, resumed_from, rank, host) "
                "VALUES(?, (SELECT attempts FROM runs WHERE run_id = ?), ?, ?, ?, ?)");
    a.bind(1, id)
        .bind(2, id)
        .bind(3, now)
        .bind(4, static_cast<std::int64_t>(resumed_from))
        .bind(5, static_cast<std::int64_t>(rank));
    a.bind(6, host).step();
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

void Ledger::mark_done(const std::string& id, const json& r) {
  exec("BEGIN IMMEDIATE");
  try {
    const std::string now = now_utc();
    Statement u(db_,
                "UPDATE runs SET status = 'done', ended_at = ?, final_exact = ?, best_exact = ?, first_step_converged = ?, "
                "final_loss = ?, wall_seconds = ?, per_digit = ?, result = ?, error = NULL WHERE run_id = ?");
    u.bind(1, now).bind(2, r.at("final_exact").get<double>()).bind(3, r.at("best_exact").get<double>());
    if (r.at("first_step_converged").is_null()) u.bind_null(4);
    else u.bind(4, r.at("first_step_converged").get<std::int64_t>());
    u.bind(5, r.at("final_loss").get<double>()).bind(6, r.at("wall_seconds").get<double>());
    u.bind(7, r.at("per_digit").dump()).bind(8, r.dump()).bind(9, id).step();
    Statement a(db_, "UPDATE attempts SET ended_at = ?, outcome = 'done' WHERE run_id = ? AND outcome IS NULL");
    a.bind(1, now).bind(2, id).step();
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

void Ledger::mark_failed(const std::string& id, const std::string& error) {
  exec("BEGIN IMMEDIATE");
  try {
    const std::string now = now_utc();
    Statement u(db_, "UPDATE runs SET status = 'failed', ended_at = ?, error = ? WHERE run_id = ?");
    u.bind(1, now).bind(2, error).bind(3, id).step();
    Statement a(db_, "UPDATE attempts SET ended_at = ?, outcome = 'failed' WHERE run_id = ? AND outcome IS NULL");
    a.bind(1, now).bind(2, id).step();
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

}  // namespace symbreak::experiments
