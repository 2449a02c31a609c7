// Form bodies posted by browsers: application/x-www-form-urlencoded and multipart/form-data
// (RFC 7578). Untrusted input: every failure is InvalidInput, never an exception.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"

namespace erds::portal::internal {

struct UploadedFile {
  std::string field;     // the form field name
  std::string filename;  // as sent by the browser (checked later by the API)
  std::string mediaType; // "" if none
  std::string data;
};

struct Form {
  std::multimap<std::string, std::string> fields;
  std::vector<UploadedFile> files;  // multipart only; parts with an empty filename and no data are dropped

  // The first value of `name`, or "" if absent.
  std::string get(const std::string& name) const;
};

// Parses an urlencoded body ('+' is space). InvalidInput for malformed escapes or more than
// `maxFields` fields.
Result<Form> parseUrlEncoded(std::string_view body, std::size_t maxFields = 200);

// Parses a multipart/form-data body given the request's Content-Type. InvalidInput for another
// media type, a missing/bad boundary, missing delimiters, a part without form-data name, more than
// `maxParts` parts.
Result<Form> parseMultipartForm(std::string_view contentType, std::string_view body, std::size_t maxParts = 64);

}  // namespace erds::portal::internal
