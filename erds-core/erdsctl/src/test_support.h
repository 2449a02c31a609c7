// Test-only helpers for erds_ctl_tests: a self-deleting temp directory, file utilities, a runner
// for the built erdsctl binary (ERDSCTL_PATH), a throwaway (optionally migrated) database and the
// [database] section of a config file that reaches it. The end-to-end tests of the binary start
// with `using namespace erds::ctl::clitest;` (the names they all use).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>

#include "erds/base/migrations.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"
#include "erds/migrations/migrations.h"
#include "test_database.h"

// erds_ctl_tests is compiled with ERDSCTL_PATH (CMakeLists.txt): the end-to-end tests run the binary.
#ifndef ERDSCTL_PATH
#error "ERDSCTL_PATH must name the built erdsctl binary"
#endif

namespace erds::ctl::testsupport {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "erdsctl-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void writeFile(const std::string& path, const std::string& data, mode_t mode) {
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << data; }
  ::chmod(path.c_str(), mode);
}

// Permission bits of `path`, or -1 if it cannot be stat-ed.
inline int fileMode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

struct CliRun {
  int rc = -1;
  std::string out;
  std::string err;
};

inline std::string shellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

// Runs `program` with `args` through the shell and captures its exit code, stdout and stderr;
// `env` is a prefix of NAME=value assignments; standard input is `stdinText` (/dev/null if empty).
inline CliRun runProgram(const std::string& program, const std::vector<std::string>& args,
                         const std::string& env = {}, const std::string& stdinText = {}) {
  TempDir io;
  std::string in = "/dev/null";
  if (!stdinText.empty()) {
    in = io.file("in");
    writeFile(in, stdinText, 0600);
  }
  std::string cmd = env + (env.empty() ? "" : " ") + shellQuote(program);
  for (const auto& a : args)
    cmd += " " + shellQuote(a);
  cmd += " >" + shellQuote(io.file("out")) + " 2>" + shellQuote(io.file("err")) + " <" +
         shellQuote(in);
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = readFile(io.file("out"));
  r.err = readFile(io.file("err"));
  return r;
}

// Runs the built erdsctl (see runProgram).
inline CliRun erdsctl(const std::vector<std::string>& args, const std::string& env = {},
                      const std::string& stdinText = {}) {
  return runProgram(ERDSCTL_PATH, args, env, stdinText);
}

// Drops the "password=..." word of a libpq key=value conninfo (TestDatabase's values are plain
// words), so tests exercise database.*password_file as an operator would.
inline std::string withoutPassword(const std::string& conninfo) {
  std::string out;
  std::size_t pos = 0;
  while (pos < conninfo.size()) {
    std::size_t end = conninfo.find(' ', pos);
    if (end == std::string::npos) end = conninfo.size();
    const std::string token = conninfo.substr(pos, end - pos);
    if (!token.empty() && !token.starts_with("password=")) out += (out.empty() ? "" : " ") + token;
    pos = end + 1;
  }
  return out;
}

// A throwaway database (erds::testing::TestDatabase) in the PG* cluster, with every migration
// applied as its owner when `migrate`. Unavailable ("run through ./erds test") if PGHOST is unset;
// otherwise the first error of creating, connecting or migrating.
inline Result<std::unique_ptr<erds::testing::TestDatabase>> testDatabase(bool migrate) {
  if (std::getenv("PGHOST") == nullptr) {
    return Error::unavailable(
        "PGHOST is unset: run through ./erds test (it starts a throwaway PostgreSQL)");
  }
  auto db = erds::testing::TestDatabase::create();
  if (!db) return db.error();
  if (migrate) {
    auto owner = pg::Connection::connect((*db)->ownerConninfo());
    if (!owner) return owner.error();
    auto applied = pg::applyMigrations(**owner, allMigrations(), (*db)->appRole());
    if (!applied) return applied.error();
  }
  return std::move(*db);
}

enum class DbRole { Owner, Daemon };

// Writes the password of `db`'s `role` to `dir`/owner.pw or app.pw (mode 0600) and returns the
// "[database]" section that connects as that role through it, as an operator's erds.ini would
// (conninfo without the password; app_role set). Append further sections after it.
inline std::string databaseSection(const erds::testing::TestDatabase& db, DbRole role, const TempDir& dir) {
  const bool owner = role == DbRole::Owner;
  const std::string pw = dir.file(owner ? "owner.pw" : "app.pw");
  writeFile(pw, (owner ? db.ownerPassword() : db.appPassword()) + "\n", 0600);
  const std::string prefix = owner ? "owner_" : "";
  return "[database]\n" + prefix + "conninfo = " + (owner ? db.ownerConninfo(false) : db.appConninfo(false)) +
         "\n" + prefix + "password_file = " + pw + "\napp_role = " + db.appRole() + "\n";
}

}  // namespace erds::ctl::testsupport

// What the end-to-end tests of the binary use by name.
namespace erds::ctl::clitest {
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using testsupport::CliRun;
using testsupport::databaseSection;
using testsupport::DbRole;
using testsupport::fileMode;
using testsupport::readFile;
using testsupport::TempDir;
using testsupport::withoutPassword;
using testsupport::writeFile;
using testsupport::erdsctl;
}  // namespace erds::ctl::clitest
