#include "erds/evidence/rfc3161_tsu.h"

#include <gtest/gtest.h>
#include <openssl/ts.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "erds/evidence/timestamp_verify.h"

#include "crypto_test_util.h"
#include "fake_clock.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;
using erds::testing::FakeClock;

constexpr const char* kPolicy = "1.3.6.1.4.1.99999.1.1";

Rfc3161TsuOptions syncedOptions() { return syncedTsuOptions(kPolicy); }

std::unique_ptr<TS_RESP, decltype(&TS_RESP_free)> parseResp(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return {d2i_TS_RESP(nullptr, &p, static_cast<long>(der.size())), TS_RESP_free};
}

long statusOf(TS_RESP* r) {
  return ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(r)));
}

class Rfc3161TsuAlgTest : public ::testing::TestWithParam<TestKeyType> {};

TEST_P(Rfc3161TsuAlgTest, IssuesTokenAtClockTimeThatVerifies) {
  TestCertOptions o;
  o.keyType = GetParam();
  TsuFixture f(pki(), o);
  ASSERT_TRUE(f.signer);
  FakeClock clock(nowSeconds());
  auto tsu = Rfc3161Tsu::create(f.signer, syncedOptions(), clock);
  ASSERT_TRUE(tsu.has_value()) << tsu.error().toString();

  const std::string digest = sha256Of("canonical SignatureValue");
  auto token = (*tsu)->timestamp(digest);
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  EXPECT_EQ(token->genTime, clock.now());
  EXPECT_GE(token->serialHex.size(), 30u);  // 128 random bits

  auto verifier = TimestampVerifier::fromPem(pki().root().certPem);
  ASSERT_TRUE(verifier.has_value());
  auto info = (*verifier)->verify(token->der, digest);
  ASSERT_TRUE(info.has_value()) << info.error().toString();
  EXPECT_EQ(info->genTime, token->genTime);
  EXPECT_EQ(info->serialHex, token->serialHex);
  EXPECT_EQ(info->policyOid, kPolicy);
  EXPECT_EQ(info->hashAlgorithmOid, "2.16.840.1.101.3.4.2.1");
  EXPECT_EQ(info->imprint, digest);
  EXPECT_NE(info->tsaSubject.find("erds DEVELOPMENT TSU"), std::string::npos) << info->tsaSubject;
  EXPECT_EQ(info->tsaCertificateDer, f.tsu.certDer);
  EXPECT_TRUE(info->nonce.has_value());
  EXPECT_FALSE(info->qualified());
}

INSTANTIATE_TEST_SUITE_P(Algorithms, Rfc3161TsuAlgTest,
                         ::testing::Values(TestKeyType::P256, TestKeyType::Rsa2048));

TEST(Rfc3161TsuTest, TstInfoHasAccuracyTsaNameNoOrderingAndUniqueSerials) {
  TsuFixture f(pki(), {});
  FakeClock clock(nowSeconds());
  auto opts = syncedOptions();
  opts.accuracy = std::chrono::milliseconds(1500);
  auto tsu = Rfc3161Tsu::create(f.signer, opts, clock);
  ASSERT_TRUE(tsu.has_value()) << tsu.error().toString();
  auto req = buildTimestampRequest(sha256Of("x"), "\x01\x02\x03", true);
  ASSERT_TRUE(req.has_value());
  auto der = (*tsu)->respond(*req);
  ASSERT_TRUE(der.has_value()) << der.error().toString();
  auto resp = parseResp(*der);
  ASSERT_TRUE(resp);
  ASSERT_EQ(statusOf(resp.get()), TS_STATUS_GRANTED);
  TS_TST_INFO* tst = TS_RESP_get_tst_info(resp.get());
  TS_ACCURACY* acc = TS_TST_INFO_get_accuracy(tst);
  ASSERT_NE(acc, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(TS_ACCURACY_get_seconds(acc)), 1);
  EXPECT_EQ(ASN1_INTEGER_get(TS_ACCURACY_get_millis(acc)), 500);
  EXPECT_EQ(TS_TST_INFO_get_ordering(tst), 0);
  EXPECT_NE(TS_TST_INFO_get_tsa(tst), nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(TS_TST_INFO_get_nonce(tst)), 0x010203);

  std::set<std::string> serials;
  for (int i = 0; i < 20; ++i)
    serials.insert((*tsu)->timestamp(sha256Of("x"))->serialHex);
  EXPECT_EQ(serials.size(), 20u);
}

TEST(Rfc3161TsuTest, RefusesWhenClockNotSynchronisedAndRequired) {
  TsuFixture f(pki(), {});
  FakeClock clock(nowSeconds());
  auto opts = syncedOptions();
  opts.clockSyncCheck = [] { return Result<void>(Error::unavailable("unsynced (test)")); };
  auto tsu = Rfc3161Tsu::create(f.signer, opts, clock);
  ASSERT_TRUE(tsu.has_value());
  auto token = (*tsu)->timestamp(sha256Of("x"));
  ASSERT_FALSE(token.has_value());
  EXPECT_EQ(token.error().code, ErrorCode::Unavailable);
  EXPECT_NE(token.error().message.find("time not available"), std::string::npos)
      << token.error().message;

  // A raw request gets the RFC 3161 answer: rejection with failInfo timeNotAvailable.
  auto der = (*tsu)->respond(*buildTimestampRequest(sha256Of("x")));
  ASSERT_TRUE(der.has_value());
  auto resp = parseResp(*der);
  EXPECT_EQ(statusOf(resp.get()), TS_STATUS_REJECTION);
  EXPECT_TRUE(
      ASN1_BIT_STRING_get_bit(TS_STATUS_INFO_get0_failure_info(TS_RESP_get_status_info(resp.get())),
                              TS_INFO_TIME_NOT_AVAILABLE));
}

TEST(Rfc3161TsuTest, DevelopmentModeIssuesDespiteUnsyncedClock) {
  TsuFixture f(pki(), {});
  FakeClock clock(nowSeconds());
  auto opts = syncedOptions();
  opts.requireSyncedClock = false;
  opts.clockSyncCheck = [] { return Result<void>(Error::unavailable("unsynced (test)")); };
  auto tsu = Rfc3161Tsu::create(f.signer, opts, clock);
  ASSERT_TRUE(tsu.has_value());
  EXPECT_TRUE((*tsu)->timestamp(sha256Of("x")).has_value());
}

TEST(Rfc3161TsuTest, RejectsBadRequestsWithRfc3161Status) {
  TsuFixture f(pki(), {});
  FakeClock clock(nowSeconds());
  auto tsu = Rfc3161Tsu::create(f.signer, syncedOptions(), clock);
  ASSERT_TRUE(tsu.has_value());
  struct Case {
    std::string name;
    std::string request;
    int failureBit;
  };
  const std::vector<Case> cases = {
      {"garbage", "not DER at all", TS_INFO_BAD_DATA_FORMAT},
      {"other policy", *buildTimestampRequest(sha256Of("x"), "", true, "1.2.3.4.5"),
       TS_INFO_UNACCEPTED_POLICY},
  };
  for (const auto& c : cases) {
    auto der = (*tsu)->respond(c.request);
    ASSERT_TRUE(der.has_value()) << c.name;
    auto resp = parseResp(*der);
    ASSERT_TRUE(resp) << c.name;
    EXPECT_EQ(statusOf(resp.get()), TS_STATUS_REJECTION) << c.name;
    EXPECT_TRUE(ASN1_BIT_STRING_get_bit(
        TS_STATUS_INFO_get0_failure_info(TS_RESP_get_status_info(resp.get())), c.failureBit))
        << c.name;
  }
  EXPECT_EQ((*tsu)->respond(std::string(20000, 'x')).error().code, ErrorCode::InvalidInput);
  EXPECT_EQ((*tsu)->timestamp("short").error().code, ErrorCode::InvalidInput);
}

TEST(Rfc3161TsuTest, CreateRefusesCertificateWithoutTimeStampingEkuAndBadOptions) {
  TempDir dir;
  writeKeyFiles(dir.path, "tsu", pki().issue({}));  // a seal certificate, no EKU
  auto signer = FileKeySigner::fromDirectory(dir.path, {"tsu"});
  ASSERT_TRUE(signer.has_value());
  std::shared_ptr<Signer> s = std::move(*signer);
  FakeClock clock(nowSeconds());
  auto tsu = Rfc3161Tsu::create(s, syncedOptions(), clock);
  ASSERT_FALSE(tsu.has_value());
  EXPECT_EQ(tsu.error().code, ErrorCode::InvalidInput);

  TsuFixture f(pki(), {});
  auto o = syncedOptions();
  o.policyOid = "";
  EXPECT_EQ(Rfc3161Tsu::create(f.signer, o, clock).error().code, ErrorCode::InvalidInput);
  o.policyOid = "not an oid";
  EXPECT_EQ(Rfc3161Tsu::create(f.signer, o, clock).error().code, ErrorCode::InvalidInput);
  o = syncedOptions();
  o.keyLabel = "missing";
  EXPECT_EQ(Rfc3161Tsu::create(f.signer, o, clock).error().code, ErrorCode::NotFound);
}

TEST(Rfc3161TsuTest, ConcurrentTokensAllVerify) {
  TsuFixture f(pki(), {});
  FakeClock clock(nowSeconds());
  auto tsu = Rfc3161Tsu::create(f.signer, syncedOptions(), clock);
  ASSERT_TRUE(tsu.has_value());
  auto verifier = TimestampVerifier::fromPem(pki().root().certPem);
  ASSERT_TRUE(verifier.has_value());
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string d = sha256Of("doc " + std::to_string(t) + "/" + std::to_string(i));
        auto token = (*tsu)->timestamp(d);
        if (token && (*verifier)->verify(token->der, d).has_value()) ++good;
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(good.load(), 100);
}

// Interoperability: the openssl CLI (a verifier we did not write) accepts our token.
TEST(Rfc3161TsuTest, OpensslTsVerifyAcceptsToken) {
  TsuFixture f(pki(), {});
  FakeClock clock(nowSeconds());
  auto tsu = Rfc3161Tsu::create(f.signer, syncedOptions(), clock);
  ASSERT_TRUE(tsu.has_value());
  const std::string digest = sha256Of("interop");
  auto token = (*tsu)->timestamp(digest);
  ASSERT_TRUE(token.has_value());
  const std::string tok = f.dir.path + "/token.der";
  writeFile(tok, token->der);
  writeFile(f.dir.path + "/root.pem", pki().root().certPem);
  auto run = [&](const std::string& hex) {
    const std::string cmd = "openssl ts -verify -digest " + hex + " -in '" + tok +
                            "' -token_in -CAfile '" + f.dir.path + "/root.pem' -untrusted '" +
                            f.dir.path + "/tsu.pem' >'" + f.dir.path + "/out.txt' 2>&1";
    return std::system(cmd.c_str());
  };
  EXPECT_EQ(run(hexOf(digest)), 0) << [&] {
    std::ifstream in(f.dir.path + "/out.txt");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  EXPECT_NE(run(hexOf(sha256Of("something else"))), 0);
}

}  // namespace
}  // namespace erds::evidence
