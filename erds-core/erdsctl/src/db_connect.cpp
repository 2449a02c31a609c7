// Database connection set-up shared by the erdsctl subcommands (see commands.h): which role,
// reading its password file, one-line errors, and wiping the password after use.
#include <openssl/crypto.h>

#include <string>

#include "commands.h"

namespace erds::ctl::internal {

std::string oneLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

DbLogin ownerLogin() { return {"database.owner_conninfo", "database.owner_password_file"}; }

DbLogin ownerOrDaemonLogin(const Config& config) {
  if (config.isSet("database.owner_conninfo")) return ownerLogin();
  return {"database.conninfo", "database.password_file"};
}

Result<std::unique_ptr<pg::Connection>> connectOrReport(const Config& config, const DbLogin& login,
                                                        const std::string& cmd, Io& io,
                                                        int& exitCode, std::string* passwordOut) {
  std::string password;
  if (config.isSet(login.passwordKey)) {
    auto secret = config.readSecret(login.passwordKey);
    if (!secret) {
      io.err << "erdsctl: " << secret.error().message << "\n";
      exitCode = kExitUsage;
      return std::move(secret).error();
    }
    password.assign(secret->reveal());
  }
  auto conn = pg::Connection::connect(config.getString(login.conninfoKey), password);
  if (!conn) {
    io.err << "erdsctl " << cmd << ": cannot connect with " << login.conninfoKey << " ("
           << config.sourceOf(login.conninfoKey) << "): " << oneLine(conn.error().message) << "\n";
    exitCode = kExitFailure;
  } else if (passwordOut) {
    passwordOut->swap(password);
  }
  OPENSSL_cleanse(password.data(), password.size());
  return conn;
}

}  // namespace erds::ctl::internal
