// Internal text helpers for the evidence XML writer and reader: C14N escaping, XML 1.0 character
// checks, base64, xs:dateTime and xs:integer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "erds/base/clock.h"

namespace erds::evidence::internal {

// True when `s` is valid UTF-8 made only of XML 1.0 Chars (#x9 | #xA | #xD | [#x20-#xD7FF] |
// [#xE000-#xFFFD] | [#x10000-#x10FFFF]).
bool isXmlText(std::string_view s);

// Appends `s` escaped as Canonical XML escapes text nodes (& < > and CR).
void appendC14nText(std::string& out, std::string_view s);
// Appends `s` escaped as Canonical XML escapes attribute values (& < " TAB LF CR).
void appendC14nAttr(std::string& out, std::string_view s);

std::string base64Encode(std::string_view bytes);
// Ignores XML whitespace; nullopt on any other invalid character or bad padding.
std::optional<std::string> base64Decode(std::string_view text);

// xs:dateTime in UTC with 'Z': seconds, plus a fraction (trailing zeros trimmed) when not whole.
std::string formatDateTime(TimePoint t);
// xs:dateTime with 'Z' or a +hh:mm/-hh:mm offset (required: evidence times are UTC), optional
// fraction (digits beyond microseconds are truncated). nullopt when malformed.
std::optional<TimePoint> parseDateTime(std::string_view s);

// xs:integer restricted to int; surrounding XML whitespace allowed. nullopt when malformed.
std::optional<int> parseInt(std::string_view s);

// Strips leading/trailing XML whitespace (space, TAB, CR, LF).
std::string_view trimXmlSpace(std::string_view s);

}  // namespace erds::evidence::internal
