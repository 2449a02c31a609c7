// A strict multipart/form-data parser (RFC 7578) over a buffered body, and the attachment-name
// and media-type checks of the message API. Untrusted input: every failure is InvalidInput.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"

namespace erds::api::internal {

struct FormPart {
  std::string name;                     // Content-Disposition name
  std::optional<std::string> filename;  // Content-Disposition filename (raw, not yet checked)
  std::string contentType;              // "" if the part had none
  std::string_view data;                // points into the parsed body
};

struct MultipartLimits {
  std::size_t maxParts = 64;
  std::size_t maxPartHeaderBytes = 8 * 1024;
};

// The boundary parameter of a multipart/form-data Content-Type. InvalidInput if the media type is
// another one or the boundary is missing or not 1..70 characters of RFC 2046 bchars.
Result<std::string> multipartBoundary(std::string_view contentType);

// Splits `body` into its parts. InvalidInput for a missing opening or closing delimiter, a part
// without Content-Disposition form-data and a name, header lines not ending in CRLF, too many parts.
// The returned views point into `body`.
Result<std::vector<FormPart>> parseMultipart(std::string_view body, std::string_view boundary,
                                             const MultipartLimits& limits = {});

// An attachment name we accept: 1..maxBytes bytes of valid UTF-8, no control characters (C0, DEL,
// C1), no '/', '\\' or ':' (no paths, no drive letters), not "." or ".." and not starting with '.'
// followed only by dots, no leading/trailing space. Returns InvalidInput naming the rule.
Result<void> checkFilename(std::string_view name, std::size_t maxBytes = 255);

// A media type "type/subtype" of RFC 6838 token characters (parameters allowed after ';'), at most
// 255 bytes; returns type/subtype lower-cased, followed by the parameters as sent.
Result<std::string> checkMediaType(std::string_view mediaType);

}  // namespace erds::api::internal
