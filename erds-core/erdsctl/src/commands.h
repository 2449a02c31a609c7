// Internal: one factory per subcommand; builtin_commands.cpp lists them in --help order.
// To add a subcommand, write `Command fooBarCommand()` in foo_command.cpp and add it to the table.
#pragma once

#include <memory>
#include <string>

#include "erds/base/config.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"
#include "erds/ctl/command.h"

namespace erds::ctl::internal {

Command pkiInitCommand();
Command pkiOcspCommand();
Command dbMigrateCommand();
Command dbStatusCommand();
Command configCheckCommand();
Command evidenceVerifyCommand();
Command evidenceIssueCommand();
Command evidenceEventsCommand();
Command auditVerifyCommand();
Command userAddCommand();
Command userListCommand();
Command userShowCommand();
Command userSetRoleCommand();
Command userResetPasswordCommand();
Command userRevokeTokensCommand();

// Loads --config FILE (ERDS_* environment applied). On error writes "erdsctl: <Config's one-line
// message>" to io.err and returns the error; the caller then exits kExitUsage.
Result<Config> loadConfigOrReport(const Args& args, Io& io);

// libpq and OpenSSL messages can span lines; erdsctl reports one line per problem.
std::string oneLine(std::string s);

// The configuration keys naming a database role's conninfo and its password file.
struct DbLogin {
  std::string conninfoKey;
  std::string passwordKey;
};
// The owner role (database.owner_conninfo + database.owner_password_file).
DbLogin ownerLogin();
// The owner role when database.owner_conninfo is set, else the daemon role (database.conninfo +
// database.password_file).
DbLogin ownerOrDaemonLogin(const Config& config);

// Connects as `login`, reading its password file when set. On failure writes one line to io.err
// and sets `exitCode`: kExitUsage when the password file cannot be read ("erdsctl: <message>"),
// kExitFailure when libpq fails ("erdsctl <cmd>: cannot connect with <key> (<source>): <why>").
// The password is wiped, unless `passwordOut` is given: then, on success only, it is moved there
// and the caller must wipe it (OPENSSL_cleanse) after use.
Result<std::unique_ptr<pg::Connection>> connectOrReport(const Config& config, const DbLogin& login,
                                                        const std::string& cmd, Io& io,
                                                        int& exitCode,
                                                        std::string* passwordOut = nullptr);

}  // namespace erds::ctl::internal
