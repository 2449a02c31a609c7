// Internal: one factory per subcommand; builtin_commands.cpp lists them in --help order.
// To add a subcommand, write `Command fooBarCommand()` in foo_command.cpp and add it to the table.
#pragma once

#include "erds/base/config.h"
#include "erds/base/result.h"
#include "erds/ctl/command.h"

namespace erds::ctl::internal {

Command pkiInitCommand();
Command dbMigrateCommand();
Command dbStatusCommand();
Command configCheckCommand();
Command evidenceVerifyCommand();
Command evidenceIssueCommand();
Command evidenceEventsCommand();
Command auditVerifyCommand();
Command userAddCommand();
Command userListCommand();
Command userSetRoleCommand();
Command userResetPasswordCommand();

// Loads --config FILE (ERDS_* environment applied). On error writes "erdsctl: <Config's one-line
// message>" to io.err and returns the error; the caller then exits kExitUsage.
Result<Config> loadConfigOrReport(const Args& args, Io& io);

}  // namespace erds::ctl::internal
