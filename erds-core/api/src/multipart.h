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

// The same grammar as parseMultipart, incrementally: bytes are fed as they arrive and each part's
// data is handed on in pieces, so a body is never held whole (memory: one feed plus a boundary).
// The events' FormPart::data is empty; part data arrives through onData.
class MultipartStream {
 public:
  struct Sink {
    virtual ~Sink() = default;
    virtual Result<void> onPartBegin(const FormPart& part) = 0;
    virtual Result<void> onData(std::string_view bytes) = 0;
    virtual Result<void> onPartEnd() = 0;
  };
  MultipartStream(std::string boundary, MultipartLimits limits = {});
  // Parses `bytes`, calling the sink. The first error (the sink's or InvalidInput) is returned
  // and the stream is dead afterwards.
  Result<void> feed(std::string_view bytes, Sink& sink);
  // InvalidInput unless the closing delimiter was seen.
  Result<void> finish();
  std::size_t partCount() const { return parts_; }

 private:
  enum class State { Start, AfterDelimiter, Headers, Body, End, Dead };
  Result<void> step(Sink& sink, bool& progressed);
  std::string delim_;       // "--" boundary
  std::string innerDelim_;  // CRLF "--" boundary
  MultipartLimits limits_;
  std::string buf_;
  State state_ = State::Start;
  std::size_t parts_ = 0;
};

// An attachment name we accept: 1..maxBytes bytes of valid UTF-8, no control characters (C0, DEL,
// C1), no '/', '\\' or ':' (no paths, no drive letters), not "." or ".." and not starting with '.'
// followed only by dots, no leading/trailing space. Returns InvalidInput naming the rule.
Result<void> checkFilename(std::string_view name, std::size_t maxBytes = 255);

// A media type "type/subtype" of RFC 6838 token characters (parameters allowed after ';'), at most
// 255 bytes; returns type/subtype lower-cased, followed by the parameters as sent.
Result<std::string> checkMediaType(std::string_view mediaType);

}  // namespace erds::api::internal
