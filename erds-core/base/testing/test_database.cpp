// TestDatabase and PrivatePostgres: throwaway PostgreSQL databases and clusters for tests.
#include "test_database.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "erds/base/aead.h"
#include "erds/base/pg.h"

namespace erds::testing {
namespace {

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

// Quotes a conninfo value ('...' with \ and ' escaped).
std::string cq(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

std::string randomHex(std::size_t bytes) { return crypto::toHex(crypto::randomBytes(bytes)); }

// Runs a PostgreSQL client/server program as the cluster's user, output appended to `logFile`.
// Returns the exit status (or -1 if it could not be started).
int runProgram(const std::vector<std::string>& args, const std::string& logFile) {
  std::vector<std::string> full;
  if (::geteuid() == 0) full = {"runuser", "-u", "postgres", "--"};
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    // The server user may not be able to enter the caller's working directory.
    if (::chdir("/tmp") != 0) ::_exit(126);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string readTail(const std::string& path, std::size_t max = 2000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max) s = s.substr(s.size() - max);
  return s;
}

std::string pgBinDir() {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    if (std::filesystem::exists(e.path() / "bin" / "pg_ctl")) dirs.push_back(e.path().filename().string());
  }
  if (dirs.empty()) return {};
  std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
    return std::atoi(a.c_str()) < std::atoi(b.c_str());
  });
  return "/usr/lib/postgresql/" + dirs.back() + "/bin";
}

Result<void> execAll(pg::Connection& c, const std::vector<std::string>& stmts) {
  for (const auto& s : stmts) {
    auto r = c.exec(s);
    if (!r) return std::move(r).error();
  }
  return ok();
}

}  // namespace

// ---- TestDatabase --------------------------------------------------------------------------

Result<std::unique_ptr<TestDatabase>> TestDatabase::create() {
  const char* host = std::getenv("PGHOST");
  if (host == nullptr || *host == '\0') {
    ADD_FAILURE() << "PGHOST is unset: database tests need a PostgreSQL superuser in the PG* environment; "
                     "run through ./erds test (or start the throwaway cluster from docs/TOOLCHAIN.md)";
    return Error::unavailable("PGHOST is unset: run through ./erds test");
  }
  std::unique_ptr<TestDatabase> db(new TestDatabase());
  db->base_ = "host=" + cq(host) + " port=" + cq(envOr("PGPORT", "5432"));
  db->superUser_ = envOr("PGUSER", "postgres");
  const std::string suffix = randomHex(5);
  db->database_ = "erds_test_" + suffix;
  db->ownerRole_ = "erds_test_" + suffix + "_owner";
  db->appRole_ = "erds_test_" + suffix + "_app";
  db->ownerPassword_ = randomHex(16);
  db->appPassword_ = randomHex(16);

  auto admin = pg::Connection::connect(db->base_ + " user=" + cq(db->superUser_) + " dbname=" +
                                       cq(envOr("PGDATABASE", "postgres")));
  if (!admin) {
    ADD_FAILURE() << "cannot connect to the test PostgreSQL: " << admin.error().message;
    return std::move(admin).error();
  }
  // Passwords are random hex, so inlining them as literals is safe.
  auto r = execAll(**admin, {
      "CREATE ROLE " + pg::quoteIdentifier(db->ownerRole_) + " LOGIN PASSWORD '" + db->ownerPassword_ + "'",
      "CREATE ROLE " + pg::quoteIdentifier(db->appRole_) + " LOGIN PASSWORD '" + db->appPassword_ + "'",
      "CREATE DATABASE " + pg::quoteIdentifier(db->database_) + " OWNER " + pg::quoteIdentifier(db->ownerRole_),
  });
  if (!r) {
    ADD_FAILURE() << "cannot create the test database: " << r.error().message;
    return std::move(r).error();  // the destructor drops whatever was created
  }
  return db;
}

TestDatabase::~TestDatabase() {
  if (database_.empty()) return;
  auto admin = pg::Connection::connect(base_ + " user=" + cq(superUser_) + " dbname=" +
                                       cq(envOr("PGDATABASE", "postgres")));
  if (!admin) return;  // the server is gone; nothing left to clean
  (void)(*admin)->exec("DROP DATABASE IF EXISTS " + pg::quoteIdentifier(database_) + " WITH (FORCE)");
  (void)(*admin)->exec("DROP ROLE IF EXISTS " + pg::quoteIdentifier(appRole_));
  (void)(*admin)->exec("DROP ROLE IF EXISTS " + pg::quoteIdentifier(ownerRole_));
}

std::string TestDatabase::ownerConninfo(bool withPassword) const {
  return base_ + " dbname=" + cq(database_) + " user=" + cq(ownerRole_) +
         (withPassword ? " password=" + cq(ownerPassword_) : std::string());
}

std::string TestDatabase::appConninfo(bool withPassword) const {
  return base_ + " dbname=" + cq(database_) + " user=" + cq(appRole_) +
         (withPassword ? " password=" + cq(appPassword_) : std::string());
}

std::string TestDatabase::superuserConninfo() const {
  return base_ + " dbname=" + cq(database_) + " user=" + cq(superUser_);
}

// ---- PrivatePostgres -----------------------------------------------------------------------

Result<std::unique_ptr<PrivatePostgres>> PrivatePostgres::start(bool durable) {
  const std::string bin = pgBinDir();
  if (bin.empty()) return Error::unavailable("PostgreSQL server binaries not found under /usr/lib/postgresql");
  char tmpl[] = "/tmp/erds-pg.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Error::unavailable("mkdtemp failed");
  std::unique_ptr<PrivatePostgres> pg(new PrivatePostgres());
  pg->dir_ = tmpl;
  pg->durable_ = durable;
  if (::geteuid() == 0) {
    // The server refuses to run as root; the directory must belong to its user.
    struct passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) return Error::unavailable("running as root but there is no 'postgres' user");
    if (::chown(tmpl, pw->pw_uid, pw->pw_gid) != 0) return Error::unavailable("chown of the cluster dir failed");
  }
  const std::string initLog = pg->dir_ + "/initdb.log";
  std::vector<std::string> init = {bin + "/initdb", "-D", pg->dataDir(), "-U", "postgres", "--auth-local=trust",
                                   "--auth-host=reject", "-E", "UTF8", "--locale=C.UTF-8"};
  if (!durable) init.push_back("--no-sync");
  if (runProgram(init, initLog) != 0) {
    return Error::unavailable("initdb failed: " + readTail(initLog));
  }
  // Only the superuser logs in without a password, so role and password handling is real.
  {
    std::ofstream hba(pg->dataDir() + "/pg_hba.conf", std::ios::trunc);
    hba << "# erds PrivatePostgres: Unix socket only\n"
           "local all postgres trust\n"
           "local all all scram-sha-256\n";
    if (!hba) return Error::unavailable("cannot write pg_hba.conf");
  }
  auto r = pg->startServer();
  if (!r) return std::move(r).error();
  return pg;
}

Result<void> PrivatePostgres::startServer() {
  const std::string bin = pgBinDir();
  std::string opts = "-k " + dir_ + " -p " + std::to_string(port_) + " -c listen_addresses=''";
  if (!durable_) opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
  const std::string ctlLog = dir_ + "/pg_ctl.log";
  int rc = runProgram({bin + "/pg_ctl", "-D", dataDir(), "-l", dir_ + "/server.log", "-w", "-t", "60", "-o", opts,
                       "start"},
                      ctlLog);
  if (rc != 0) return Error::unavailable("pg_ctl start failed: " + readTail(dir_ + "/server.log"));
  running_ = true;
  return ok();
}

Result<void> PrivatePostgres::stop(bool immediate) {
  if (!running_) return ok();
  const std::string bin = pgBinDir();
  int rc = runProgram({bin + "/pg_ctl", "-D", dataDir(), "-m", immediate ? "immediate" : "fast", "-w", "-t", "60",
                       "stop"},
                      dir_ + "/pg_ctl.log");
  if (rc != 0) return Error::unavailable("pg_ctl stop failed: " + readTail(dir_ + "/pg_ctl.log"));
  running_ = false;
  return ok();
}

Result<void> PrivatePostgres::restart() {
  if (running_) return ok();
  return startServer();
}

PrivatePostgres::~PrivatePostgres() {
  if (dir_.empty()) return;
  (void)stop(/*immediate=*/true);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string PrivatePostgres::superuserConninfo(const std::string& db) const {
  return "host=" + cq(dir_) + " port=" + std::to_string(port_) + " user=postgres dbname=" + cq(db);
}

Result<PrivatePostgres::Roles> PrivatePostgres::createDatabaseAndRoles(const std::string& database) {
  Roles roles;
  roles.database = database;
  roles.ownerRole = database + "_owner";
  roles.appRole = database + "_app";
  const std::string ownerPw = randomHex(16);
  const std::string appPw = randomHex(16);
  auto admin = pg::Connection::connect(superuserConninfo());
  if (!admin) return std::move(admin).error();
  ERDS_RETURN_IF_ERROR(execAll(**admin, {
      "CREATE ROLE " + pg::quoteIdentifier(roles.ownerRole) + " LOGIN PASSWORD '" + ownerPw + "'",
      "CREATE ROLE " + pg::quoteIdentifier(roles.appRole) + " LOGIN PASSWORD '" + appPw + "'",
      "CREATE DATABASE " + pg::quoteIdentifier(database) + " OWNER " + pg::quoteIdentifier(roles.ownerRole),
  }));
  const std::string base = "host=" + cq(dir_) + " port=" + std::to_string(port_) + " dbname=" + cq(database);
  roles.ownerPassword = ownerPw;
  roles.appPassword = appPw;
  roles.ownerConninfoNoPassword = base + " user=" + cq(roles.ownerRole);
  roles.appConninfoNoPassword = base + " user=" + cq(roles.appRole);
  roles.ownerConninfo = roles.ownerConninfoNoPassword + " password=" + cq(ownerPw);
  roles.appConninfo = roles.appConninfoNoPassword + " password=" + cq(appPw);
  return roles;
}

}  // namespace erds::testing
