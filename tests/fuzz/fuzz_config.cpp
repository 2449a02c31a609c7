// Fuzz target: the INI configuration parser (erds::Config::load) and its typed getters.
// Input: the config file text, optionally followed by a line "%%ENV" and NAME=VALUE lines that
// become the environment overrides (ERDS_HTTP_PORT=...).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "erds/base/config.h"
#include "fuzz_support.h"

namespace {

std::string g_dir;
std::string g_path;

void removeDir() {
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

std::map<std::string, std::string> parseEnv(std::string_view text) {
  std::map<std::string, std::string> env;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return env;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  erds::fuzz::quietLogs();
  std::string tmpl = (std::filesystem::temp_directory_path() / "erds-fuzz-config.XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) erds::fuzz::fail("mkdtemp failed");
  g_dir = tmpl;
  g_path = g_dir + "/erds.conf";
  std::atexit(removeDir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  erds::fuzz::clearLogs();
  std::string_view in = erds::fuzz::asView(data, size);
  std::string_view file = in;
  std::map<std::string, std::string> env;
  constexpr std::string_view kEnvMarker = "\n%%ENV\n";
  if (std::size_t at = in.find(kEnvMarker); at != std::string_view::npos) {
    file = in.substr(0, at);
    env = parseEnv(in.substr(at + kEnvMarker.size()));
  }
  {
    std::ofstream out(g_path, std::ios::binary | std::ios::trunc);
    out.write(file.data(), static_cast<std::streamsize>(file.size()));
    if (!out) erds::fuzz::fail("cannot write the temporary config file");
  }

  auto config = erds::Config::load(g_path, env);
  if (!config) {
    if (config.error().message.empty()) erds::fuzz::fail("Config::load failed without a message");
    return 0;
  }
  // Every accepted value must be readable through the getter of its kind (a getter aborts on a
  // value the loader should have refused).
  for (const auto& spec : erds::builtinConfigSchema()) {
    (void)config->isSet(spec.key);
    (void)config->sourceOf(spec.key);
    switch (spec.kind) {
      case erds::ConfigKind::String:
      case erds::ConfigKind::Enum:
        (void)config->getString(spec.key);
        break;
      case erds::ConfigKind::Int:
      case erds::ConfigKind::Port:
        (void)config->getInt(spec.key);
        break;
      case erds::ConfigKind::Bool:
        (void)config->getBool(spec.key);
        break;
      case erds::ConfigKind::Duration:
        (void)config->getMillis(spec.key);
        break;
      case erds::ConfigKind::Bytes:
        (void)config->getBytes(spec.key);
        break;
      case erds::ConfigKind::Path:
      case erds::ConfigKind::SecretFile:
        (void)config->getPath(spec.key);
        break;
    }
  }
  (void)config->mode();
  return 0;
}
