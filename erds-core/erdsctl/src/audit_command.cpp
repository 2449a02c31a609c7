// `erdsctl audit verify`: recomputes every writer's hash chain of the audit log
// (erds::AuditLog::verify) and names the first changed, deleted or reordered row.
#include <openssl/crypto.h>

#include <string>

#include "erds/base/audit.h"
#include "erds/base/pg.h"

#include "commands.h"

namespace erds::ctl::internal {
namespace {

std::string oneLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

int auditVerify(const Args& args, Io& io) {
  const std::string prefix = "erdsctl audit verify: ";
  auto config = loadConfigOrReport(args, io);
  if (!config) return kExitUsage;
  // The owner role when configured (it owns the table), else the daemon role (it has SELECT).
  const bool asOwner = config->isSet("database.owner_conninfo");
  const std::string conninfoKey = asOwner ? "database.owner_conninfo" : "database.conninfo";
  const std::string passwordKey =
      asOwner ? "database.owner_password_file" : "database.password_file";
  std::string password;
  if (config->isSet(passwordKey)) {
    auto secret = config->readSecret(passwordKey);
    if (!secret) {
      io.err << "erdsctl: " << secret.error().message << "\n";
      return kExitUsage;
    }
    password.assign(secret->reveal());
  }
  auto conn = pg::Connection::connect(config->getString(conninfoKey), password);
  OPENSSL_cleanse(password.data(), password.size());
  if (!conn) {
    io.err << prefix << "cannot connect with " << conninfoKey << " ("
           << config->sourceOf(conninfoKey) << "): " << oneLine(conn.error().message) << "\n";
    return kExitFailure;
  }
  auto report = AuditLog::verify(**conn);
  if (!report) {
    io.err << prefix << oneLine(report.error().message) << "\n";
    return kExitFailure;
  }
  io.out << "audit log: " << report->rows << " rows, " << report->writers << " writers\n";
  if (!report->ok) {
    io.out << "PROBLEM: " << report->firstProblem << "\n";
    io.err << prefix << report->firstProblem << "\n";
    return kExitFailure;
  }
  io.out << "OK: every writer's hash chain is intact\n";
  return kExitOk;
}

}  // namespace

Command auditVerifyCommand() {
  return Command{
      .path = "audit verify",
      .help = "check every writer's hash chain in the audit log; name the first bad row",
      .usage = "--config FILE",
      .options = {{"--config", "FILE", true}},
      .positionalNames = {},
      .details =
          "Connects with database.owner_conninfo (+ owner_password_file) when set, else with\n"
          "database.conninfo (+ password_file). Exit 0 when every chain is intact, 1 when a row\n"
          "was changed, deleted or reordered (the first one is named) or on a database error,\n"
          "2 on a configuration error.",
      .handler = auditVerify,
  };
}

}  // namespace erds::ctl::internal
