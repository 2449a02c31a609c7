// Strict base64 (RFC 4648) for SASL and MIME parts; internal to the gateway.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace erds::smtp::internal {

std::string base64Encode(std::string_view in);
// Strict for SASL (no whitespace, correct padding); `lenient` skips CR/LF/space/tab (MIME bodies).
std::optional<std::string> base64Decode(std::string_view in, bool lenient = false);
// base64 with CRLF every 76 characters (MIME), ending with CRLF.
std::string base64EncodeMime(std::string_view in);

}  // namespace erds::smtp::internal
