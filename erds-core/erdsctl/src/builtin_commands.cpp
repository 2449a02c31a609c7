// The table of erdsctl subcommands, in the order `erdsctl --help` lists them.
#include "commands.h"

namespace erds::ctl {

const std::vector<Command>& builtinCommands() {
  static const std::vector<Command> kCommands = {
      internal::pkiInitCommand(),
      internal::pkiOcspCommand(),
      internal::dbMigrateCommand(),
      internal::dbStatusCommand(),
      internal::configCheckCommand(),
      internal::evidenceVerifyCommand(),
      internal::evidenceIssueCommand(),
      internal::evidenceEventsCommand(),
      internal::auditVerifyCommand(),
      internal::userAddCommand(),
      internal::userListCommand(),
      internal::userShowCommand(),
      internal::userSetRoleCommand(),
      internal::userResetPasswordCommand(),
      internal::userRevokeTokensCommand(),
  };
  return kCommands;
}

namespace internal {

Result<Config> loadConfigOrReport(const Args& args, Io& io) {
  auto config = Config::load(args.get("--config"), Config::processEnvironment());
  if (!config) io.err << "erdsctl: " << config.error().message << "\n";
  return config;
}

}  // namespace internal
}  // namespace erds::ctl
