#include "erds/identity/totp.h"

#include <gtest/gtest.h>

#include <set>

#include "erds/identity/party.h"
#include "erds/identity/testing/in_memory_second_factor_store.h"
#include "fake_clock.h"

namespace erds::identity {
namespace {

using namespace std::chrono_literals;

struct Rfc6238Vector {
  int64_t unixTime;
  TotpAlgorithm algorithm;
  const char* code;
};

// RFC 6238 Appendix B (8 digits, 30 s steps).
constexpr Rfc6238Vector kVectors[] = {
    {59, TotpAlgorithm::Sha1, "94287082"},          {59, TotpAlgorithm::Sha256, "46119246"},
    {59, TotpAlgorithm::Sha512, "90693936"},        {1111111109, TotpAlgorithm::Sha1, "07081804"},
    {1111111109, TotpAlgorithm::Sha256, "68084774"}, {1111111109, TotpAlgorithm::Sha512, "25091201"},
    {1111111111, TotpAlgorithm::Sha1, "14050471"},  {1111111111, TotpAlgorithm::Sha256, "67062674"},
    {1111111111, TotpAlgorithm::Sha512, "99943326"}, {1234567890, TotpAlgorithm::Sha1, "89005924"},
    {1234567890, TotpAlgorithm::Sha256, "91819424"}, {1234567890, TotpAlgorithm::Sha512, "93441116"},
    {2000000000, TotpAlgorithm::Sha1, "69279037"},  {2000000000, TotpAlgorithm::Sha256, "90698825"},
    {2000000000, TotpAlgorithm::Sha512, "38618901"}, {20000000000, TotpAlgorithm::Sha1, "65353130"},
    {20000000000, TotpAlgorithm::Sha256, "77737706"}, {20000000000, TotpAlgorithm::Sha512, "47863826"},
};

Secret rfcSeed(TotpAlgorithm a) {
  std::string base = "1234567890";
  std::string s;
  std::size_t n = a == TotpAlgorithm::Sha1 ? 20 : a == TotpAlgorithm::Sha256 ? 32 : 64;
  while (s.size() < n) s += base;
  return Secret(s.substr(0, n));
}

TEST(TotpTest, Rfc6238Vectors) {
  for (const auto& v : kVectors) {
    TotpParams p;
    p.algorithm = v.algorithm;
    p.digits = 8;
    TimePoint t{std::chrono::seconds(v.unixTime)};
    EXPECT_EQ(totpCode(rfcSeed(v.algorithm), totpStep(t, p), p), v.code) << v.unixTime;
    // Six digits are the low six of the same value.
    p.digits = 6;
    EXPECT_EQ(totpCode(rfcSeed(v.algorithm), totpStep(t, p), p), std::string(v.code).substr(2)) << v.unixTime;
  }
}

TEST(TotpTest, OtpauthUri) {
  Secret seed(std::string("12345678901234567890"));
  Secret uri = otpauthUri("erds example", "mailto:alice@example.test", seed);
  EXPECT_EQ(std::string(uri.reveal()),
            "otpauth://totp/erds%20example:mailto%3Aalice@example.test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=erds%20example&algorithm=SHA1&digits=6&period=30");
}

class TotpVerifierTest : public ::testing::Test {
 protected:
  erds::testing::FakeClock clock_{TimePoint(std::chrono::seconds(1'800'000'000))};
  testing::InMemorySecondFactorStore store_;
  TotpVerifier verifier_{store_, clock_};
  std::string codeAt(const Secret& seed, std::chrono::seconds offset) {
    return totpCode(seed, totpStep(clock_.now() + offset));
  }
};

TEST_F(TotpVerifierTest, AcceptsCurrentAndAdjacentStepsOnly) {
  auto seed = verifier_.enrol("p1");
  ASSERT_TRUE(seed.has_value());
  EXPECT_EQ(seed->size(), 20u);
  EXPECT_TRUE(verifier_.verify("p1", codeAt(*seed, -30s)).has_value());
  EXPECT_TRUE(verifier_.verify("p1", codeAt(*seed, 0s)).has_value());
  EXPECT_TRUE(verifier_.verify("p1", codeAt(*seed, 30s)).has_value());
  clock_.advance(10min);
  EXPECT_TRUE(verifier_.verify("p1", codeAt(*seed, 60s)).error().is(ErrorCode::Unauthorized));
  EXPECT_TRUE(verifier_.verify("p1", codeAt(*seed, -60s)).error().is(ErrorCode::Unauthorized));
}

TEST_F(TotpVerifierTest, RefusesReplayAndOlderSteps) {
  auto seed = verifier_.enrol("p1");
  std::string now = codeAt(*seed, 0s);
  ASSERT_TRUE(verifier_.verify("p1", now).has_value());
  auto replay = verifier_.verify("p1", now);
  ASSERT_FALSE(replay.has_value());
  EXPECT_TRUE(replay.error().is(ErrorCode::Unauthorized));
  // The previous step is still inside the window but older than the accepted one.
  EXPECT_FALSE(verifier_.verify("p1", codeAt(*seed, -30s)).has_value());
  clock_.advance(30s);
  EXPECT_TRUE(verifier_.verify("p1", codeAt(*seed, 0s)).has_value());
}

TEST_F(TotpVerifierTest, MalformedAndUnenrolled) {
  auto seed = verifier_.enrol("p1");
  EXPECT_TRUE(verifier_.verify("p1", "12345").error().is(ErrorCode::Unauthorized));
  EXPECT_TRUE(verifier_.verify("p1", "12a456").error().is(ErrorCode::Unauthorized));
  EXPECT_TRUE(verifier_.verify("p1", "").error().is(ErrorCode::Unauthorized));
  EXPECT_TRUE(verifier_.verify("nobody", "123456").error().is(ErrorCode::NotFound));
}

TEST(RecoveryCodeTest, GeneratesTenDistinctCodesStoresOnlyHashesSingleUse) {
  testing::InMemorySecondFactorStore store;
  RecoveryCodeSet set = generateRecoveryCodes();
  ASSERT_EQ(set.codes.size(), 10u);
  ASSERT_EQ(set.hashes.size(), 10u);
  std::set<std::string> distinct;
  for (const auto& c : set.codes) {
    EXPECT_EQ(c.size(), 19u);  // XXXX-XXXX-XXXX-XXXX
    distinct.insert(std::string(c.reveal()));
  }
  EXPECT_EQ(distinct.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(set.hashes[i].size(), 32u);
    EXPECT_EQ(set.hashes[i].find(std::string(set.codes[i].reveal())), std::string::npos);
  }
  ASSERT_TRUE(store.replaceRecoveryCodes("p1", set.hashes).has_value());

  std::string code(set.codes[3].reveal());
  // Normalisation: lower case without dashes is the same code.
  std::string sloppy;
  for (char c : code) {
    if (c != '-') sloppy.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  EXPECT_TRUE(redeemRecoveryCode(store, "p1", sloppy).has_value());
  EXPECT_TRUE(redeemRecoveryCode(store, "p1", code).error().is(ErrorCode::Unauthorized));  // single use
  EXPECT_EQ(*store.remainingRecoveryCodes("p1"), 9);
  EXPECT_FALSE(redeemRecoveryCode(store, "p2", std::string(set.codes[4].reveal())).has_value());  // other party
  EXPECT_FALSE(redeemRecoveryCode(store, "p1", "AAAA-BBBB-CCCC-DDDD").has_value());
  // A recovery-code login is not strong authentication and reaches only level low.
  EXPECT_FALSE(isStrongAuthentication(AuthenticationMethod::RecoveryCode));
  EXPECT_EQ(authenticationLevel(AuthenticationMethod::RecoveryCode), LevelOfAssurance::Low);
}

}  // namespace
}  // namespace erds::identity
