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
#include "openssl_util.h"
#include "ts_der.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;
using erds::testing::FakeClock;

constexpr const char* kPolicy = "1.3.6.1.4.1.99999.1.1";

Rfc3161TsuOptions syncedOptions() {
  return syncedTsuOptions(kPolicy);
}

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

// ---- timestamp()'s fast path (ts_der.h) against OpenSSL's TS_RESP_create_response ----

std::string bytesOf(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

template <typename T, typename F>
std::string der(T* obj, F i2d) {
  return internal::toDer(obj, i2d);
}

internal::Pkcs7Ptr parseToken(const std::string& d) {
  const auto* p = reinterpret_cast<const unsigned char*>(d.data());
  return internal::Pkcs7Ptr(d2i_PKCS7(nullptr, &p, static_cast<long>(d.size())));
}

// Every part of a token, each re-encoded alone (DER in, DER out).
struct TokenParts {
  std::string type, version, contentType, tstInfo;
  std::vector<std::string> digestAlgs, certificates, signedAttrs;
  int crls = 0, signerInfos = 0, unsignedAttrs = 0;
  std::string siVersion, sid, siDigestAlg, siSignatureAlg, signature;
};

TokenParts partsOf(const std::string& token) {
  TokenParts t;
  auto p7 = parseToken(token);
  if (!p7 || !PKCS7_type_is_signed(p7.get())) return t;
  t.type = internal::objectText(p7->type);
  PKCS7_SIGNED* sd = p7->d.sign;
  t.version = der(sd->version, i2d_ASN1_INTEGER);
  for (int i = 0; i < sk_X509_ALGOR_num(sd->md_algs); ++i)
    t.digestAlgs.push_back(der(sk_X509_ALGOR_value(sd->md_algs, i), i2d_X509_ALGOR));
  t.contentType = internal::objectText(sd->contents->type);
  if (sd->contents->d.other != nullptr && sd->contents->d.other->type == V_ASN1_OCTET_STRING)
    t.tstInfo = bytesOf(sd->contents->d.other->value.octet_string);
  for (int i = 0; i < sk_X509_num(sd->cert); ++i)
    t.certificates.push_back(der(sk_X509_value(sd->cert, i), i2d_X509));
  t.crls = sk_X509_CRL_num(sd->crl);
  t.signerInfos = sk_PKCS7_SIGNER_INFO_num(sd->signer_info);
  if (t.signerInfos < 1) return t;
  PKCS7_SIGNER_INFO* si = sk_PKCS7_SIGNER_INFO_value(sd->signer_info, 0);
  t.siVersion = der(si->version, i2d_ASN1_INTEGER);
  t.sid = der(si->issuer_and_serial, i2d_PKCS7_ISSUER_AND_SERIAL);
  t.siDigestAlg = der(si->digest_alg, i2d_X509_ALGOR);
  for (int i = 0; i < sk_X509_ATTRIBUTE_num(si->auth_attr); ++i)
    t.signedAttrs.push_back(der(sk_X509_ATTRIBUTE_value(si->auth_attr, i), i2d_X509_ATTRIBUTE));
  t.unsignedAttrs = sk_X509_ATTRIBUTE_num(si->unauth_attr);
  t.siSignatureAlg = der(si->digest_enc_alg, i2d_X509_ALGOR);
  t.signature = bytesOf(si->enc_digest);
  return t;
}

void expectSamePartsExceptSignature(const TokenParts& a, const TokenParts& b) {
  EXPECT_EQ(a.type, "1.2.840.113549.1.7.2");
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(hexOf(a.version), hexOf(b.version));
  EXPECT_EQ(a.digestAlgs, b.digestAlgs);
  EXPECT_EQ(a.contentType, "1.2.840.113549.1.9.16.1.4");
  EXPECT_EQ(a.contentType, b.contentType);
  EXPECT_FALSE(a.tstInfo.empty());
  EXPECT_EQ(hexOf(a.tstInfo), hexOf(b.tstInfo));
  EXPECT_FALSE(a.certificates.empty());
  EXPECT_EQ(a.certificates, b.certificates);
  EXPECT_EQ(a.crls, b.crls);
  EXPECT_EQ(a.signerInfos, 1);
  EXPECT_EQ(a.signerInfos, b.signerInfos);
  EXPECT_EQ(hexOf(a.siVersion), hexOf(b.siVersion));
  EXPECT_EQ(hexOf(a.sid), hexOf(b.sid));
  EXPECT_EQ(hexOf(a.siDigestAlg), hexOf(b.siDigestAlg));
  ASSERT_EQ(a.signedAttrs.size(), 4u);  // contentType, signingCertificateV2, signingTime, digest
  ASSERT_EQ(a.signedAttrs.size(), b.signedAttrs.size());
  for (std::size_t i = 0; i < a.signedAttrs.size(); ++i)
    EXPECT_EQ(hexOf(a.signedAttrs[i]), hexOf(b.signedAttrs[i])) << "signed attribute " << i;
  EXPECT_EQ(a.unsignedAttrs, b.unsignedAttrs);
  EXPECT_EQ(hexOf(a.siSignatureAlg), hexOf(b.siSignatureAlg));
  EXPECT_FALSE(a.signature.empty());
}

// `openssl ts -verify` (a verifier we did not write) on `token`; "" when it accepts it.
std::string opensslCliVerify(const std::string& dir, const std::string& token,
                             const std::string& digest, const std::string& untrustedPem) {
  writeFile(dir + "/cli-token.der", token);
  writeFile(dir + "/cli-root.pem", pki().root().certPem);
  writeFile(dir + "/cli-untrusted.pem", untrustedPem);
  const std::string cmd = "openssl ts -verify -digest " + hexOf(digest) + " -in '" + dir +
                          "/cli-token.der' -token_in -CAfile '" + dir +
                          "/cli-root.pem' -untrusted '" + dir + "/cli-untrusted.pem' >'" + dir +
                          "/cli-out.txt' 2>&1";
  if (std::system(cmd.c_str()) == 0) return "";
  std::ifstream in(dir + "/cli-out.txt");
  return "openssl ts -verify failed: " + std::string(std::istreambuf_iterator<char>(in), {});
}

struct FastCase {
  std::string name;
  TestKeyType key = TestKeyType::P256;
  int precision = 0;
  long accuracyUs = 1000000;
  bool tsaName = true;
  bool intermediate = false;
};
void PrintTo(const FastCase& c, std::ostream* os) {
  *os << c.name;
}

// A TSU key (optionally under an intermediate CA) loaded through FileKeySigner as "tsu".
struct FastFixture {
  TempDir dir;
  TestCert tsu;
  std::string untrustedPem;  // the TSU certificate and its chain below the root
  std::shared_ptr<Signer> signer;
  explicit FastFixture(const FastCase& c) {
    TestCertOptions o;
    o.keyType = c.key;
    o.timeStamping = true;
    o.commonName = "erds DEVELOPMENT TSU";
    std::string chainPem;
    if (c.intermediate) {
      TestCertOptions io;
      io.intermediateCa = true;
      io.commonName = "erds DEVELOPMENT intermediate";
      const TestCert inter = pki().issue(io);
      tsu = TestPki::issueBy(inter, o);
      chainPem = inter.certPem + pki().root().certPem;
    } else {
      tsu = pki().issue(o);
    }
    untrustedPem = tsu.certPem + chainPem;
    writeKeyFiles(dir.path, "tsu", tsu, chainPem);
    auto s = FileKeySigner::fromDirectory(dir.path, {"tsu"});
    if (s) signer = std::move(*s);
  }
};

Rfc3161TsuOptions optionsFor(const FastCase& c) {
  auto o = syncedOptions();
  o.clockPrecisionDigits = c.precision;
  o.accuracy = std::chrono::microseconds(c.accuracyUs);
  o.includeTsaName = c.tsaName;
  return o;
}

// The encoder exactly as Rfc3161Tsu::create builds it, from the signer's certificate and chain.
Result<internal::TstTokenEncoder> encoderFor(Signer& signer, const Rfc3161TsuOptions& o) {
  auto info = signer.keyInfo("tsu");
  if (!info) return std::move(info).error();
  auto cert = internal::parseDerCertificate(info->certificateDer);
  if (!cert) return std::move(cert).error();
  internal::X509StackPtr chain(sk_X509_new_null());
  if (!info->chainDer.empty()) {
    auto certs = internal::parseDerCertificates(info->chainDer, "chain");
    if (!certs) return std::move(certs).error();
    for (auto& c : *certs)
      sk_X509_push(chain.get(), c.release());
  }
  return internal::TstTokenEncoder::create(cert->get(), chain.get(), o);
}

class Rfc3161TsuFastPathTest : public ::testing::TestWithParam<FastCase> {};

// The proof our rules require: for the same digest, nonce, serial, genTime and signingTime the
// fast path emits OpenSSL's token byte for byte (with OpenSSL's signature value substituted, the
// whole ContentInfo is identical; the digest it signs is the one OpenSSL signed), and with its own
// signature every decoded part but the signature value is identical (RSA PKCS#1 v1.5: that too).
TEST_P(Rfc3161TsuFastPathTest, TokenIsByteIdenticalToOpensslAndVerifies) {
  const FastCase& c = GetParam();
  FastFixture f(c);
  ASSERT_TRUE(f.signer);
  // A fractional clock so that the precision matters.
  FakeClock clock(nowSeconds() + std::chrono::microseconds(120450));
  const auto opts = optionsFor(c);
  auto tsu = Rfc3161Tsu::create(f.signer, opts, clock);
  ASSERT_TRUE(tsu.has_value()) << tsu.error().toString();

  const std::string digest = sha256Of("fast path " + c.name);
  const std::string nonce("\x81\x02\x03\x04\x05\x06\x07\x08", 8);  // high bit: a leading 0x00
  auto respDer = (*tsu)->respond(*buildTimestampRequest(digest, nonce, true));
  ASSERT_TRUE(respDer.has_value()) << respDer.error().toString();
  auto resp = parseResp(*respDer);
  ASSERT_TRUE(resp);
  ASSERT_EQ(statusOf(resp.get()), TS_STATUS_GRANTED);
  PKCS7* ref = TS_RESP_get_token(resp.get());
  const std::string refDer = der(ref, i2d_PKCS7);
  const std::string serial = bytesOf(TS_TST_INFO_get_serial(TS_RESP_get_tst_info(resp.get())));
  PKCS7_SIGNER_INFO* refSi = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(ref), 0);
  ASN1_TYPE* st = PKCS7_get_signed_attribute(refSi, NID_pkcs9_signingTime);
  ASSERT_NE(st, nullptr);
  ASSERT_EQ(st->type, V_ASN1_UTCTIME);
  struct tm tm {};
  ASSERT_EQ(ASN1_TIME_to_tm(st->value.utctime, &tm), 1);
  const std::string refSignature = bytesOf(refSi->enc_digest);

  auto enc = encoderFor(*f.signer, opts);
  ASSERT_TRUE(enc.has_value()) << enc.error().toString();
  internal::TstTokenInputs in;
  in.sha256Digest = digest;
  in.serial = serial;
  in.nonce = nonce;
  const auto us = clock.now().time_since_epoch().count();
  in.genTimeSec = us / 1000000;
  in.genTimeUsec = static_cast<long>(us % 1000000);
  in.signingTime = timegm(&tm);

  std::string signedDigest;
  auto substituted = enc->encode(in, [&](std::string_view d) {
    signedDigest = std::string(d);
    return Result<std::string>(refSignature);
  });
  ASSERT_TRUE(substituted.has_value()) << substituted.error().toString();
  EXPECT_TRUE(*substituted == refDer)
      << "fast:    " << hexOf(*substituted) << "\nopenssl: " << hexOf(refDer);
  EXPECT_TRUE(verifyDigestSignature(f.tsu.certDer, signedDigest, refSignature));

  auto real = enc->encode(in, [&](std::string_view d) { return f.signer->signDigest("tsu", d); });
  ASSERT_TRUE(real.has_value()) << real.error().toString();
  const TokenParts fast = partsOf(*real), openssl = partsOf(refDer);
  expectSamePartsExceptSignature(fast, openssl);
  if (c.key == TestKeyType::Rsa2048) {
    EXPECT_EQ(hexOf(fast.signature), hexOf(openssl.signature));
    EXPECT_TRUE(*real == refDer);
  }
  // TSTInfo as OpenSSL decodes it: the parts we meant to write.
  internal::TsTstInfoPtr tst(PKCS7_to_TS_TST_INFO(parseToken(*real).get()));
  ASSERT_TRUE(tst);
  EXPECT_EQ(TS_TST_INFO_get_version(tst.get()), 1);
  EXPECT_EQ(internal::objectText(TS_TST_INFO_get_policy_id(tst.get())), kPolicy);
  EXPECT_EQ(bytesOf(TS_TST_INFO_get_nonce(tst.get())), nonce);
  EXPECT_EQ(TS_TST_INFO_get_tsa(tst.get()) != nullptr, c.tsaName);

  // OpenSSL's own verifier (TS_RESP_verify_token through TimestampVerifier) and the CLI.
  auto verifier = TimestampVerifier::fromPem(pki().root().certPem);
  ASSERT_TRUE(verifier.has_value());
  auto info = (*verifier)->verify(*real, digest);
  ASSERT_TRUE(info.has_value()) << info.error().toString();
  EXPECT_EQ(info->imprint, digest);
  EXPECT_EQ(info->tsaCertificateDer, f.tsu.certDer);
  EXPECT_EQ(opensslCliVerify(f.dir.path, *real, digest, f.untrustedPem), "");
  EXPECT_NE(opensslCliVerify(f.dir.path, *real, sha256Of("other"), f.untrustedPem), "");
}

INSTANTIATE_TEST_SUITE_P(
    Configurations, Rfc3161TsuFastPathTest,
    ::testing::Values(FastCase{"p256_default", TestKeyType::P256},
                      FastCase{"rsa_default", TestKeyType::Rsa2048},
                      FastCase{"p256_millis_accuracy_ms", TestKeyType::P256, 3, 1500000},
                      FastCase{"rsa_micros_no_tsa", TestKeyType::Rsa2048, 6, 250, false},
                      FastCase{"p256_intermediate", TestKeyType::P256, 2, 1001, true, true},
                      FastCase{"rsa_intermediate", TestKeyType::Rsa2048, 1, 2000001, false, true}),
    [](const ::testing::TestParamInfo<FastCase>& i) { return i.param.name; });

// timestamp() itself (the fast path): its token matches respond()'s at the same clock in every
// part that does not depend on the nonce, serial or signing time, and the returned genTime and
// serial are the token's.
TEST_P(Rfc3161TsuFastPathTest, TimestampMatchesRespondAndReportsItsOwnFields) {
  const FastCase& c = GetParam();
  FastFixture f(c);
  ASSERT_TRUE(f.signer);
  FakeClock clock(nowSeconds() + std::chrono::microseconds(987654));
  auto tsu = Rfc3161Tsu::create(f.signer, optionsFor(c), clock);
  ASSERT_TRUE(tsu.has_value()) << tsu.error().toString();
  const std::string digest = sha256Of("timestamp " + c.name);
  auto token = (*tsu)->timestamp(digest);
  ASSERT_TRUE(token.has_value()) << token.error().toString();
  auto resp = parseResp(*(*tsu)->respond(*buildTimestampRequest(digest, "\x01", true)));
  ASSERT_TRUE(resp);
  const TokenParts fast = partsOf(token->der);
  const TokenParts openssl = partsOf(der(TS_RESP_get_token(resp.get()), i2d_PKCS7));
  EXPECT_EQ(fast.certificates, openssl.certificates);
  EXPECT_EQ(hexOf(fast.sid), hexOf(openssl.sid));
  EXPECT_EQ(hexOf(fast.siSignatureAlg), hexOf(openssl.siSignatureAlg));
  EXPECT_EQ(fast.digestAlgs, openssl.digestAlgs);

  internal::TsTstInfoPtr tst(PKCS7_to_TS_TST_INFO(parseToken(token->der).get()));
  ASSERT_TRUE(tst);
  TS_TST_INFO* ref = TS_RESP_get_tst_info(resp.get());
  EXPECT_EQ(bytesOf(TS_TST_INFO_get_time(tst.get())), bytesOf(TS_TST_INFO_get_time(ref)));
  EXPECT_EQ(token->genTime, *internal::fromGeneralizedTime(TS_TST_INFO_get_time(tst.get())));
  EXPECT_EQ(token->serialHex, internal::integerHex(TS_TST_INFO_get_serial(tst.get())));
  EXPECT_EQ(token->serialHex.size(), 32u);
  EXPECT_EQ(ASN1_STRING_length(TS_TST_INFO_get_nonce(tst.get())) >= 8, true);
  EXPECT_LE(token->genTime, clock.now());
  EXPECT_GT(token->genTime + std::chrono::seconds(1), clock.now());

  auto verifier = TimestampVerifier::fromPem(pki().root().certPem);
  ASSERT_TRUE(verifier.has_value());
  auto info = (*verifier)->verify(token->der, digest);
  ASSERT_TRUE(info.has_value()) << info.error().toString();
  EXPECT_EQ(info->genTime, token->genTime);
  EXPECT_EQ(info->serialHex, token->serialHex);
  EXPECT_EQ(opensslCliVerify(f.dir.path, token->der, digest, f.untrustedPem), "");
}

// A Signer that can be switched to fail like an unreachable erds-signer.
class SwitchableSigner final : public Signer {
 public:
  explicit SwitchableSigner(std::shared_ptr<Signer> inner) : inner_(std::move(inner)) {}
  Result<std::string> signDigest(std::string_view label, std::string_view digest) override {
    if (down) return Error::unavailable("signer down (test)");
    return inner_->signDigest(label, digest);
  }
  Result<SigningKeyInfo> keyInfo(std::string_view label) override { return inner_->keyInfo(label); }
  std::atomic<bool> down{false};

 private:
  std::shared_ptr<Signer> inner_;
};

TEST(Rfc3161TsuTest, SignerUnavailableGivesUnavailableAsBefore) {
  TsuFixture f(pki(), {});
  auto sw = std::make_shared<SwitchableSigner>(f.signer);
  FakeClock clock(nowSeconds());
  auto tsu = Rfc3161Tsu::create(sw, syncedOptions(), clock);
  ASSERT_TRUE(tsu.has_value()) << tsu.error().toString();
  sw->down = true;
  auto token = (*tsu)->timestamp(sha256Of("x"));
  ASSERT_FALSE(token.has_value());
  EXPECT_EQ(token.error().code, ErrorCode::Unavailable);
  EXPECT_NE(token.error().message.find("time-stamping unit refused"), std::string::npos)
      << token.error().message;
  // The OpenSSL path (respond) refuses too: a rejection, which timestamp() always mapped to
  // Unavailable.
  auto der = (*tsu)->respond(*buildTimestampRequest(sha256Of("x")));
  ASSERT_TRUE(der.has_value());
  EXPECT_EQ(statusOf(parseResp(*der).get()), TS_STATUS_REJECTION);
  sw->down = false;
  EXPECT_TRUE((*tsu)->timestamp(sha256Of("x")).has_value());
}

}  // namespace
}  // namespace erds::evidence
