#include "mime_raw.h"

#include <gtest/gtest.h>

#include <vector>

#include "base64.h"

namespace erds::smtp::internal {
namespace {

TEST(MimeRaw, ParsesHeadersWithFoldingAndBody) {
  std::string raw = "From: a@b.test\r\nSubject: one\r\n two\r\nContent-Type: multipart/signed;\r\n\tprotocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n\tboundary=\"----=_Part_1\"\r\n\r\nbody\r\n";
  auto e = parseEntity(raw);
  ASSERT_TRUE(e.has_value()) << e.error().message;
  EXPECT_EQ(*e->header("subject"), "one two");
  EXPECT_EQ(e->body, "body\r\n");
  auto ct = parseContentType(*e->header("Content-Type"));
  ASSERT_TRUE(ct.has_value());
  EXPECT_EQ(ct->type, "multipart");
  EXPECT_EQ(ct->subtype, "signed");
  EXPECT_EQ(ct->param("boundary"), "----=_Part_1");
  EXPECT_EQ(ct->param("MICALG"), "sha-256");
}

TEST(MimeRaw, ContentTypeQuotesAndComments) {
  auto ct = parseContentType("Text/Plain (comment); charset=\"utf\\\"8\"; name=a.txt");
  ASSERT_TRUE(ct.has_value());
  EXPECT_EQ(ct->type, "text");
  EXPECT_EQ(ct->param("charset"), "utf\"8");
  EXPECT_EQ(ct->param("name"), "a.txt");
  EXPECT_FALSE(parseContentType("garbage").has_value());
}

TEST(MimeRaw, SplitMultipartKeepsExactPartBytes) {
  std::string body =
      "preamble\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n\r\n--b \r\n\r\nsecond\r\n--bx\r\nstill second\r\n--b--\r\nepilogue";
  auto mp = splitMultipart(body, "b");
  ASSERT_TRUE(mp.has_value());
  ASSERT_EQ(mp->parts.size(), 2u);
  EXPECT_EQ(mp->parts[0], "Content-Type: text/plain\r\n\r\nfirst\r\n");
  EXPECT_EQ(mp->parts[1], "\r\nsecond\r\n--bx\r\nstill second");
  EXPECT_TRUE(mp->closed);
  EXPECT_EQ(mp->preamble, "preamble");
}

TEST(MimeRaw, RejectsMalformedHeaders) {
  EXPECT_FALSE(parseEntity(" cont\r\nFrom: a\r\n\r\n").has_value());
  EXPECT_FALSE(parseEntity("From a\r\n\r\n").has_value());
  EXPECT_FALSE(parseEntity("From: a\n\r\n").has_value());
  EXPECT_FALSE(parseEntity("Fr\x01om: a\r\n\r\n").has_value());
}

TEST(MimeRaw, MessageSyntaxCheck) {
  EXPECT_TRUE(checkMessageSyntax("From: a@b\r\n\r\nx\r\n").has_value());
  EXPECT_TRUE(checkMessageSyntax("From: a@b\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nx\r\n--q--\r\n").has_value());
  EXPECT_FALSE(checkMessageSyntax("Subject: x\r\n\r\nx\r\n").has_value());
  EXPECT_FALSE(checkMessageSyntax("From: a@b\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nbad header\r\n\r\nx\r\n--q--\r\n").has_value());
}

TEST(Base64, RoundTripAndStrictness) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)}) {
    auto d = base64Decode(base64Encode(s));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, s);
  }
  EXPECT_FALSE(base64Decode("Zm9").has_value());
  EXPECT_FALSE(base64Decode("Zm=v").has_value());
  EXPECT_FALSE(base64Decode("Zm9v\r\n").has_value());
  EXPECT_EQ(*base64Decode("Zm9v\r\nYmFy\r\n", true), "foobar");
}

}  // namespace
}  // namespace erds::smtp::internal
