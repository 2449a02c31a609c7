// Test-only PostgreSQL fixtures: a fresh database with owner and daemon roles inside the cluster
// named by the PG* environment (TestDatabase), or a whole private cluster (PrivatePostgres) for
// tests that stop and restart the server. Linked by test binaries only (erds::base_testing).
#pragma once

#include <memory>
#include <string>

#include "erds/base/result.h"

namespace erds::testing {

// Needs the PG* environment of a superuser (./erds test provides it). Creates a fresh database
// erds_test_<random>, an owner role and a daemon (app) role with random names and passwords; drops
// all of it on destruction (terminating leftover sessions first). Fails the calling test
// (ADD_FAILURE + returns Unavailable) if PGHOST is unset or the server cannot be reached.
// Not thread-safe; the conninfo strings may be used from any thread.
class TestDatabase {
 public:
  static Result<std::unique_ptr<TestDatabase>> create();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // libpq conninfo strings including host, port, dbname, user and (unless withPassword is false)
  // password. erds config files refuse a conninfo holding a password: for those, pass false and
  // write ownerPassword()/appPassword() to a mode-0600 file named by database.*password_file.
  std::string ownerConninfo(bool withPassword = true) const;
  std::string appConninfo(bool withPassword = true) const;
  std::string superuserConninfo() const;  // superuser of the PG* environment, this database
  const std::string& appRole() const { return appRole_; }
  const std::string& ownerRole() const { return ownerRole_; }
  const std::string& databaseName() const { return database_; }
  const std::string& ownerPassword() const { return ownerPassword_; }
  const std::string& appPassword() const { return appPassword_; }

 private:
  TestDatabase() = default;
  std::string base_;  // "host=... port=..." of the PG* environment (+ user for the superuser)
  std::string superUser_;
  std::string database_;
  std::string ownerRole_;
  std::string appRole_;
  std::string ownerPassword_;
  std::string appPassword_;
};

// A private PostgreSQL cluster of its own (initdb + pg_ctl in a mktemp dir under /tmp, Unix
// socket only, runuser -u postgres when running as root), durable (fsync on) or fast (fsync,
// synchronous_commit and full_page_writes off). For tests that stop and restart the server
// (readiness, crash tests). Not thread-safe.
class PrivatePostgres {
 public:
  // Unavailable if initdb or start fails (the server log is included in the message).
  static Result<std::unique_ptr<PrivatePostgres>> start(bool durable);
  ~PrivatePostgres();  // stops (immediate) and removes the dir
  PrivatePostgres(const PrivatePostgres&) = delete;
  PrivatePostgres& operator=(const PrivatePostgres&) = delete;

  // Stops the server (fast shutdown, or immediate = crash-like). Idempotent.
  Result<void> stop(bool immediate = false);
  // Starts again after stop(); same directory, socket and port.
  Result<void> restart();
  bool running() const { return running_; }

  std::string socketDir() const { return dir_; }
  int port() const { return port_; }
  std::string dataDir() const { return dir_ + "/data"; }
  // "host=<socketDir> port=<port> user=postgres dbname=<db>"
  std::string superuserConninfo(const std::string& db = "postgres") const;

  // Creates owner + app role (with random passwords and LOGIN) and a database owned by the owner;
  // returns conninfos. Role names are derived from `database` ("<database>_owner", "<database>_app").
  // The conninfos include the passwords; *ConninfoNoPassword omit them (for erds config files).
  struct Roles {
    std::string ownerConninfo, appConninfo, ownerRole, appRole, database;
    std::string ownerPassword, appPassword, ownerConninfoNoPassword, appConninfoNoPassword;
  };
  Result<Roles> createDatabaseAndRoles(const std::string& database);

 private:
  PrivatePostgres() = default;
  Result<void> startServer();
  std::string dir_;
  int port_ = 5432;
  bool durable_ = false;
  bool running_ = false;
};

}  // namespace erds::testing
