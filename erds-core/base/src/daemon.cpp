#include "erds/base/daemon.h"

#include <pthread.h>

#include <algorithm>
#include <iostream>

#include "erds/base/log.h"

namespace erds::daemon {

std::variant<DaemonArgs, int> parseArgs(int argc, char** argv, std::string_view name, std::string_view version,
                                        std::string_view usage, std::initializer_list<std::string_view> extraFlags) {
  DaemonArgs out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return kExitOk;
    }
    if (a == "--version") {
      std::cout << name << " " << version << "\n";
      return kExitOk;
    }
    if (a == "--config" && i + 1 < argc) {
      out.configPath = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      out.configPath = a.substr(9);
    } else if (a == "--check-config") {
      out.checkConfig = true;
    } else if (std::find(extraFlags.begin(), extraFlags.end(), a) != extraFlags.end()) {
      out.flags.insert(a);
    } else {
      std::cerr << name << ": unknown argument '" << a << "'\n" << usage;
      return kExitUsage;
    }
  }
  if (out.configPath.empty()) {
    std::cerr << name << ": --config FILE is required (see --help)\n";
    return kExitUsage;
  }
  return out;
}

StopSignals::StopSignals() {
  ::signal(SIGPIPE, SIG_IGN);
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int StopSignals::wait() const {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig;
}

std::string_view StopSignals::name(int signal) { return signal == SIGINT ? "SIGINT" : "SIGTERM"; }

Result<Config> loadConfigAndInitLog(const std::string& path, std::string_view processName) {
  auto config = Config::load(path, Config::processEnvironment());
  if (!config) return std::move(config).error();
  log::init(std::string(processName), log::parseLevel(config->getString("log.level")));
  return config;
}

Result<pg::PoolOptions> poolOptionsFromConfig(const Config& config, int fixedSize) {
  pg::PoolOptions o;
  o.conninfo = config.getString("database.conninfo");
  if (config.isSet("database.password_file")) {
    auto password = config.readSecret("database.password_file");
    if (!password) return std::move(password).error();
    o.password = std::string(password->reveal());
  }
  if (fixedSize > 0) {
    o.size = fixedSize;
  } else {
    const int64_t size = config.getInt("database.pool_size");
    if (size < 1 || size > 1000)
      return Error::invalidInput("database.pool_size (" + config.sourceOf("database.pool_size") + "): must be 1..1000");
    o.size = static_cast<int>(size);
  }
  o.acquireTimeout = std::chrono::milliseconds(config.getMillis("database.acquire_timeout"));
  return o;
}

}  // namespace erds::daemon
