// OCSP and online revocation: responses made and served by `openssl ocsp` (a responder we did not
// write), CRLs served by python3's http.server. Sealing embeds validated responses for the seal
// and TSU certificates and refuses revoked, unauthorised or expired data; verification uses
// embedded and supplied responses as of the time-stamp time, and fetches only when asked.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <memory>
#include <string>

#include "erds/base/aead.h"
#include "fake_clock.h"
#include "ocsp_test_util.h"
#include "xml_text.h"

namespace erds::evidence {
namespace {

using testing::OcspPki;

OcspPki& pki() {
  static OcspPki p;  // per test process; ~OcspPki removes the temp dir at exit
  return p;
}

SealerOptions ocspOptions(std::vector<std::string> responses) {
  SealerOptions o;
  o.ocspResponses = std::move(responses);
  o.caCertificatesPem = pki().pki.root().certPem;
  return o;
}

std::unique_ptr<EvidenceSealer> makeSealer(SealerOptions o, const std::string& tsuLabel = "tsu",
                                           const Clock& clock = SystemClock::instance()) {
  auto s = EvidenceSealer::create(pki().signer, pki().tsa(tsuLabel), clock, std::move(o));
  ERDS_CHECK(s.has_value(), "EvidenceSealer::create failed");
  return std::move(*s);
}

std::shared_ptr<const EvidenceVerifier> verifier() {
  static auto v = [] {
    auto r = EvidenceVerifier::create(VerifierTrust{{pki().pki.root().certPem}, {}});
    ERDS_CHECK(r.has_value(), "verifier");
    return std::move(*r);
  }();
  return v;
}

// Evidence sealed with good OCSP responses (the issuer's own for the seal certificate, the
// delegated responder's for the TSU), both embedded.
const SealedEvidence& sealedWithGoodOcsp() {
  static const SealedEvidence s = [] {
    auto sealer = makeSealer(ocspOptions({pki().respond("seal"), pki().respond("tsu", "responder")}));
    auto r = sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
    ERDS_CHECK(r.has_value(), "seal with good OCSP failed");
    return std::move(*r);
  }();
  return s;
}

// Evidence sealed without any revocation data.
SealedEvidence sealedPlain(const std::string& keyLabel = "seal", const std::string& tsuLabel = "tsu") {
  auto sealer = makeSealer({}, tsuLabel);
  auto r = sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), keyLabel);
  ERDS_CHECK(r.has_value(), "plain seal failed");
  return std::move(*r);
}

bool hasEntry(const std::vector<std::string>& list, std::string_view what, std::string_view also = "") {
  for (const auto& s : list)
    if (s.find(what) != std::string::npos && s.find(also) != std::string::npos) return true;
  return false;
}

bool contains(const std::string& s, std::initializer_list<std::string_view> parts) {
  for (auto p : parts)
    if (s.find(p) == std::string::npos) return false;
  return true;
}

std::string joined(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& s : list) out += s + "\n";
  return out;
}

TEST(OcspSealing, GoodResponsesAreEmbeddedInXadesOrderAndVerify) {
  const SealedEvidence& s = sealedWithGoodOcsp();
  ASSERT_EQ(s.ocspResponsesDer.size(), 2u);
  EXPECT_TRUE(s.revocationDataDer.empty());  // no CRL configured
  const std::string& doc = s.document;
  const auto ts = doc.find("</xades:SignatureTimeStamp>");
  const auto rv = doc.find("<xades:RevocationValues><xades:OCSPValues><xades:EncapsulatedOCSPValue>");
  ASSERT_NE(rv, std::string::npos) << doc;
  EXPECT_LT(ts, rv);
  // The embedded bytes are the responses given to the sealer.
  const auto from = rv + std::string_view("<xades:RevocationValues><xades:OCSPValues><xades:EncapsulatedOCSPValue>").size();
  const std::string b64 = doc.substr(from, doc.find('<', from) - from);
  EXPECT_EQ(internal::base64Decode(b64).value_or(""), s.ocspResponsesDer[0]);
  // The root (not in ds:KeyInfo) is kept for the verifier of the OCSP signatures.
  EXPECT_NE(doc.find("<xades:CertificateValues>"), std::string::npos);

  VerifyOptions o;
  o.requireRevocation = true;
  auto r = verifier()->verify(doc, o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerifyStatus::Valid) << r->reason << "\n" << joined(r->warnings);
  EXPECT_TRUE(r->revocationChecked);
  EXPECT_TRUE(r->tsaRevocationChecked);
  EXPECT_TRUE(hasEntry(r->revocationSources, "seal certificate \"", "ocsp seal\": embedded OCSP"))
      << joined(r->revocationSources);
  EXPECT_TRUE(hasEntry(r->revocationSources, "TSA certificate \"", "ocsp TSU\": embedded OCSP"))
      << joined(r->revocationSources);
}

TEST(OcspSealing, PemArmouredResponsesAreAccepted) {
  const std::string der = pki().respond("seal");
  const std::string pem = "-----BEGIN OCSP RESPONSE-----\n" +
                          [&] {
                            const std::string b64 = internal::base64Encode(der);
                            std::string out;
                            for (std::size_t i = 0; i < b64.size(); i += 64) out += b64.substr(i, 64) + "\n";
                            return out;
                          }() +
                          "-----END OCSP RESPONSE-----\n";
  auto sealer = makeSealer(ocspOptions({pem, pki().respond("tsu")}));
  auto s = sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_TRUE(s.has_value()) << s.error().message;
  ASSERT_FALSE(s->ocspResponsesDer.empty());
  EXPECT_EQ(s->ocspResponsesDer[0], der);
}

TEST(OcspSealing, RevokedSealCertificateIsRefusedNamingIt) {
  auto sealer = makeSealer(ocspOptions({pki().respond("seal-revoked"), pki().respond("tsu")}));
  auto s = sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal-revoked");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::IntegrityFailure);
  EXPECT_TRUE(contains(s.error().message, {"seal revocation data", "ocsp seal (revoked)", "is revoked (OCSP"}))
      << s.error().message;
  // prepare() (startup) refuses the same way.
  auto p = sealer->prepare("seal-revoked");
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.error().message.find("is revoked"), std::string::npos) << p.error().message;
}

TEST(OcspSealing, RevokedTsuIsRefusedAsUnavailable) {
  auto sealer = makeSealer(ocspOptions({pki().respond("seal"), pki().respond("tsu-revoked")}), "tsu-revoked");
  auto s = sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Unavailable);
  EXPECT_TRUE(contains(s.error().message, {"TSU revocation data", "ocsp TSU (revoked)", "is revoked (OCSP"}))
      << s.error().message;
  // The TSU certificate is checked against CRLs too (the root CRL lists only the revoked seal).
  SealerOptions crl;
  crl.crlsPem = {testing::issueCrl(pki().pki, pki().tsuRevoked.certPem)};
  crl.caCertificatesPem = pki().pki.root().certPem;
  auto byCrl = makeSealer(crl, "tsu-revoked")->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_FALSE(byCrl.has_value());
  EXPECT_EQ(byCrl.error().code, ErrorCode::Unavailable);
  EXPECT_TRUE(contains(byCrl.error().message, {"TSU revocation data", "ocsp TSU (revoked)", "is revoked"}))
      << byCrl.error().message;
}

TEST(OcspSealing, TsuWithoutRevocationDataIsRefused) {
  // Data for the seal certificate only: the TSU is not covered, so nothing is sealed.
  auto s = makeSealer(ocspOptions({pki().respond("seal")}))->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::Unavailable);
  EXPECT_TRUE(contains(s.error().message, {"TSU revocation data: no current CRL", "ocsp TSU"})) << s.error().message;
}

TEST(OcspSealing, UnauthorisedResponderIsRefused) {
  auto s = makeSealer(ocspOptions({pki().respond("seal", "rogue"), pki().respond("tsu")}))
               ->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::IntegrityFailure);
  EXPECT_TRUE(contains(s.error().message, {"not a responder", "which is neither"})) << s.error().message;
}

TEST(OcspSealing, ExpiredResponseIsRefused) {
  // nextUpdate one minute after thisUpdate; the sealer's clock is five minutes later.
  erds::testing::FakeClock clock(SystemClock::instance().now() + std::chrono::minutes(5));
  auto sealer = makeSealer(ocspOptions({pki().respond("seal", "root-ca", "-nmin 1"), pki().respond("tsu")}), "tsu", clock);
  auto s = sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message.find("is not current"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("ocsp seal"), std::string::npos) << s.error().message;
}

TEST(OcspSealing, GarbageResponseIsRefusedAtCreate) {
  auto s = EvidenceSealer::create(pki().signer, pki().tsa(), SystemClock::instance(), ocspOptions({"not ocsp"}));
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, ErrorCode::InvalidInput);
}

TEST(OcspSealing, FetchesFromTheAiaUrlOnceAndRefreshesInTheBackground) {
  auto server = pki().startResponder();
  ASSERT_TRUE(server->ready()) << "openssl ocsp responder did not start";
  erds::testing::FakeClock clock(SystemClock::instance().now());
  SealerOptions o;
  o.fetchOcsp = true;
  o.ocspRefreshInterval = std::chrono::seconds(10);
  o.caCertificatesPem = pki().pki.root().certPem;
  auto sealer = makeSealer(o, "tsu", clock);
  ASSERT_TRUE(sealer->prepare("seal").has_value());
  auto first = sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_TRUE(first.has_value()) << first.error().message;
  ASSERT_EQ(first->ocspResponsesDer.size(), 2u);  // seal + TSU, fetched from the responder
  auto again = sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->ocspResponsesDer, first->ocspResponsesDer);  // cached: no fetch per evidence
  // Past the refresh interval the background thread fetches new responses (new thisUpdate).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  clock.advance(std::chrono::seconds(11));
  std::vector<std::string> refreshed;
  for (int i = 0; i < 50 && (refreshed.empty() || refreshed == first->ocspResponsesDer); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto s = sealer->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
    ASSERT_TRUE(s.has_value()) << s.error().message;
    refreshed = s->ocspResponsesDer;
  }
  EXPECT_NE(refreshed, first->ocspResponsesDer);
  VerifyOptions required;
  required.requireRevocation = true;
  auto r = verifier()->verify(again->document, required);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerifyStatus::Valid) << r->reason;
}

TEST(OcspSealing, FetchFailureRefusesToSeal) {
  // Nobody listens on the AIA port: the first fetch fails and nothing is sealed.
  SealerOptions o;
  o.fetchOcsp = true;
  o.fetchTimeout = std::chrono::milliseconds(500);
  o.caCertificatesPem = pki().pki.root().certPem;
  auto s = makeSealer(o)->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message.find("OCSP fetch"), std::string::npos) << s.error().message;
}

TEST(OcspVerification, RevokedSealCertificateByOcspFileIsInvalid) {
  const SealedEvidence s = sealedPlain("seal-revoked");
  VerifyOptions o;
  o.ocspResponses = {pki().respond("seal-revoked", "responder")};
  auto r = verifier()->verify(s.document, o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerifyStatus::Invalid);
  EXPECT_TRUE(contains(r->reason, {"seal certificate revoked: ", "ocsp seal (revoked)", "(OCSP file)"})) << r->reason;
}

TEST(OcspVerification, RevokedTsuByOcspIsInvalid) {
  const SealedEvidence s = sealedPlain("seal", "tsu-revoked");
  VerifyOptions o;
  o.ocspResponses = {pki().respond("seal"), pki().respond("tsu-revoked")};
  auto r = verifier()->verify(s.document, o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerifyStatus::Invalid);
  EXPECT_TRUE(contains(r->reason, {"TSA certificate revoked: ", "ocsp TSU (revoked)", "OCSP file"})) << r->reason;
}

TEST(OcspVerification, FileResponsesMakeRevocationChecked) {
  const SealedEvidence s = sealedPlain();
  VerifyOptions o;
  o.requireRevocation = true;
  o.ocspResponses = {pki().respond("seal", "responder"), pki().respond("tsu")};
  auto r = verifier()->verify(s.document, o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerifyStatus::Valid) << r->reason << "\n" << joined(r->warnings);
  EXPECT_TRUE(hasEntry(r->revocationSources, "OCSP file")) << joined(r->revocationSources);
}

TEST(OcspVerification, UnauthorisedResponderIsNotUsed) {
  const SealedEvidence s = sealedPlain();
  VerifyOptions o;
  o.requireRevocation = true;
  o.ocspResponses = {pki().respond("seal", "rogue"), pki().respond("tsu", "rogue")};
  auto r = verifier()->verify(s.document, o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerifyStatus::Indeterminate) << r->reason;
  EXPECT_TRUE(hasEntry(r->warnings, "which is neither")) << joined(r->warnings);
  // A response about another certificate says nothing either.
  o.ocspResponses = {pki().respond("tsu-crl")};
  r = verifier()->verify(s.document, o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerifyStatus::Indeterminate) << r->reason;
}

TEST(OcspVerification, TamperedEmbeddedResponseIsDetectedAndNotUsed) {
  // RevocationValues are unsigned properties: the seal does not cover them, but each OCSP
  // response carries its own signature, which no longer verifies.
  std::string doc = sealedWithGoodOcsp().document;
  std::string der = sealedWithGoodOcsp().ocspResponsesDer[0];
  const std::string b64 = internal::base64Encode(der);
  der.back() = static_cast<char>(der.back() ^ 0x01);  // last byte of the signature (no certs)
  const auto at = doc.find(b64);
  ASSERT_NE(at, std::string::npos);
  doc.replace(at, b64.size(), internal::base64Encode(der));
  VerifyOptions o;
  o.requireRevocation = true;
  auto r = verifier()->verify(doc, o);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerifyStatus::Indeterminate) << r->reason;
  EXPECT_TRUE(hasEntry(r->warnings, "signature does not verify")) << joined(r->warnings);
  auto lax = verifier()->verify(doc, {});
  ASSERT_TRUE(lax.has_value());
  EXPECT_EQ(lax->status, VerifyStatus::Valid) << lax->reason;
  EXPECT_FALSE(lax->revocationChecked);
}

TEST(OcspVerification, OnlineFetchesOcspAndCrlAndReachesTheVerdict) {
  auto responder = pki().startResponder();
  auto crls = pki().startCrlServer();
  ASSERT_TRUE(responder->ready()) << "openssl ocsp responder did not start";
  ASSERT_TRUE(crls->ready()) << "python3 -m http.server did not start";
  VerifyOptions o;
  o.requireRevocation = true;
  o.online = true;
  o.fetchTimeout = std::chrono::seconds(5);
  // Seal certificate via OCSP, the CRL-only TSU via its CDP.
  auto good = verifier()->verify(sealedPlain("seal", "tsu-crl").document, o);
  ASSERT_TRUE(good.has_value());
  EXPECT_EQ(good->status, VerifyStatus::Valid) << good->reason << "\n" << joined(good->warnings);
  EXPECT_TRUE(hasEntry(good->revocationSources, "seal certificate \"", "ocsp seal\": fetched OCSP"))
      << joined(good->revocationSources);
  EXPECT_TRUE(hasEntry(good->revocationSources, "TSA certificate \"", "crl-only TSU\": fetched CRL"))
      << joined(good->revocationSources);
  // A revoked seal certificate: the responder says so.
  auto bad = verifier()->verify(sealedPlain("seal-revoked", "tsu-crl").document, o);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, VerifyStatus::Invalid);
  EXPECT_TRUE(contains(bad->reason, {"ocsp seal (revoked)", "is revoked since", "(fetched OCSP)"})) << bad->reason;
}

// A listening socket that never accepts: a connection attempt shows up as a pending connection.
struct Trap {
  int fd = -1;
  int port = 0;
  Trap() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ERDS_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "bind");
    ERDS_CHECK(::listen(fd, 8) == 0, "listen");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Trap() { ::close(fd); }
  bool contacted() const {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
};

TEST(OcspVerification, WithoutOnlineTheNetworkIsNeverTouched) {
  Trap trap;
  const std::string url = "http://127.0.0.1:" + std::to_string(trap.port) + "/x";
  testing::TestCertOptions opt;
  opt.commonName = "erds DEVELOPMENT trap seal";
  opt.ocspUrl = url;
  opt.crlUrl = url;
  const testing::TestCert cert = pki().pki.issue(opt);
  const std::string dir = testing::makeTempDir("erds-trap");
  testing::writeKeyFiles(dir, "seal", cert);
  testing::writeFile(dir + "/root-ca.pem", pki().pki.root().certPem);
  auto signer = FileKeySigner::fromDirectory(dir, {"seal"});
  ASSERT_TRUE(signer.has_value());
  auto sealer = EvidenceSealer::create(std::shared_ptr<Signer>(std::move(*signer)), pki().tsa(), SystemClock::instance());
  ASSERT_TRUE(sealer.has_value());
  auto s = (*sealer)->seal(testing::evidenceNow(Event::SubmissionAcceptance), "seal");
  ASSERT_TRUE(s.has_value());
  std::filesystem::remove_all(dir);

  VerifyOptions o;
  o.requireRevocation = true;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = verifier()->verify(s->document, o);
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, VerifyStatus::Indeterminate) << r->reason;
  EXPECT_FALSE(trap.contacted()) << "the verifier connected without online";
  EXPECT_LT(took, std::chrono::seconds(1));
  // The control: with online the same URL is contacted (and times out quickly).
  o.online = true;
  o.fetchTimeout = std::chrono::milliseconds(300);
  auto online = verifier()->verify(s->document, o);
  ASSERT_TRUE(online.has_value());
  EXPECT_TRUE(trap.contacted());
  EXPECT_EQ(online->status, VerifyStatus::Indeterminate);
  EXPECT_TRUE(hasEntry(online->warnings, "online:")) << joined(online->warnings);
}

}  // namespace
}  // namespace erds::evidence
