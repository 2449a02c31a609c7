#include "form.h"

#include <gtest/gtest.h>

namespace erds::portal::internal {
namespace {

TEST(UrlEncoded, DecodesFields) {
  auto f = parseUrlEncoded("a=1&b=hello+world&c=%3Cscript%3E&a=2&empty=");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->get("a"), "1");
  EXPECT_EQ(f->get("b"), "hello world");
  EXPECT_EQ(f->get("c"), "<script>");
  EXPECT_EQ(f->get("empty"), "");
  EXPECT_EQ(f->get("missing"), "");
  EXPECT_EQ(f->fields.count("a"), 2u);
}

TEST(UrlEncoded, RefusesMalformedAndTooMany) {
  EXPECT_FALSE(parseUrlEncoded("a=%zz"));
  EXPECT_FALSE(parseUrlEncoded("a=%00"));
  EXPECT_FALSE(parseUrlEncoded("a=1&b=2&c=3", 2));
}

TEST(Multipart, ParsesFieldsAndFiles) {
  std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nHello <b>\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"\\\"><img src=x onerror=alert(1)>.pdf\"\r\n"
      "Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\nbinary\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n"
      "--XyZ--\r\n";
  auto f = parseMultipartForm("multipart/form-data; boundary=XyZ", body);
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->get("subject"), "Hello <b>");
  ASSERT_EQ(f->files.size(), 1u);  // the empty file input is dropped
  EXPECT_EQ(f->files[0].filename, "\"><img src=x onerror=alert(1)>.pdf");
  EXPECT_EQ(f->files[0].mediaType, "application/pdf");
  EXPECT_EQ(f->files[0].data, "%PDF-1.4\r\nbinary");
}

TEST(Multipart, RefusesMalformedBodies) {
  const char* ct = "multipart/form-data; boundary=B";
  EXPECT_FALSE(parseMultipartForm("text/plain", "--B--"));
  EXPECT_FALSE(parseMultipartForm("multipart/form-data", "--B--"));
  EXPECT_FALSE(parseMultipartForm(ct, "garbage"));
  EXPECT_FALSE(parseMultipartForm(ct, "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end"));
  EXPECT_FALSE(parseMultipartForm(ct, "--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--"));
  std::string many;
  for (int i = 0; i < 5; ++i) many += "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n";
  EXPECT_FALSE(parseMultipartForm(ct, many + "--B--", 4));
  EXPECT_TRUE(parseMultipartForm(ct, many + "--B--", 5));
}

}  // namespace
}  // namespace erds::portal::internal
