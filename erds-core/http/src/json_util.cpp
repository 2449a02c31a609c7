// JSON string literals for the HTTP layer: one escaper (erds::log::jsonEscape) for logs and
// responses, so invalid UTF-8 from a client never reaches a response as invalid JSON.
#include "json_util.h"

#include "erds/base/log.h"

namespace erds::http::internal {

std::string jsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  out += log::jsonEscape(s);
  out.push_back('"');
  return out;
}

}  // namespace erds::http::internal
