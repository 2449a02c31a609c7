#include "ts_der.h"

#include <gtest/gtest.h>
#include <openssl/asn1.h>

#include <string>

#include "crypto_test_util.h"

namespace erds::evidence::internal {
namespace {

using testing::hexOf;

TEST(TsDerTest, UnsignedIntegersAreMinimalAndPositive) {
  EXPECT_EQ(hexOf(derUnsignedInteger("")), "020100");
  EXPECT_EQ(hexOf(derUnsignedInteger(std::string("\0\0", 2))), "020100");
  EXPECT_EQ(hexOf(derUnsignedInteger("\x7f")), "02017f");
  EXPECT_EQ(hexOf(derUnsignedInteger("\x80")), "02020080");
  EXPECT_EQ(hexOf(derUnsignedInteger(std::string("\0\x01\x02", 3))), "02020102");
  EXPECT_EQ(hexOf(derUnsignedInteger(std::string("\0\xff", 2))), "020200ff");
}

TEST(TsDerTest, IntegersMatchOpenssl) {
  for (long v : {0L, 1L, 127L, 128L, 255L, 256L, 32767L, 32768L, 999999L, 0x7fffffffL}) {
    ASN1_INTEGER* i = ASN1_INTEGER_new();
    ASSERT_EQ(ASN1_INTEGER_set(i, v), 1);
    unsigned char* buf = nullptr;
    const int n = i2d_ASN1_INTEGER(i, &buf);
    std::string expected(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
    OPENSSL_free(buf);
    ASN1_INTEGER_free(i);
    std::string mag;
    for (unsigned long u = static_cast<unsigned long>(v); u != 0; u >>= 8)
      mag.insert(mag.begin(), static_cast<char>(u & 0xff));
    EXPECT_EQ(hexOf(derUnsignedInteger(mag)), hexOf(expected)) << v;
  }
}

TEST(TsDerTest, LengthsUseShortAndLongForm) {
  EXPECT_EQ(hexOf(derTlv(0x04, std::string(127, 'a'))).substr(0, 4), "047f");
  EXPECT_EQ(hexOf(derTlv(0x04, std::string(128, 'a'))).substr(0, 6), "048180");
  EXPECT_EQ(hexOf(derTlv(0x04, std::string(256, 'a'))).substr(0, 8), "04820100");
  EXPECT_EQ(hexOf(derTlv(0x30, std::string(70000, 'a'))).substr(0, 10), "3083011170");
  EXPECT_EQ(derTlv(0x04, std::string(70000, 'a')).size(), 70005u);
}

TEST(TsDerTest, GenTimeHasTruncatedFractionWithoutTrailingZeros) {
  const long long t = 1764300000;  // 2025-11-28T03:20:00Z
  EXPECT_EQ(genTimeString(t, 0, 0), "20251128032000Z");
  EXPECT_EQ(genTimeString(t, 123456, 0), "20251128032000Z");
  EXPECT_EQ(genTimeString(t, 123456, 3), "20251128032000.123Z");
  EXPECT_EQ(genTimeString(t, 120999, 3), "20251128032000.12Z");
  EXPECT_EQ(genTimeString(t, 999, 3), "20251128032000Z");
  EXPECT_EQ(genTimeString(t, 5, 6), "20251128032000.000005Z");
  EXPECT_EQ(genTimeString(t, 500000, 6), "20251128032000.5Z");
  EXPECT_EQ(genTimeString(t, 0, 6), "20251128032000Z");
}

TEST(TsDerTest, UtcTimeMatchesOpenssl) {
  for (std::time_t t : {std::time_t{0}, std::time_t{1764300000}, std::time_t{2524607999}}) {
    ASN1_TIME* a = ASN1_UTCTIME_set(nullptr, t);
    ASSERT_NE(a, nullptr);
    std::string expected(reinterpret_cast<const char*>(ASN1_STRING_get0_data(a)),
                         static_cast<std::size_t>(ASN1_STRING_length(a)));
    ASN1_TIME_free(a);
    EXPECT_EQ(utcTimeString(t), expected) << t;
  }
}

TEST(TsDerTest, SetOfSortsEncodingsAscending) {
  const std::string a("\x30\x03\x02\x01\x05", 5);
  const std::string b("\x30\x02\x05\x00", 4);
  const std::string c("\x30\x03\x02\x01\x04", 5);
  const std::string d("\x31\x00", 2);
  EXPECT_EQ(derSetOf({d, a, b, c}), b + c + a + d);
  // Unsigned byte order: 0x80 after 0x7f.
  EXPECT_EQ(derSetOf({std::string("\x04\x01\x80", 3), std::string("\x04\x01\x7f", 3)}),
            std::string("\x04\x01\x7f\x04\x01\x80", 6));
  // A prefix sorts first.
  EXPECT_EQ(derSetOf({std::string("\x04\x01\x01\x00", 4), std::string("\x04\x01\x01", 3)}),
            std::string("\x04\x01\x01\x04\x01\x01\x00", 7));
}

}  // namespace
}  // namespace erds::evidence::internal
