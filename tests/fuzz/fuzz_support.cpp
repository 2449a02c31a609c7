#include "fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "erds/base/log.h"

namespace erds::fuzz {
namespace {
std::string& sink() {
  static std::string s;
  return s;
}
}  // namespace

void quietLogs() {
  log::init("fuzz", log::Level::Error);
  log::setSinkForTest(&sink());
}

void clearLogs() { sink().clear(); }

std::string conformanceDir() {
  if (const char* env = std::getenv("ERDS_CONFORMANCE_DIR"); env != nullptr && *env != '\0')
    return env;
  return ERDS_CONFORMANCE_DIR;
}

std::string agidDir() {
  return conformanceDir() + "/documento_finale_gdl_rem_versione_1.2_28.07.2022_1.latest_version";
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void fail(std::string_view what) {
  std::fprintf(stderr, "FUZZ INVARIANT BROKEN: %.*s\n", static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace erds::fuzz
