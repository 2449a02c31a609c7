#include "xml_text.h"

#include <gtest/gtest.h>

#include <chrono>

namespace erds::evidence::internal {
namespace {

TEST(XmlText, Base64RoundTripsAllLengths) {
  std::string data;
  for (int n = 0; n < 70; ++n) {
    auto enc = base64Encode(data);
    auto dec = base64Decode(enc);
    ASSERT_TRUE(dec.has_value()) << n;
    EXPECT_EQ(*dec, data);
    data += static_cast<char>(n * 37 + 11);
  }
  EXPECT_EQ(base64Encode("abc"), "YWJj");
  EXPECT_EQ(base64Encode("ab"), "YWI=");
  EXPECT_EQ(*base64Decode(" YW\nI= "), "ab");
}

TEST(XmlText, Base64RejectsGarbage) {
  EXPECT_FALSE(base64Decode("YWJ").has_value());
  EXPECT_FALSE(base64Decode("YW=j").has_value());
  EXPECT_FALSE(base64Decode("Y!Jj").has_value());
  EXPECT_FALSE(base64Decode("YQ==YWJj").has_value());
}

TEST(XmlText, DateTimeFormatsAndParses) {
  using namespace std::chrono;
  const TimePoint t = time_point_cast<microseconds>(sys_days{year{2022} / 8 / 3} + hours{14} +
                                                    minutes{22} + seconds{11});
  EXPECT_EQ(formatDateTime(t), "2022-08-03T14:22:11Z");
  EXPECT_EQ(formatDateTime(t + microseconds{120000}), "2022-08-03T14:22:11.12Z");
  EXPECT_EQ(parseDateTime("2022-08-03T14:22:11Z"), t);
  EXPECT_EQ(parseDateTime("2022-08-03T16:22:11+02:00"), t);
  EXPECT_EQ(parseDateTime("2022-08-03T14:22:11.12Z"), t + microseconds{120000});
  EXPECT_EQ(parseDateTime("2022-08-03T14:22:11.1234567Z"), t + microseconds{123456});
  EXPECT_FALSE(parseDateTime("2022-08-03T14:22:11").has_value());  // no zone
  EXPECT_FALSE(parseDateTime("2022-02-30T14:22:11Z").has_value());
  EXPECT_FALSE(parseDateTime("2022-08-03 14:22:11Z").has_value());
  EXPECT_FALSE(parseDateTime("2022-08-03T14:22:11Zjunk").has_value());
  EXPECT_FALSE(parseDateTime("2022-08-03T14:22:11.Z").has_value());
}

TEST(XmlText, ChecksXmlCharacters) {
  EXPECT_TRUE(isXmlText("plain \t\r\n text \xc3\xa8 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(isXmlText(std::string("nul\0", 4)));
  EXPECT_FALSE(isXmlText("bell\x07"));
  EXPECT_FALSE(isXmlText("\xc3"));          // truncated
  EXPECT_FALSE(isXmlText("\xc0\xaf"));      // overlong
  EXPECT_FALSE(isXmlText("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(isXmlText("\xef\xbf\xbe"));  // U+FFFE
}

TEST(XmlText, EscapesLikeCanonicalXml) {
  std::string t, a;
  appendC14nText(t, "a&b<c>d\"e\r\n\t");
  appendC14nAttr(a, "a&b<c>d\"e\r\n\t");
  EXPECT_EQ(t, "a&amp;b&lt;c&gt;d\"e&#xD;\n\t");
  EXPECT_EQ(a, "a&amp;b&lt;c>d&quot;e&#xD;&#xA;&#x9;");
}

TEST(XmlText, ParsesIntegers) {
  EXPECT_EQ(parseInt(" 12 "), 12);
  EXPECT_EQ(parseInt("+3"), 3);
  EXPECT_FALSE(parseInt("1x").has_value());
  EXPECT_FALSE(parseInt("").has_value());
  EXPECT_FALSE(parseInt("99999999999").has_value());
}

}  // namespace
}  // namespace erds::evidence::internal
