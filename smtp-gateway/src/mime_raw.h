// A small MIME reader over raw bytes that never re-serialises: every part is a string_view into
// the original buffer, so digests and signatures are computed over exactly what was received.
// (mimetic loses folded/quoted Content-Type parameters such as boundary="----=_Part_1" and
// re-serialises differently; see TOOLCHAIN.md section 2.) Internal to the gateway.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"

namespace erds::smtp::internal {

struct RawHeader {
  std::string name;   // as received
  std::string value;  // unfolded (CRLF removed), leading/trailing whitespace trimmed
};

struct RawEntity {
  std::vector<RawHeader> headers;
  std::string_view headerBlock;  // header lines including their CRLFs (not the empty line)
  std::string_view body;         // everything after the empty line
  // First header named `name` (case-insensitive), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  std::vector<std::string> headers_named(std::string_view name) const;
};

// Splits headers and body. Lines must end with CRLF. InvalidInput on: bare LF/CR in the header
// block, a header line without a colon or with an invalid field name, a continuation line first,
// more than `maxHeaders` fields.
Result<RawEntity> parseEntity(std::string_view raw, std::size_t maxHeaders = 1000);

struct ContentType {
  std::string type = "text";      // lower case
  std::string subtype = "plain";  // lower case
  std::map<std::string, std::string> params;  // lower-case names, unquoted values
  std::string param(std::string_view name) const;
};
// Parses a Content-Type value (RFC 2045 5.1, quoted strings, comments dropped). InvalidInput for
// a value without type/subtype.
Result<ContentType> parseContentType(std::string_view value);
// Parses a header value of the form `token; name=value; ...` (Content-Disposition).
std::map<std::string, std::string> parseParams(std::string_view value, std::string* first);

struct Multipart {
  std::string_view preamble;
  std::vector<std::string_view> parts;  // each part's raw bytes (headers + body), without the
                                        // CRLF that precedes the next delimiter line
  bool closed = false;                  // a close-delimiter "--boundary--" was found
};
// Splits `body` on `boundary` (RFC 2046 5.1.1). InvalidInput for an empty/overlong boundary or no
// delimiter at all.
Result<Multipart> splitMultipart(std::string_view body, std::string_view boundary);

std::string toLower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

// Checks a received message for submission: RFC 5322 header syntax, a From field, and for every
// multipart entity (recursively, depth <= 20) a boundary parameter and a closing delimiter.
// InvalidInput with a short reason otherwise.
Result<void> checkMessageSyntax(std::string_view raw);

}  // namespace erds::smtp::internal
