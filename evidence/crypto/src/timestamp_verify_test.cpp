#include "erds/evidence/timestamp_verify.h"

#include <gtest/gtest.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509_vfy.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "erds/evidence/rfc3161_tsu.h"

#include "chain_cache.h"
#include "crypto_test_util.h"
#include "fake_clock.h"

namespace erds::evidence {
namespace {

using namespace erds::evidence::testing;
using erds::testing::FakeClock;

constexpr const char* kPolicy = "1.3.6.1.4.1.99999.1.1";

Rfc3161TsuOptions syncedOptions() { return syncedTsuOptions(kPolicy); }

std::shared_ptr<const TimestampVerifier> trust(const std::string& pem) {
  auto v = TimestampVerifier::fromPem(pem);
  ERDS_CHECK(v.has_value(), "test trust store");
  return *v;
}

TimestampToken issue(const TsuFixture& f, const Clock& clock, const std::string& digest) {
  auto tsu = Rfc3161Tsu::create(f.signer, syncedOptions(), clock);
  ERDS_CHECK(tsu.has_value(), "test TSU");
  auto token = (*tsu)->timestamp(digest);
  ERDS_CHECK(token.has_value(), "test token");
  return *token;
}

TEST(TimestampVerifierTest, QualifiedStatementInCertificateIsReportedAndEnforced) {
  FakeClock clock(nowSeconds());
  const std::string digest = sha256Of("doc");
  TestCertOptions q;
  q.qtstStatement = true;
  TsuFixture qualified(pki(), q);
  TsuFixture plain(pki(), {});
  auto v = trust(pki().root().certPem);
  TimestampVerifyOptions requireQ;
  requireQ.requireQualified = true;

  auto qi = v->verify(issue(qualified, clock, digest).der, digest, requireQ);
  ASSERT_TRUE(qi.has_value()) << qi.error().toString();
  EXPECT_TRUE(qi->qcStatementInCertificate);
  EXPECT_FALSE(qi->qcStatementInToken);
  EXPECT_TRUE(qi->qualified());
  EXPECT_TRUE(*certificateHasQtstStatement(qualified.tsu.certDer));
  EXPECT_FALSE(*certificateHasQtstStatement(plain.tsu.certDer));

  auto pi = v->verify(issue(plain, clock, digest).der, digest, requireQ);
  ASSERT_FALSE(pi.has_value());
  EXPECT_EQ(pi.error().code, ErrorCode::IntegrityFailure);
  EXPECT_NE(pi.error().message.find("not qualified"), std::string::npos);
}

TEST(TimestampVerifierTest, FailsForWrongDigestUntrustedRootTamperingAndChecks) {
  FakeClock clock(nowSeconds());
  TsuFixture f(pki(), {});
  const std::string digest = sha256Of("doc");
  const TimestampToken token = issue(f, clock, digest);
  auto v = trust(pki().root().certPem);
  ASSERT_TRUE(v->verify(token.der, digest).has_value());
  ASSERT_TRUE(v->verify(token.der, "").has_value());  // signature and chain only

  struct Case {
    std::string name;
    std::string token;
    std::string digest;
    TimestampVerifyOptions options;
    std::shared_ptr<const TimestampVerifier> verifier;
  };
  std::string flipped = token.der;
  flipped[flipped.size() - 10] ^= 0x01;  // inside the signature value
  TimestampVerifyOptions badPolicy;
  badPolicy.expectedPolicyOid = "1.2.3";
  TimestampVerifyOptions badNonce;
  badNonce.expectedNonce = std::string("\x01\x02", 2);
  TimestampVerifyOptions future;
  future.asOf = clock.now() + std::chrono::hours(24 * 800);  // after the TSU certificate expired
  const TestPki other("another DEVELOPMENT root");
  const std::vector<Case> cases = {
      {"wrong digest", token.der, sha256Of("other"), {}, v},
      {"other root", token.der, digest, {}, trust(other.root().certPem)},
      {"flipped signature byte", flipped, digest, {}, v},
      {"policy", token.der, digest, badPolicy, v},
      {"nonce", token.der, digest, badNonce, v},
      {"expired at asOf", token.der, digest, future, v},
  };
  for (const auto& c : cases) {
    auto r = c.verifier->verify(c.token, c.digest, c.options);
    ASSERT_FALSE(r.has_value()) << c.name;
    EXPECT_EQ(r.error().code, ErrorCode::IntegrityFailure) << c.name << ": " << r.error().message;
  }
  EXPECT_EQ(v->verify("garbage", digest).error().code, ErrorCode::InvalidInput);
  EXPECT_EQ(v->verify(token.der, "123").error().code, ErrorCode::InvalidInput);
  // A SHA-384 digest against a SHA-256 imprint is an algorithm mismatch.
  EXPECT_EQ(v->verify(token.der, std::string(48, 'a')).error().code, ErrorCode::IntegrityFailure);
}

// The verifier parses each distinct certificate of a token's bag once and memoises chain
// signature checks; a changed certificate in the bag must still fail, and must not poison the
// caches for the genuine token.
TEST(TimestampVerifierTest, CachedCertificatesAndChainsStillCatchATamperedCertificateBag) {
  FakeClock clock(nowSeconds());
  TsuFixture f(pki(), {});
  const std::string digest = sha256Of("doc");
  const TimestampToken token = issue(f, clock, digest);
  auto v = trust(pki().root().certPem);
  TimestampVerifyOptions atGenTime;
  atGenTime.asOfGenTime = true;
  const auto hitsBefore = internal::chainVerifyCacheHitsForTest();
  for (int i = 0; i < 3; ++i) {
    auto r = v->verify(token.der, digest, atGenTime);
    ASSERT_TRUE(r.has_value()) << r.error().toString();
    EXPECT_EQ(r->tsaCertificateDer, f.tsu.certDer);
  }
  EXPECT_GE(internal::chainVerifyCacheHitsForTest(), hitsBefore + 2);

  const auto at = token.der.find(f.tsu.certDer);
  ASSERT_NE(at, std::string::npos) << "the TSU certificate is in the token";
  std::string badCert = token.der;
  badCert[at + f.tsu.certDer.size() - 3] ^= 0x01;  // inside the certificate's own signature
  auto bad = v->verify(badCert, digest, atGenTime);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::IntegrityFailure) << bad.error().message;
  ASSERT_TRUE(v->verify(token.der, digest, atGenTime).has_value());

  // Outside the TSU certificate's validity a cached chain does not apply.
  TimestampVerifyOptions future;
  future.asOf = clock.now() + std::chrono::hours(24 * 800);
  EXPECT_FALSE(v->verify(token.der, digest, future).has_value());
}

// OpenSSL's own verdict on a whole token (no certificate-bag split, no caches): the reference.
bool opensslAccepts(const std::string& der, const std::string& digest, const std::string& rootPem, TimePoint at) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<PKCS7, decltype(&PKCS7_free)> p7(d2i_PKCS7(nullptr, &p, static_cast<long>(der.size())), PKCS7_free);
  if (!p7 || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    ERR_clear_error();
    return false;
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(rootPem.data(), static_cast<int>(rootPem.size())),
                                                BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> root(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_set_purpose(store, X509_PURPOSE_TIMESTAMP_SIGN);
  X509_STORE_add_cert(store, root.get());
  X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store),
                             std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count());
  std::unique_ptr<TS_VERIFY_CTX, decltype(&TS_VERIFY_CTX_free)> ctx(TS_VERIFY_CTX_new(), TS_VERIFY_CTX_free);
  TS_VERIFY_CTX_set_store(ctx.get(), store);  // owned by ctx
  auto* imprint = static_cast<unsigned char*>(OPENSSL_memdup(digest.data(), digest.size()));
  TS_VERIFY_CTX_set_imprint(ctx.get(), imprint, static_cast<long>(digest.size()));
  TS_VERIFY_CTX_set_flags(ctx.get(), TS_VFY_SIGNATURE | TS_VFY_VERSION | TS_VFY_IMPRINT);
  const bool ok = TS_RESP_verify_token(ctx.get(), p7.get()) == 1;
  ERR_clear_error();
  return ok;
}

// Hostile tokens through the certificate-bag split and the caches: for every one-bit flip and
// every truncation of a genuine token the verdict is OpenSSL's own on the whole token. (Some
// flips are accepted by both: the CMS signature does not cover the certificate bag, where the
// token carries an untrusted copy of the root, nor the digestAlgorithms set.) Flips inside the
// TSU certificate or the signed TSTInfo are refused.
TEST(TimestampVerifierTest, EveryBitFlipAndTruncationGetsOpenSslsVerdict) {
  FakeClock clock(nowSeconds());
  TsuFixture f(pki(), {});
  const std::string digest = sha256Of("doc");
  const TimestampToken token = issue(f, clock, digest);
  auto v = trust(pki().root().certPem);
  TimestampVerifyOptions at;
  at.asOf = clock.now();
  ASSERT_TRUE(v->verify(token.der, digest, at).has_value());
  ASSERT_TRUE(opensslAccepts(token.der, digest, pki().root().certPem, clock.now()));
  const auto tsuAt = token.der.find(f.tsu.certDer);
  ASSERT_NE(tsuAt, std::string::npos);
  int mismatches = 0;
  std::string first;
  for (std::size_t i = 0; i < token.der.size(); ++i) {
    std::string flipped = token.der;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    const std::string truncated = token.der.substr(0, i);
    for (const std::string* input : {static_cast<const std::string*>(&flipped), &truncated}) {
      const bool ours = v->verify(*input, digest, at).has_value();
      if (ours != opensslAccepts(*input, digest, pki().root().certPem, clock.now()) && mismatches++ == 0)
        first = (input == &flipped ? "bit flip at " : "truncation at ") + std::to_string(i);
    }
    if (i >= tsuAt && i < tsuAt + f.tsu.certDer.size()) {
      EXPECT_FALSE(v->verify(flipped, digest, at).has_value()) << "flip in the TSU certificate at " << i;
    }
  }
  EXPECT_EQ(mismatches, 0) << "first difference: " << first;
  ASSERT_TRUE(v->verify(token.der, digest, at).has_value());
}

TEST(TimestampVerifierTest, ExpiredTsuCertificateVerifiesAsOfGenTime) {
  const std::time_t now = std::time(nullptr);
  TestCertOptions o;
  o.notBefore = now - 10 * 86400;
  o.notAfter = now - 5 * 86400;
  const TestPki oldPki("erds DEVELOPMENT old root", now - 30 * 86400, now + 30 * 86400);
  TsuFixture f(oldPki, o);
  FakeClock clock(TimePoint(std::chrono::seconds(now - 7 * 86400)));
  const std::string digest = sha256Of("old doc");
  const TimestampToken token = issue(f, clock, digest);
  auto v = trust(oldPki.root().certPem);
  EXPECT_EQ(v->verify(token.der, digest).error().code, ErrorCode::IntegrityFailure);
  TimestampVerifyOptions asOf;
  asOf.asOfGenTime = true;
  auto info = v->verify(token.der, digest, asOf);
  ASSERT_TRUE(info.has_value()) << info.error().toString();
  EXPECT_EQ(info->genTime, clock.now());
}

TEST(TimestampVerifierTest, TokenWithoutCertificateNeedsUntrustedTsuCertificate) {
  TsuFixture f(pki(), {});
  FakeClock clock(nowSeconds());
  auto tsu = Rfc3161Tsu::create(f.signer, syncedOptions(), clock);
  ASSERT_TRUE(tsu.has_value());
  const std::string digest = sha256Of("doc");
  auto der = (*tsu)->respond(*buildTimestampRequest(digest, "", /*certReq=*/false));
  ASSERT_TRUE(der.has_value());
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  std::unique_ptr<TS_RESP, decltype(&TS_RESP_free)> resp(
      d2i_TS_RESP(nullptr, &p, static_cast<long>(der->size())), TS_RESP_free);
  ASSERT_TRUE(resp);
  PKCS7* p7 = TS_RESP_get_token(resp.get());
  int n = i2d_PKCS7(p7, nullptr);
  std::string token(static_cast<std::size_t>(n), '\0');
  auto* q = reinterpret_cast<unsigned char*>(token.data());
  i2d_PKCS7(p7, &q);
  auto v = trust(pki().root().certPem);
  EXPECT_FALSE(v->verify(token, digest).has_value());
  TimestampVerifyOptions o;
  o.untrustedDer = f.tsu.certDer;
  auto info = v->verify(token, digest, o);
  ASSERT_TRUE(info.has_value()) << info.error().toString();
  EXPECT_EQ(info->tsaCertificateDer, f.tsu.certDer);
}

// ---- Third-party tokens from the conformance kits ----

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string base64Decode(std::string_view text) {
  std::string clean;
  for (char c : text)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=') clean += c;
  std::string out(clean.size() / 4 * 3 + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return {};
  std::size_t pad = 0;
  if (!clean.empty() && clean.back() == '=') ++pad;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

// The first xades:EncapsulatedTimeStamp (base64) in an XML document.
std::string encapsulatedTimestamp(const std::string& xml) {
  auto tag = xml.find("EncapsulatedTimeStamp");
  if (tag == std::string::npos) return {};
  auto start = xml.find('>', tag);
  auto end = xml.find('<', start);
  return base64Decode(std::string_view(xml).substr(start + 1, end - start - 1));
}

// SHA-256 of the exclusive C14N of the first ds:SignatureValue element: the XAdES
// SignatureTimeStamp imprint.
std::string signatureValueImprint(const std::string& xml) {
  xmlDocPtr doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "evidence.xml", nullptr,
                                XML_PARSE_NONET);
  if (doc == nullptr) return {};
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  xmlXPathRegisterNs(ctx, BAD_CAST "ds", BAD_CAST "http://www.w3.org/2000/09/xmldsig#");
  xmlXPathObjectPtr sv = xmlXPathEvalExpression(BAD_CAST "(//ds:SignatureValue)[1]", ctx);
  std::string digest;
  if (sv != nullptr && sv->nodesetval != nullptr && sv->nodesetval->nodeNr == 1) {
    ctx->node = sv->nodesetval->nodeTab[0];
    xmlXPathObjectPtr nodes =
        xmlXPathEvalExpression(BAD_CAST
                               "descendant-or-self::node() | descendant-or-self::node()/@* | "
                               "descendant-or-self::node()/namespace::*",
                               ctx);
    xmlChar* out = nullptr;
    int n = xmlC14NDocDumpMemory(doc, nodes->nodesetval, XML_C14N_EXCLUSIVE_1_0, nullptr, 0, &out);
    if (n > 0)
      digest =
          sha256Of(std::string_view(reinterpret_cast<char*>(out), static_cast<std::size_t>(n)));
    xmlFree(out);
    xmlXPathFreeObject(nodes);
  }
  xmlXPathFreeObject(sv);
  xmlXPathFreeContext(ctx);
  xmlFreeDoc(doc);
  return digest;
}

const std::string kConformance = ERDS_CONFORMANCE_DIR;
const std::string kAgid =
    kConformance + "/documento_finale_gdl_rem_versione_1.2_28.07.2022_1.latest_version";
const std::string kEtsi = kConformance + "/en_31953204v010201p0/INFORMATIVE-EXAMPLES";

class AgidTokenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(AgidTokenTest, VerifiesWithImprintOverCanonicalSignatureValueAsOfGenTime) {
  const std::string path = kAgid + "/standalone-evidence/" + GetParam();
  ASSERT_TRUE(std::filesystem::exists(path)) << "conformance kit missing: " << path;
  const std::string xml = readAll(path);
  const std::string token = encapsulatedTimestamp(xml);
  ASSERT_FALSE(token.empty());
  const std::string imprint = signatureValueImprint(xml);
  ASSERT_EQ(imprint.size(), 32u);

  auto v = TimestampVerifier::fromPemFiles(
      {kAgid + "/certificates/TSA-ROOT-CA.extracted-from-sample-tokens.pem"});
  ASSERT_TRUE(v.has_value()) << v.error().toString();
  EXPECT_EQ((*v)->verify(token, imprint).error().code,
            ErrorCode::IntegrityFailure);  // expired today
  TimestampVerifyOptions o;
  o.asOfGenTime = true;
  auto info = (*v)->verify(token, imprint, o);
  ASSERT_TRUE(info.has_value()) << info.error().toString();
  EXPECT_NE(info->tsaSubject.find("good-tsa"), std::string::npos) << info->tsaSubject;
  EXPECT_EQ(formatRfc3339(info->genTime).substr(0, 4), "2022");
  EXPECT_FALSE(info->serialHex.empty());
  EXPECT_FALSE(info->qualified());  // test TSA: no esi4-qtstStatement-1
  // One byte off in the imprint: fails.
  std::string wrong = imprint;
  wrong[0] ^= 0x01;
  EXPECT_EQ((*v)->verify(token, wrong, o).error().code, ErrorCode::IntegrityFailure);
}

INSTANTIATE_TEST_SUITE_P(Kit, AgidTokenTest,
                         ::testing::Values("SubmissionAcceptance.RA01.xml", "RelayFailure.RB02.xml",
                                           "ContentConsignmentFailure1.RD05.xml"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// The ETSI EN 319 532-4 kit: the evidence XML travels base64-encoded inside the .eml.
std::string etsiEvidenceXml(const std::string& emlPath, const std::string& attachment) {
  const std::string eml = readAll(emlPath);
  auto at = eml.find("filename=\"" + attachment + "\"");
  if (at == std::string::npos) return {};
  auto body = eml.find("\n\n", at);
  auto crlf = eml.find("\r\n\r\n", at);
  std::size_t start = body;
  if (crlf != std::string::npos && (body == std::string::npos || crlf < body))
    start = crlf + 4;
  else if (body != std::string::npos)
    start = body + 2;
  auto end = eml.find("--", start);
  return base64Decode(std::string_view(eml).substr(start, end - start));
}

TEST(EtsiKitTokenTest, VerifiesAgainstTheRootBundledInTheToken) {
  const std::string eml =
      kEtsi + "/SCENARIOS/S1/2a.Issued_by_S-REMS-A/REM_SubmissionAcceptance.RA01.eml";
  ASSERT_TRUE(std::filesystem::exists(eml)) << "conformance kit missing: " << eml;
  const std::string xml = etsiEvidenceXml(eml, "SubmissionAcceptance.xml");
  ASSERT_NE(xml.find("SubmissionAcceptance"), std::string::npos);
  const std::string token = encapsulatedTimestamp(xml);
  ASSERT_FALSE(token.empty());
  const std::string imprint = signatureValueImprint(xml);
  ASSERT_EQ(imprint.size(), 32u);

  auto parsed = TimestampVerifier::inspect(token);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().toString();
  EXPECT_EQ(formatRfc3339(parsed->genTime, false), "2021-12-01T21:06:31Z");
  EXPECT_EQ(parsed->serialHex, "66344a6377976d89219a003a5015d6c9");
  EXPECT_EQ(parsed->imprint, imprint);

  // The kit's CERTIFICATES/TSA.NOWNTSTS202004.pem holds a *different* "root-ca" (key and validity
  // differ: 2020-03 vs the token's 2020-10 root), so those tokens do not chain to it.
  TimestampVerifyOptions o;
  o.asOfGenTime = true;
  auto kitRoot = TimestampVerifier::fromPemFiles({kEtsi + "/CERTIFICATES/TSA.NOWNTSTS202004.pem"});
  ASSERT_TRUE(kitRoot.has_value());
  EXPECT_EQ((*kitRoot)->verify(token, imprint, o).error().code, ErrorCode::IntegrityFailure);

  // Trusting the self-signed root that the token itself carries: signature, ESS cert id, chain
  // and imprint over the canonical SignatureValue all verify.
  const auto* p = reinterpret_cast<const unsigned char*>(token.data());
  std::unique_ptr<PKCS7, decltype(&PKCS7_free)> p7(
      d2i_PKCS7(nullptr, &p, static_cast<long>(token.size())), PKCS7_free);
  ASSERT_TRUE(p7);
  std::string rootPem;
  STACK_OF(X509)* certs = p7->d.sign->cert;
  for (int i = 0; i < sk_X509_num(certs); ++i) {
    X509* c = sk_X509_value(certs, i);
    if (X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)) == 0) {
      std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
      PEM_write_bio_X509(bio.get(), c);
      char* data = nullptr;
      long n = BIO_get_mem_data(bio.get(), &data);
      rootPem.assign(data, static_cast<std::size_t>(n));
    }
  }
  ASSERT_FALSE(rootPem.empty());
  auto bundled = TimestampVerifier::fromPem(rootPem);
  ASSERT_TRUE(bundled.has_value());
  auto info = (*bundled)->verify(token, imprint, o);
  ASSERT_TRUE(info.has_value()) << info.error().toString();
  EXPECT_NE(info->tsaSubject.find("good-tsa"), std::string::npos);
}

}  // namespace
}  // namespace erds::evidence
