// Small JSON helpers private to erds::http (string escaping for hand-built documents).
#pragma once

#include <string>
#include <string_view>

namespace erds::http::internal {

// The JSON string literal for `s`, quotes included (RFC 8259 escaping; bytes >= 0x80 are passed
// through, control characters become \u00XX).
std::string jsonString(std::string_view s);

}  // namespace erds::http::internal
