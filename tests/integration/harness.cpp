// Shared fixture code of the integration suites (see harness.h).
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "erds/base/migrations.h"
#include "erds/migrations/migrations.h"

namespace erds::itest {

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
  const char* p = ::mkdtemp(tmpl.data());
  path = p ? p : "";
}

TempDir::~TempDir() {
  if (!path.empty()) std::filesystem::remove_all(path);
}

void writeFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

std::optional<uint16_t> listeningPort(const std::string& line, const std::string& event) {
  if (line.find("\"" + event + "\"") == std::string::npos) return std::nullopt;
  static const std::regex re("\"port\":([0-9]+)");
  std::smatch m;
  if (!std::regex_search(line, m, re)) return std::nullopt;
  return static_cast<uint16_t>(std::stoi(m[1]));
}

std::optional<uint16_t> waitForPort(ChildProcess& child, std::chrono::milliseconds timeout,
                                    const std::string& event) {
  auto line = child.waitForLine(
      [&event](const std::string& l) { return listeningPort(l, event).has_value(); }, timeout);
  if (!line) return std::nullopt;
  return listeningPort(*line, event);
}

int stopGracefully(ChildProcess& child, std::chrono::milliseconds timeout) {
  child.signal(SIGTERM);
  return child.wait(timeout);
}

Result<uint16_t> startDaemon(ChildProcess*& child, std::vector<std::string> argv, std::chrono::milliseconds timeout,
                             const std::string& event) {
  const std::string name = argv.empty() ? std::string("daemon") : argv[0];
  child = new ChildProcess(std::move(argv), {});
  if (!child->started()) return Error::internal(name + " could not be started");
  auto port = waitForPort(*child, timeout, event);
  if (!port) return Error::unavailable(name + " did not report " + event + "; stderr:\n" + joined(child->stderrLines()));
  return *port;
}

int stopSuite(ChildProcess*& daemon, erds::testing::PrivatePostgres*& pg, TempDir*& dir) {
  int code = 0;
  if (daemon) {
    code = stopGracefully(*daemon);
    delete daemon;
    daemon = nullptr;
  }
  delete pg;
  pg = nullptr;
  delete dir;
  dir = nullptr;
  return code;
}

int stopSuite(ChildProcess*& daemon, TempDir*& dir) {
  erds::testing::PrivatePostgres* none = nullptr;
  return stopSuite(daemon, none, dir);
}

std::pair<std::string, std::string> splitPassword(const std::string& conninfo) {
  std::size_t at = conninfo.find(" password=");
  if (at == std::string::npos) return {conninfo, ""};
  std::string pw = conninfo.substr(at + 10);
  if (pw.size() >= 2 && pw.front() == '\'' && pw.back() == '\'') pw = pw.substr(1, pw.size() - 2);
  return {conninfo.substr(0, at), pw};
}

Result<MigratedDatabase> startMigratedDatabase(bool durable, const std::string& database) {
  MigratedDatabase db;
  auto pg = erds::testing::PrivatePostgres::start(durable);
  if (!pg) return pg.error();
  db.pg = std::move(*pg);
  auto roles = db.pg->createDatabaseAndRoles(database);
  if (!roles) return roles.error();
  db.roles = *roles;
  auto owner = pg::Connection::connect(db.roles.ownerConninfo);
  if (!owner) return owner.error();
  db.owner = std::move(*owner);
  auto applied = pg::applyMigrations(*db.owner, allMigrations(), db.roles.appRole);
  if (!applied) return applied.error();
  if (applied->empty()) return Error::internal("no migration applied to a fresh database");
  return db;
}

}  // namespace erds::itest
