// Error names and the CHECK failure path.
#include "erds/base/result.h"

#include <cstdio>
#include <string>

#include "erds/base/log.h"

namespace erds {

std::string_view errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidInput: return "invalid_input";
    case ErrorCode::NotFound: return "not_found";
    case ErrorCode::Conflict: return "conflict";
    case ErrorCode::Unauthorized: return "unauthorized";
    case ErrorCode::Unavailable: return "unavailable";
    case ErrorCode::IntegrityFailure: return "integrity_failure";
    case ErrorCode::Internal: return "internal";
  }
  return "internal";
}

std::string Error::toString() const {
  std::string out(errorCodeName(code));
  out += ": ";
  out += message;
  return out;
}

void checkFailed(const char* file, int line, const char* cond, std::string_view why) {
  log::write(log::Level::Error, "check_failed",
             {{"file", file}, {"line", line}, {"condition", cond}, {"why", why}});
  // The logger may be redirected in tests; make sure a human sees the reason anyway.
  std::fprintf(stderr, "CHECK failed: %s at %s:%d: %.*s\n", cond, file, line,
               static_cast<int>(why.size()), why.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace erds
