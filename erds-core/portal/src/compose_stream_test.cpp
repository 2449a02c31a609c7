// ComposeStream: leading fields are parsed, empty file inputs dropped, file parts forwarded byte
// for byte after the caller's prefix, whatever the read sizes; bad framing and oversize fields fail.
#include "compose_stream.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace erds::portal::internal {
namespace {

// A source that hands out at most `step` bytes per read and counts the largest single read.
class ChunkedReader final : public http::BodyReader {
 public:
  ChunkedReader(std::string body, std::size_t step) : body_(std::move(body)), step_(step) {}
  Result<std::size_t> read(char* buf, std::size_t n) override {
    std::size_t k = std::min({n, step_, body_.size() - pos_});
    std::copy_n(body_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }
  bool limitExceeded() const override { return false; }
  int64_t limit() const override { return 1 << 30; }
  std::size_t consumed() const { return pos_; }

 private:
  std::string body_;
  std::size_t step_;
  std::size_t pos_ = 0;
};

std::string field(const char* n, const std::string& v) {
  return "--B\r\nContent-Disposition: form-data; name=\"" + std::string(n) + "\"\r\n\r\n" + v + "\r\n";
}
std::string filePart(const std::string& name, const std::string& data) {
  return "--B\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"" + name +
         "\"\r\nContent-Type: application/pdf\r\n\r\n" + data + "\r\n";
}

std::string drain(http::BodyReader& r) {
  std::string out;
  char buf[7];
  for (;;) {
    auto n = r.read(buf, sizeof buf);
    EXPECT_TRUE(n);
    if (!n || *n == 0) return out;
    out.append(buf, *n);
  }
}

TEST(ComposeStream, ForwardsFilePartsAfterPrefixForEveryChunkSize) {
  const std::string big(300000, 'x');
  const std::string files = filePart("a.pdf", "%PDF\r\n--Bnot-a-delimiter" + big) + filePart("b.pdf", "second");
  const std::string body = field("csrf_token", "t0k") + field("subject", "<b>Hi</b>") +
                           "--B\r\nContent-Disposition: form-data; name=\"empty\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n" +
                           files + "--B--\r\n";
  for (std::size_t step : {1u, 3u, 64u, 1000u, 65536u}) {
    ChunkedReader src(body, step);
    auto s = ComposeStream::open("multipart/form-data; boundary=B", src);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ((*s)->fields().get("csrf_token"), "t0k");
    EXPECT_EQ((*s)->fields().get("subject"), "<b>Hi</b>");
    EXPECT_TRUE((*s)->fields().files.empty());
    EXPECT_TRUE((*s)->hasFiles());
    EXPECT_EQ((*s)->boundary(), "B");
    // Only a bounded look-ahead was read before the prefix was set (not the 300 kB file).
    EXPECT_LT(src.consumed(), 200000u) << step;
    (*s)->setPrefix("PREFIX\r\n");
    EXPECT_EQ(drain(**s), "PREFIX\r\n" + files + "--B--\r\n") << step;
  }
}

TEST(ComposeStream, WithoutFilesTheBodyIsClosedByThePortal) {
  ChunkedReader src(field("csrf_token", "t") + field("body", "text") + "--B--\r\n", 5);
  auto s = ComposeStream::open("multipart/form-data; boundary=\"B\"", src);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE((*s)->hasFiles());
  EXPECT_EQ((*s)->fields().get("body"), "text");
  (*s)->setPrefix("P\r\n");
  EXPECT_EQ(drain(**s), "P\r\n--B--\r\n");
}

TEST(ComposeStream, RefusesBadInput) {
  struct Case {
    const char* name;
    std::string contentType;
    std::string body;
  };
  const Case cases[] = {
      {"not multipart", "application/x-www-form-urlencoded", "a=b"},
      {"no boundary", "multipart/form-data", field("a", "b") + "--B--\r\n"},
      {"no opening delimiter", "multipart/form-data; boundary=B", "hello"},
      {"truncated field", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc"},
      {"no header end", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data; name=\"a\""},
      {"not form-data", "multipart/form-data; boundary=B", "--B\r\nContent-Disposition: inline\r\n\r\nx\r\n--B--\r\n"},
      {"file data without a name", "multipart/form-data; boundary=B",
       "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n\r\ndata\r\n--B--\r\n"},
      {"fields too large", "multipart/form-data; boundary=B", field("body", std::string(3000, 'y')) + "--B--\r\n"},
  };
  for (const auto& c : cases) {
    ChunkedReader src(c.body, 512);
    auto s = ComposeStream::open(c.contentType, src, 2048);
    ASSERT_FALSE(s) << c.name;
    EXPECT_TRUE(s.error().is(ErrorCode::InvalidInput)) << c.name;
  }
}

}  // namespace
}  // namespace erds::portal::internal
