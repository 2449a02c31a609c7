// Streams a browser's compose form (multipart/form-data) on to the message API without holding
// the attachments in memory: the leading text fields are read (bounded), the API's metadata part
// is put in front, and the file parts are forwarded byte for byte as they arrive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "erds/base/result.h"
#include "erds/http/message.h"
#include "form.h"

namespace erds::portal::internal {

// A BodyReader over (prefix, then the browser's file parts). Memory: at most `maxFieldBytes` of
// leading fields plus one read buffer; attachment bytes are never accumulated.
//
// Contract on the browser body: every non-file field comes BEFORE the first file part with a file
// name (the compose form puts its file input last, and browsers send fields in document order).
// File inputs left empty (filename="" and no data) before that point are dropped. The body keeps
// its boundary: the forwarded parts are already delimited by it, and the caller's prefix must use
// it too (boundary()). A prefix made of JSON (CR/LF escaped) and of field values that came out of
// the same body cannot contain the delimiter.
//
// Not thread-safe; lives for one request. `source` must outlive it.
class ComposeStream final : public http::BodyReader {
 public:
  // Reads the leading fields from `source`. InvalidInput for another media type, a bad boundary,
  // malformed framing, a file part with data but no name, or fields over `maxFieldBytes`; errors
  // of `source` (too large, timeout) are passed on unchanged.
  static Result<std::unique_ptr<ComposeStream>> open(std::string_view contentType, http::BodyReader& source,
                                                     std::size_t maxFieldBytes = 1024 * 1024);

  // The fields before the first file (files is always empty).
  const Form& fields() const { return fields_; }
  // True when at least one named file part follows.
  bool hasFiles() const { return hasFiles_; }
  const std::string& boundary() const { return boundary_; }
  // The bytes sent before the forwarded file parts: "--" boundary CRLF ... CRLF of each generated
  // part. Without files the closing delimiter is appended automatically.
  void setPrefix(std::string prefix);

  Result<std::size_t> read(char* buf, std::size_t n) override;
  bool limitExceeded() const override { return source_.limitExceeded(); }
  int64_t limit() const override { return source_.limit(); }

 private:
  explicit ComposeStream(http::BodyReader& source) : source_(source) {}
  http::BodyReader& source_;
  std::string boundary_;
  Form fields_;
  bool hasFiles_ = false;
  std::string pending_;  // prefix, then the already-read start of the file parts
  std::size_t pendingPos_ = 0;
  std::string rest_;     // the file parts read while looking for the end of the fields
  bool sourceDone_ = false;
};

}  // namespace erds::portal::internal
