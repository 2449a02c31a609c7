#include "multipart.h"

#include <gtest/gtest.h>

namespace erds::api::internal {
namespace {

TEST(Multipart, ParsesMetadataAndFiles) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r\xC3\xA9sum\xC3\xA9.pdf\"\r\n"
      "Content-Type: application/pdf\r\n\r\n%PDF\r\n--not-the-boundary\r\n"
      "--XyZ--\r\n";
  auto parts = parseMultipart(body, "XyZ");
  ASSERT_TRUE(parts.has_value()) << parts.error().message;
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "metadata");
  EXPECT_FALSE((*parts)[0].filename.has_value());
  EXPECT_EQ((*parts)[0].data, "{\"a\":1}");
  EXPECT_EQ(*(*parts)[1].filename, "r\xC3\xA9sum\xC3\xA9.pdf");
  EXPECT_EQ((*parts)[1].contentType, "application/pdf");
  EXPECT_EQ((*parts)[1].data, "%PDF\r\n--not-the-boundary");
}

TEST(Multipart, RefusesMalformedBodies) {
  const char* cases[] = {
      "",                                                                                  // empty
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc",                    // no close
      "junk--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc\r\n--XyZ--",     // preamble
      "--XyZ\r\nContent-Type: text/plain\r\n\r\nabc\r\n--XyZ--",                           // no disposition
      "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nabc\r\n--XyZ--",        // not form-data
      "--XyZ\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--XyZ--",                     // no name
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nabc\r\n--XyZ--",           // unterminated quote
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc\r\n--XyZ--trailing", // epilogue
  };
  for (const char* c : cases) EXPECT_FALSE(parseMultipart(c, "XyZ").has_value()) << c;
}

TEST(Multipart, LimitsPartCount) {
  std::string body;
  for (int i = 0; i < 5; ++i) body += "--b\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nx\r\n";
  body += "--b--";
  MultipartLimits l;
  l.maxParts = 4;
  EXPECT_FALSE(parseMultipart(body, "b", l).has_value());
  l.maxParts = 5;
  EXPECT_TRUE(parseMultipart(body, "b", l).has_value());
}

TEST(Multipart, Boundary) {
  EXPECT_EQ(*multipartBoundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(*multipartBoundary("Multipart/Form-Data; boundary=\"a b:c\""), "a b:c");
  EXPECT_FALSE(multipartBoundary("application/json").has_value());
  EXPECT_FALSE(multipartBoundary("multipart/form-data").has_value());
  EXPECT_FALSE(multipartBoundary("multipart/form-data; boundary=\"\"").has_value());
  EXPECT_FALSE(multipartBoundary("multipart/form-data; boundary=" + std::string(71, 'a')).has_value());
}

TEST(Filename, AcceptsOrdinaryNames) {
  for (const char* n : {"a.txt", "Contract 2026.pdf", "r\xC3\xA9sum\xC3\xA9.docx", ".profile", "x..y"})
    EXPECT_TRUE(checkFilename(n).has_value()) << n;
}

TEST(Filename, RefusesTraversalAndControls) {
  const std::string cases[] = {"",         "..",          ".",           "../etc/passwd", "a/b",
                               "a\\b",     "C:evil",      "a\nb",        std::string("a\0b", 3),
                               "a\x7f",    "\xC2\x85x",   "bad\xFF.txt", "\xE2\x80\xAEtxt.exe", " lead",
                               "trail ",   std::string(256, 'a')};
  for (const auto& n : cases) EXPECT_FALSE(checkFilename(n).has_value()) << n;
}

TEST(MediaType, Checks) {
  EXPECT_EQ(*checkMediaType("Application/PDF"), "application/pdf");
  EXPECT_EQ(*checkMediaType("text/plain; charset=utf-8"), "text/plain; charset=utf-8");
  for (const char* bad : {"pdf", "/x", "text/", "te xt/plain", "text/plain\r\nX: y", "text/plain; =x"})
    EXPECT_FALSE(checkMediaType(bad).has_value()) << bad;
}

}  // namespace
}  // namespace erds::api::internal

namespace erds::api::internal {
namespace {

struct Collect final : MultipartStream::Sink {
  std::vector<FormPart> parts;
  std::vector<std::string> data;
  int ends = 0;
  std::size_t maxPiece = 0;
  Result<void> onPartBegin(const FormPart& p) override {
    parts.push_back(p);
    data.emplace_back();
    return ok();
  }
  Result<void> onData(std::string_view b) override {
    maxPiece = std::max(maxPiece, b.size());
    data.back() += b;
    return ok();
  }
  Result<void> onPartEnd() override {
    ++ends;
    return ok();
  }
};

const std::string kStreamBody =
    "--XyZ\r\nContent-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json\r\n\r\n"
    "{\"a\":1}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.bin\"\r\n\r\n"
    "ab\r\n--Xy\r\n--XyY--\r\n--XyZ--\r\n";

TEST(MultipartStream, AnySplitGivesTheBufferedResult) {
  auto buffered = parseMultipart(kStreamBody, "XyZ");
  ASSERT_TRUE(buffered) << buffered.error().toString();
  for (std::size_t piece : {std::size_t{1}, std::size_t{3}, std::size_t{7}, kStreamBody.size()}) {
    MultipartStream s("XyZ");
    Collect c;
    for (std::size_t i = 0; i < kStreamBody.size(); i += piece)
      ASSERT_TRUE(s.feed(std::string_view(kStreamBody).substr(i, piece), c)) << piece;
    ASSERT_TRUE(s.finish());
    ASSERT_EQ(c.parts.size(), buffered->size());
    EXPECT_EQ(c.ends, 2);
    for (std::size_t i = 0; i < c.parts.size(); ++i) {
      EXPECT_EQ(c.parts[i].name, (*buffered)[i].name);
      EXPECT_EQ(c.parts[i].filename, (*buffered)[i].filename);
      EXPECT_EQ(c.data[i], std::string((*buffered)[i].data)) << piece;
    }
  }
}

TEST(MultipartStream, LargePartIsHandedOnInPieces) {
  const std::string big(3 << 20, 'q');
  const std::string body = "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n" + big + "\r\n--b--";
  MultipartStream s("b");
  Collect c;
  for (std::size_t i = 0; i < body.size(); i += 65536) ASSERT_TRUE(s.feed(std::string_view(body).substr(i, 65536), c));
  ASSERT_TRUE(s.finish());
  EXPECT_EQ(c.data.at(0).size(), big.size());
  EXPECT_LE(c.maxPiece, 65536u + 8);
}

TEST(MultipartStream, RefusesMalformedInput) {
  Collect c;
  MultipartStream noOpen("b");
  EXPECT_FALSE(noOpen.feed("garbage", c));
  MultipartStream noClose("b");
  ASSERT_TRUE(noClose.feed("--b\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc", c));
  EXPECT_FALSE(noClose.finish());
  MultipartStream noName("b");
  EXPECT_FALSE(noName.feed("--b\r\nContent-Type: text/plain\r\n\r\nabc\r\n--b--", c));
  MultipartStream tooMany("b", MultipartLimits{1, 8192});
  EXPECT_FALSE(tooMany.feed("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b\r\n"
                            "Content-Disposition: form-data; name=\"c\"\r\n\r\n2\r\n--b--", c));
  MultipartStream hugeHead("b");
  EXPECT_FALSE(hugeHead.feed("--b\r\nX: " + std::string(20000, 'h'), c));
}

}  // namespace
}  // namespace erds::api::internal
