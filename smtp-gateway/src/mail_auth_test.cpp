// SPF, DKIM and DMARC against a fake DNS. DKIM signatures are made here with OpenSSL over
// canonical forms written out by hand (not by the code under test), then verified and tampered.
#include "erds/smtp/mail_auth.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

#include "base64.h"
#include "fake_dns_resolver.h"

namespace erds::smtp {
namespace {

using testing::FakeDnsResolver;

// ------------------------------------------------------------------ SPF
struct SpfCase {
  const char* name;
  const char* ip;
  SpfResult expected;
};

class SpfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dns.addTxt("example.org", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a:mail.example.org mx include:_spf.partner.net -all");
    dns.addA("mail.example.org", "198.51.100.7");
    dns.addMx("example.org", 10, "mx1.example.org");
    dns.addA("mx1.example.org", "198.51.100.25");
    dns.addTxt("_spf.partner.net", "v=spf1 ip4:203.0.113.0/28 ?all");
    dns.addTxt("soft.example", "v=spf1 ip4:192.0.2.1 ~all");
    dns.addTxt("neutral.example", "v=spf1 ?all");
    dns.addTxt("redirected.example", "v=spf1 redirect=example.org");
    dns.addTxt("two.example", "v=spf1 -all");
    dns.addTxt("two.example", "v=spf1 +all");
    dns.addTxt("bad.example", "v=spf1 ip4:300.1.1.1 -all");
    dns.addTxt("unknown.example", "v=spf1 foo:bar -all");
    dns.addTxt("broken-include.example", "v=spf1 include:nothing.example -all");
    dns.addTxt("temp.example", "v=spf1 include:down.example -all");
    dns.failName("down.example");
    dns.addTxt("macro.example", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all");
    dns.addA("1.2.0.192.bounce._spf.macro.example", "127.0.0.2");
    dns.addTxt("nospf.example", "some other text");
    // 11 chained includes: over the limit of 10 DNS-querying terms.
    for (int i = 0; i < 12; ++i)
      dns.addTxt("chain" + std::to_string(i) + ".example", "v=spf1 include:chain" + std::to_string(i + 1) + ".example -all");
    dns.addTxt("chain12.example", "v=spf1 +all");
  }
  FakeDnsResolver dns;
};

TEST_F(SpfTest, TableOfResults) {
  const struct {
    const char* domain;
    const char* ip;
    SpfResult expected;
  } cases[] = {
      {"example.org", "192.0.2.55", SpfResult::Pass},
      {"example.org", "::ffff:192.0.2.55", SpfResult::Pass},
      {"example.org", "2001:db8:1::5", SpfResult::Pass},
      {"example.org", "198.51.100.7", SpfResult::Pass},     // a:
      {"example.org", "198.51.100.25", SpfResult::Pass},    // mx
      {"example.org", "203.0.113.5", SpfResult::Pass},      // include
      {"example.org", "203.0.113.99", SpfResult::Fail},     // include did not match, then -all
      {"example.org", "2001:db9::1", SpfResult::Fail},
      {"soft.example", "192.0.2.2", SpfResult::SoftFail},
      {"soft.example", "192.0.2.1", SpfResult::Pass},
      {"neutral.example", "192.0.2.2", SpfResult::Neutral},
      {"redirected.example", "192.0.2.9", SpfResult::Pass},
      {"redirected.example", "10.0.0.1", SpfResult::Fail},
      {"two.example", "192.0.2.1", SpfResult::PermError},
      {"bad.example", "192.0.2.1", SpfResult::PermError},
      {"unknown.example", "192.0.2.1", SpfResult::PermError},
      {"broken-include.example", "192.0.2.1", SpfResult::PermError},
      {"temp.example", "192.0.2.1", SpfResult::TempError},
      {"nospf.example", "192.0.2.1", SpfResult::None},
      {"absent.example", "192.0.2.1", SpfResult::None},
      {"macro.example", "192.0.2.1", SpfResult::Pass},   // exists:1.2.0.192.bounce._spf.macro.example
      {"macro.example", "192.0.2.3", SpfResult::Fail},
      {"chain0.example", "192.0.2.1", SpfResult::PermError},  // 11+ lookups
      {"chain3.example", "192.0.2.1", SpfResult::Pass},       // 9 lookups: within the limit
  };
  for (const auto& c : cases) {
    const std::string sender = std::string("bounce@") + c.domain;
    EXPECT_EQ(checkSpf(dns, c.ip, c.domain, sender, "helo.example"), c.expected)
        << c.domain << " " << c.ip << " got " << spfResultName(checkSpf(dns, c.ip, c.domain, sender, "helo.example"));
  }
}

TEST_F(SpfTest, VoidLookupLimit) {
  dns.addTxt("voids.example", "v=spf1 a:v1.example a:v2.example a:v3.example +all");
  EXPECT_EQ(checkSpf(dns, "192.0.2.1", "voids.example", "x@voids.example", "h"), SpfResult::PermError);
}

// ------------------------------------------------------------------ DKIM
struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string sign(EVP_PKEY* key, bool ed25519, const std::string& data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string tbs = data;
  if (ed25519) {
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
    tbs.assign(reinterpret_cast<char*>(md), n);
  }
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, ed25519 ? nullptr : EVP_sha256(), nullptr, key), 1);
  std::size_t len = 0;
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(tbs.data()), tbs.size()), 1);
  sig.resize(len);
  return sig;
}

std::string sha256b64(const std::string& s) {
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  return internal::base64Encode(std::string(reinterpret_cast<char*>(md), n));
}

std::string rsaPublicRecord(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return "v=DKIM1; k=rsa; p=" + internal::base64Encode(out);
}

std::string edPublicRecord(EVP_PKEY* key) {
  unsigned char raw[32];
  std::size_t len = sizeof raw;
  EXPECT_EQ(EVP_PKEY_get_raw_public_key(key, raw, &len), 1);
  return "v=DKIM1; k=ed25519; p=" + internal::base64Encode(std::string(reinterpret_cast<char*>(raw), len));
}

std::unique_ptr<MessageData> messageOf(const std::string& s, std::size_t memory = 1 << 20) {
  auto m = std::make_unique<MessageData>(memory, "");
  EXPECT_TRUE(m->append(s).has_value());
  EXPECT_TRUE(m->finish().has_value());
  return m;
}

const std::string kHeaders =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.test\r\n"
    "Subject:  Hello   world \r\n"
    "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n";
const std::string kBody = "Line one  \r\n Line\ttwo\r\n\r\n\r\n";

class DkimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rsa.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
    ed.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    ASSERT_TRUE(rsa && ed);
    dns.addTxt("rsa1._domainkey.example.org", rsaPublicRecord(rsa.get()));
    dns.addTxt("ed1._domainkey.example.org", edPublicRecord(ed.get()));
  }
  // relaxed/relaxed rsa-sha256, canonical forms by hand.
  std::string relaxedSigned(const std::string& extraTags = "") {
    const std::string bh = sha256b64("Line one\r\n Line two\r\n");
    const std::string tags = "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=rsa1; h=From:To:Subject;" +
                             extraTags + " bh=" + bh + "; b=";
    const std::string data = "from:Alice <alice@example.org>\r\nto:bob@example.test\r\nsubject:Hello world\r\n"
                             "dkim-signature:" + tags;
    return "DKIM-Signature: " + tags + internal::base64Encode(sign(rsa.get(), false, data)) + "\r\n" + kHeaders + "\r\n" + kBody;
  }
  // simple/simple ed25519-sha256, the header folded.
  std::string simpleSigned() {
    const std::string bh = sha256b64("Line one  \r\n Line\ttwo\r\n");
    const std::string field = "DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; d=example.org;\r\n\ts=ed1; "
                              "h=from:subject; bh=" + bh + ";\r\n\tb=";
    const std::string data = "From: Alice <alice@example.org>\r\nSubject:  Hello   world \r\n" + field;
    return field + internal::base64Encode(sign(ed.get(), true, data)) + "\r\n" + kHeaders + "\r\n" + kBody;
  }
  FakeDnsResolver dns;
  Pkey rsa, ed;
};

TEST_F(DkimTest, RelaxedRsaSignatureVerifies) {
  auto m = messageOf(relaxedSigned());
  auto r = verifyDkim(dns, *m);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].result, DkimResult::Pass) << r[0].reason;
  EXPECT_EQ(r[0].domain, "example.org");
  EXPECT_EQ(r[0].selector, "rsa1");
}

TEST_F(DkimTest, SimpleEd25519SignatureVerifiesAlsoFromASpoolFile) {
  auto inMemory = messageOf(simpleSigned());
  auto r = verifyDkim(dns, *inMemory);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].result, DkimResult::Pass) << r[0].reason;
  auto spooled = messageOf(simpleSigned(), 16);  // beyond 16 bytes: a spool file
  ASSERT_FALSE(spooled->inMemory());
  auto r2 = verifyDkim(dns, *spooled);
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].result, DkimResult::Pass) << r2[0].reason;
}

TEST_F(DkimTest, TamperedBodyOrHeaderFails) {
  std::string body = relaxedSigned();
  body.replace(body.find("Line one"), 8, "Line 0ne");
  auto r = verifyDkim(dns, *messageOf(body));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].result, DkimResult::Fail);
  EXPECT_EQ(r[0].reason, "body hash mismatch");

  std::string header = simpleSigned();
  header.replace(header.find("Hello"), 5, "Hallo");
  r = verifyDkim(dns, *messageOf(header));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].result, DkimResult::Fail);
  EXPECT_EQ(r[0].reason, "signature did not verify");

  // Whitespace changes survive relaxed canonicalisation but not simple.
  std::string relaxedWs = relaxedSigned();
  relaxedWs.replace(relaxedWs.find("Subject:  Hello"), 15, "Subject: Hello ");
  EXPECT_EQ(verifyDkim(dns, *messageOf(relaxedWs))[0].result, DkimResult::Pass);
  std::string simpleWs = simpleSigned();
  simpleWs.replace(simpleWs.find("Subject:  Hello"), 15, "Subject: Hello ");
  EXPECT_EQ(verifyDkim(dns, *messageOf(simpleWs))[0].result, DkimResult::Fail);
}

TEST_F(DkimTest, KeyProblemsAndRefusedAlgorithms) {
  FakeDnsResolver other;
  auto r = verifyDkim(other, *messageOf(relaxedSigned()));
  EXPECT_EQ(r[0].result, DkimResult::PermError);
  EXPECT_EQ(r[0].reason, "no key");
  other.addTxt("rsa1._domainkey.example.org", "v=DKIM1; k=rsa; p=");
  EXPECT_EQ(verifyDkim(other, *messageOf(relaxedSigned()))[0].reason, "key revoked");
  FakeDnsResolver down;
  down.failName("rsa1._domainkey.example.org");
  EXPECT_EQ(verifyDkim(down, *messageOf(relaxedSigned()))[0].result, DkimResult::TempError);
  // A key of another signer under the selector: the signature does not verify.
  FakeDnsResolver wrong;
  Pkey other2(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  wrong.addTxt("rsa1._domainkey.example.org", rsaPublicRecord(other2.get()));
  EXPECT_EQ(verifyDkim(wrong, *messageOf(relaxedSigned()))[0].result, DkimResult::Fail);

  std::string sha1 = relaxedSigned();
  sha1.replace(sha1.find("a=rsa-sha256"), 12, "a=rsa-sha1");
  EXPECT_EQ(verifyDkim(dns, *messageOf(sha1))[0].result, DkimResult::PermError);
  EXPECT_EQ(verifyDkim(dns, *messageOf(kHeaders + "\r\n" + kBody)).size(), 0u);
}

TEST_F(DkimTest, BodyLengthLimitHonouredButAppendedContentNotTrusted) {
  // l=10 signs "Line one\r\n" only (relaxed).
  const std::string bh = sha256b64("Line one\r\n");
  const std::string tags = "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=rsa1; h=From; l=10; bh=" + bh + "; b=";
  const std::string data = "from:Alice <alice@example.org>\r\ndkim-signature:" + tags;
  const std::string msg = "DKIM-Signature: " + tags + internal::base64Encode(sign(rsa.get(), false, data)) + "\r\n" +
                          kHeaders + "\r\n" + kBody;
  auto r = verifyDkim(dns, *messageOf(msg));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].result, DkimResult::Neutral) << r[0].reason;  // signature good, body partly unsigned
  DkimOptions accept;
  accept.acceptPartialBody = true;
  EXPECT_EQ(verifyDkim(dns, *messageOf(msg), accept)[0].result, DkimResult::Pass);
}

// ------------------------------------------------------------------ DMARC and the header
TEST_F(DkimTest, DmarcAlignmentAndPolicy) {
  dns.addTxt("_dmarc.example.org", "v=DMARC1; p=reject; adkim=r; aspf=s");
  dns.addTxt("example.org", "v=spf1 ip4:192.0.2.0/24 -all");
  // DKIM aligned -> pass, whatever SPF says.
  auto pass = authenticateMail(dns, {"10.9.9.9", "mta.elsewhere", "bounce@elsewhere.example"}, *messageOf(relaxedSigned()));
  EXPECT_EQ(pass.dmarc.result, DmarcResult::Pass);
  EXPECT_FALSE(pass.dmarcReject());
  // Unsigned and SPF for a foreign domain -> fail, p=reject.
  auto fail = authenticateMail(dns, {"10.9.9.9", "mta.elsewhere", "bounce@elsewhere.example"}, *messageOf(kHeaders + "\r\n" + kBody));
  EXPECT_EQ(fail.dmarc.result, DmarcResult::Fail);
  EXPECT_TRUE(fail.dmarcReject());
  // SPF pass for the From domain itself -> aligned (strict) -> pass.
  auto spf = authenticateMail(dns, {"192.0.2.8", "mta.example.org", "bounce@example.org"}, *messageOf(kHeaders + "\r\n" + kBody));
  EXPECT_EQ(spf.spf, SpfResult::Pass);
  EXPECT_EQ(spf.dmarc.result, DmarcResult::Pass);

  // The parent's record applies to a subdomain From, with sp=.
  FakeDnsResolver d2;
  d2.addTxt("_dmarc.example.net", "v=DMARC1; p=reject; sp=quarantine");
  const std::string sub = "From: x@news.example.net\r\nSubject: s\r\n\r\nbody\r\n";
  auto r = authenticateMail(d2, {"10.0.0.1", "h", "a@b.example"}, *messageOf(sub));
  EXPECT_EQ(r.dmarc.result, DmarcResult::Fail);
  EXPECT_EQ(r.dmarc.policy, "quarantine");
  EXPECT_EQ(r.dmarc.recordDomain, "example.net");
  EXPECT_FALSE(r.dmarcReject());
  // No record: none.
  auto none = authenticateMail(d2, {"10.0.0.1", "h", "a@b.example"}, *messageOf("From: a@b.example\r\n\r\nx\r\n"));
  EXPECT_EQ(none.dmarc.result, DmarcResult::None);
  // DNS down: temperror, never reject.
  FakeDnsResolver d3;
  d3.failName("_dmarc.example.org");
  auto temp = authenticateMail(d3, {"10.0.0.1", "h", "a@b.example"}, *messageOf(kHeaders + "\r\n" + kBody));
  EXPECT_EQ(temp.dmarc.result, DmarcResult::TempError);
  EXPECT_FALSE(temp.dmarcReject());
}

TEST_F(DkimTest, AuthenticationResultsHeader) {
  dns.addTxt("_dmarc.example.org", "v=DMARC1; p=none");
  auto r = authenticateMail(dns, {"10.9.9.9", "mta", "b@evil\r\nX-Injected: 1.example"}, *messageOf(relaxedSigned()));
  const std::string h = authenticationResultsHeader("mx.example.test", r);
  EXPECT_EQ(h.rfind("Authentication-Results: mx.example.test;\r\n\tspf=", 0), 0u) << h;
  EXPECT_NE(h.find("dkim=pass header.d=example.org header.s=rsa1 header.a=rsa-sha256"), std::string::npos) << h;
  EXPECT_NE(h.find("dmarc=pass (p=none) header.from=example.org"), std::string::npos) << h;
  EXPECT_EQ(h.find("X-Injected: "), std::string::npos) << h;  // untrusted values are tokens only
  EXPECT_EQ(h.substr(h.size() - 2), "\r\n");
  EXPECT_EQ(r.summary(), "spf=none dkim=pass(example.org) dmarc=pass(p=none)");
}

}  // namespace
}  // namespace erds::smtp
