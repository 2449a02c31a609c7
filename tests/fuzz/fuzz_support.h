// Helpers shared by the libFuzzer targets in tests/fuzz: quiet logging, conformance material
// paths, and a loud failure for broken invariants. Fuzz-only; never linked into a product binary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace erds::fuzz {

// Routes erds::log output to an in-memory sink (level Error and above) so the fuzzer's own output
// stays readable. Call once from LLVMFuzzerInitialize; call clearLogs() per input to bound memory.
void quietLogs();
void clearLogs();

// The conformance folder (../shared/conformance next to the source tree); the environment
// variable ERDS_CONFORMANCE_DIR overrides the compiled-in path.
std::string conformanceDir();
// The AgID REM sample folder inside conformanceDir().
std::string agidDir();

// The file's bytes, or "" when it cannot be read.
std::string readFile(const std::string& path);

// A broken invariant found by the fuzzer: prints `what` and aborts so libFuzzer records a crash.
[[noreturn]] void fail(std::string_view what);

inline std::string_view asView(const uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace erds::fuzz
