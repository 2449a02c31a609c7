// Fuzz target: form bodies posted by browsers to the portal: the streamed compose parser
// (erds::portal::internal::ComposeStream, multipart/form-data read through a BodyReader in
// fuzzed chunk sizes, with an optional body limit), the whole-body parsers parseMultipartForm and
// parseUrlEncoded, and identity's document magic-byte sniffing on every uploaded file.
// Input: byte 0 = the source's read step (1..128, or 64 KiB when bit 7 is set); byte 1 = flags
// (bits 0-2: maxFieldBytes in KiB - 1, bit 3: the source's limit is half the body, bits 4-5: the
// consumer's read size); then the request's Content-Type up to the first '\n'; the rest is the body.
// Invariants: after open() the fields carry no files and the boundary is 1..70 bytes; reading
// the stream gives the prefix, then either the closing delimiter (no files) or the browser body's
// remainder byte for byte from a delimiter on (files); the sniffer answers only for the magic.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "compose_stream.h"
#include "erds/identity/document_store.h"
#include "form.h"
#include "fuzz_support.h"

namespace {

class FuzzSource final : public erds::http::BodyReader {
 public:
  FuzzSource(std::string_view body, std::size_t step, int64_t limit) : body_(body), step_(step), limit_(limit) {}
  erds::Result<std::size_t> read(char* buf, std::size_t n) override {
    if (exceeded_) return erds::Error::invalidInput("body over the limit");
    if (static_cast<int64_t>(pos_) >= limit_ && pos_ < body_.size()) {
      exceeded_ = true;
      return erds::Error::invalidInput("body over the limit");
    }
    std::size_t k = std::min({n, step_, body_.size() - pos_});
    std::copy_n(body_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }
  bool limitExceeded() const override { return exceeded_; }
  int64_t limit() const override { return limit_; }

 private:
  std::string_view body_;
  std::size_t step_;
  int64_t limit_;
  std::size_t pos_ = 0;
  bool exceeded_ = false;
};

void checkSniff(std::string_view data) {
  std::string_view t = erds::identity::sniffDocumentContentType(data);
  if (t.empty()) return;
  bool ok = (t == "image/jpeg" && data.starts_with("\xFF\xD8\xFF")) ||
            (t == "image/png" && data.starts_with(std::string_view("\x89PNG\r\n\x1a\n", 8))) ||
            (t == "application/pdf" && data.starts_with("%PDF-"));
  if (!ok) erds::fuzz::fail("sniffDocumentContentType: media type without its magic bytes");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  erds::fuzz::quietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace erds::portal::internal;
  erds::fuzz::clearLogs();
  if (size < 2) return 0;
  const std::size_t step = (data[0] & 0x80) != 0 ? 64 * 1024 : (data[0] & 0x7f) + 1u;
  const uint8_t flags = data[1];
  const std::size_t maxFieldBytes = ((flags & 7u) + 1u) * 1024u;
  const std::size_t readSize = std::size_t{1} << (2 * ((flags >> 4) & 3u) + 3);  // 8, 32, 128, 512
  std::string_view rest = erds::fuzz::asView(data + 2, size - 2);
  const std::size_t eol = rest.find('\n');
  if (eol == std::string_view::npos) return 0;
  const std::string_view contentType = rest.substr(0, eol);
  const std::string_view body = rest.substr(eol + 1);
  const int64_t limit = (flags & 8) != 0 ? static_cast<int64_t>(body.size() / 2) : int64_t{1} << 30;

  // Whole-body parsers (form posts other than compose, and the API's own multipart reading).
  if (auto form = parseMultipartForm(contentType, body)) {
    for (const auto& f : form->files) checkSniff(f.data);
    (void)form->get("csrf_token");
  }
  if (auto form = parseUrlEncoded(body)) {
    if (!form->files.empty()) erds::fuzz::fail("parseUrlEncoded: produced files");
  }
  checkSniff(body);

  FuzzSource source(body, step, limit);
  auto stream = ComposeStream::open(contentType, source, maxFieldBytes);
  if (!stream) return 0;
  ComposeStream& s = **stream;
  if (!s.fields().files.empty()) erds::fuzz::fail("ComposeStream: fields() carries files");
  const std::string boundary = s.boundary();
  if (boundary.empty() || boundary.size() > 70) erds::fuzz::fail("ComposeStream: boundary not 1..70 bytes");
  const std::string prefix = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{}\r\n";
  s.setPrefix(prefix);

  std::string out;
  std::string buf(readSize, '\0');
  for (;;) {
    auto n = s.read(buf.data(), buf.size());
    if (!n) {
      if (!s.hasFiles()) erds::fuzz::fail("ComposeStream: read error without files (nothing left to read)");
      return 0;  // the source's error (over the limit) is passed on; the handler answers 413
    }
    if (*n == 0) break;
    if (*n > buf.size()) erds::fuzz::fail("ComposeStream: read more than asked");
    out.append(buf.data(), *n);
  }
  if (!out.starts_with(prefix)) erds::fuzz::fail("ComposeStream: output does not start with the prefix");
  std::string_view forwarded = std::string_view(out).substr(prefix.size());
  if (!s.hasFiles()) {
    if (forwarded != "--" + boundary + "--\r\n") erds::fuzz::fail("ComposeStream: no files, but not closed");
  } else {
    if (!body.ends_with(forwarded)) erds::fuzz::fail("ComposeStream: file parts not forwarded byte for byte");
    if (!forwarded.starts_with("--" + boundary)) erds::fuzz::fail("ComposeStream: file parts do not start at a delimiter");
  }
  return 0;
}
