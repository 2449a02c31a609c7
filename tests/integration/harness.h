// Shared fixture code of the integration suites: temp dirs, config/secret files, a private
// migrated PostgreSQL, and spawning a daemon that logs its listening port as a JSON line.
// Test-only (erds_integration_harness); not thread-safe unless stated.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "erds/base/pg.h"
#include "erds/base/result.h"
#include "process.h"
#include "test_database.h"

namespace erds::itest {

// A fresh directory /tmp/<prefix>.XXXXXX, removed recursively on destruction. `path` is empty if
// mkdtemp failed.
struct TempDir {
  explicit TempDir(const std::string& prefix = "erds-itest");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

// Writes `text` to `path` (truncating) and sets `mode` (0600 for secret files).
void writeFile(const std::string& path, const std::string& text, mode_t mode = 0644);
// The whole file, or "" if it cannot be read.
std::string readFile(const std::string& path);
// The lines, each followed by "\n" (for failure messages).
std::string joined(const std::vector<std::string>& lines);

// The "port" of a JSON log line whose event is `event`; nullopt for any other line.
std::optional<uint16_t> listeningPort(const std::string& line,
                                      const std::string& event = "http.listening");
// Waits until `child` logs `event` and returns its port; nullopt on timeout or exit.
std::optional<uint16_t> waitForPort(ChildProcess& child, std::chrono::milliseconds timeout,
                                    const std::string& event = "http.listening");
// SIGTERM, then waits up to `timeout`; returns the exit code (-1 on timeout). See ChildProcess.
int stopGracefully(ChildProcess& child,
                   std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Starts `argv` (e.g. {ERDSD_PATH, "--config", FILE}) into `child` and waits up to `timeout` for
// it to log `event`. Returns the port, or an error message (with the child's stderr). `child` is
// set whenever a process was created, so the suite's tear-down stops it either way.
Result<uint16_t> startDaemon(ChildProcess*& child, std::vector<std::string> argv, std::chrono::milliseconds timeout,
                             const std::string& event = "http.listening");

// A suite's tear-down: stops `daemon` gracefully (if any), then deletes it, `pg` (if given) and
// `dir`, leaving all null. Returns the daemon's exit code (stopGracefully), 0 when there was none.
int stopSuite(ChildProcess*& daemon, TempDir*& dir);
int stopSuite(ChildProcess*& daemon, erds::testing::PrivatePostgres*& pg, TempDir*& dir);

// Splits "host=... user=... password='secret'" into the conninfo without the password and the
// password itself, so the password travels through database.password_file as in production.
std::pair<std::string, std::string> splitPassword(const std::string& conninfo);

// A private PostgreSQL cluster holding one database with owner and app roles, fully migrated.
struct MigratedDatabase {
  std::unique_ptr<erds::testing::PrivatePostgres> pg;
  erds::testing::PrivatePostgres::Roles roles;
  std::unique_ptr<pg::Connection> owner;  // connected as the owner role; reset it if unused
};
// Starts a cluster (durable or fast), creates `database` with its roles and applies every
// migration. Returns the first error (start, roles, owner connection, migrations); an empty list
// of applied migrations on a fresh database is an Internal error.
Result<MigratedDatabase> startMigratedDatabase(bool durable, const std::string& database);

}  // namespace erds::itest
