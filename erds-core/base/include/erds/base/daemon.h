// Start-up helpers shared by the daemons (erdsd, erds-signer, erds-smtpd): the common command line,
// stop-signal handling, configuration loading with log initialisation, and pool options.
// None of them print secrets; all errors name the configuration key and its source.
#pragma once

#include <signal.h>

#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include "erds/base/config.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"

namespace erds::daemon {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// The parsed command line of a daemon.
struct DaemonArgs {
  std::string configPath;       // --config FILE / --config=FILE (required)
  bool checkConfig = false;     // --check-config
  std::set<std::string> flags;  // the extra flags (of `extraFlags`) that were given
};

// Parses `--help`/`-h` (prints `usage` to stdout), `--version` (prints "<name> <version>"),
// `--config FILE`, `--config=FILE`, `--check-config` and each flag of `extraFlags`. Returns the
// arguments, or the exit code to return at once: kExitOk after --help/--version, kExitUsage after
// an unknown argument or a missing --config (one line on stderr, "<name>: ..."). Not thread-safe
// (writes to std::cout/std::cerr).
std::variant<DaemonArgs, int> parseArgs(int argc, char** argv, std::string_view name, std::string_view version,
                                        std::string_view usage, std::initializer_list<std::string_view> extraFlags = {});

// SIGPIPE ignored (a write to a closed connection must not kill the daemon) and SIGINT/SIGTERM
// blocked in the calling thread. Construct before any thread starts so every thread inherits the
// mask; then wait() takes the signal synchronously (sigwait).
class StopSignals {
 public:
  StopSignals();
  // Blocks until SIGINT or SIGTERM arrives; returns the signal number.
  int wait() const;
  // "SIGINT" / "SIGTERM" (for the shutdown log record).
  static std::string_view name(int signal);

 private:
  sigset_t set_;
};

// Config::load(path, process environment) and then log::init(processName, log.level).
// InvalidInput (naming the key and file) when the configuration cannot be loaded.
Result<Config> loadConfigAndInitLog(const std::string& path, std::string_view processName);

// Pool options from database.conninfo, database.password_file (read here), database.pool_size
// (1..1000; ignored when `fixedSize` > 0, which is then the size) and database.acquire_timeout.
// InvalidInput naming the key and its source otherwise. The password is never part of a message.
Result<pg::PoolOptions> poolOptionsFromConfig(const Config& config, int fixedSize = 0);

}  // namespace erds::daemon
