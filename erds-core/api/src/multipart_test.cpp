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
