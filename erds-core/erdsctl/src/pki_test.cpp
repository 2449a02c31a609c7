// Tests of the development PKI generator: chains, key usages, SAN, subjects, modes, --force.
#include "erds/ctl/pki.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "openssl_ptr.h"
#include "test_support.h"

namespace erds::ctl {
namespace {

using ::testing::HasSubstr;
using testsupport::fileMode;
using testsupport::readFile;
using testsupport::TempDir;

using internal::BioPtr;
using internal::BnPtr;
using internal::OpensslPtr;
using internal::PkeyPtr;
using internal::X509Ptr;
using StorePtr = OpensslPtr<X509_STORE, X509_STORE_free>;
using StoreCtxPtr = OpensslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using TsCtxPtr = OpensslPtr<TS_RESP_CTX, TS_RESP_CTX_free>;
using GeneralNamesPtr = OpensslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using EkuPtr = OpensslPtr<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free>;
using BasicConstraintsPtr = OpensslPtr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free>;
using OctetPtr = OpensslPtr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using AkidPtr = OpensslPtr<AUTHORITY_KEYID, AUTHORITY_KEYID_free>;

std::vector<X509Ptr> loadCerts(const std::string& path) {
  std::vector<X509Ptr> certs;
  const std::string pem = readFile(path);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    certs.emplace_back(c);
  ERR_clear_error();  // the loop ends on a "no start line" error
  return certs;
}

X509Ptr loadCert(const std::string& path) {
  auto certs = loadCerts(path);
  if (certs.empty()) return nullptr;
  return std::move(certs.front());
}

PkeyPtr loadKey(const std::string& path) {
  const std::string pem = readFile(path);
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// Verifies `leaf` against `root` as the only trust anchor, for `purpose` (0 = any).
std::string verifyChain(X509* leaf, X509* root, int purpose) {
  StorePtr store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), root);
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  if (purpose != 0) X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  if (X509_verify_cert(ctx.get()) == 1) return "ok";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

bool isCritical(X509* cert, int nid) {
  const int idx = X509_get_ext_by_NID(cert, nid, -1);
  if (idx < 0) return false;
  return X509_EXTENSION_get_critical(X509_get_ext(cert, idx)) == 1;
}

bool hasExtension(X509* cert, int nid) {
  return X509_get_ext_by_NID(cert, nid, -1) >= 0;
}

std::vector<int> ekuNids(X509* cert) {
  std::vector<int> nids;
  EkuPtr eku(static_cast<EXTENDED_KEY_USAGE*>(
      X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr)));
  if (!eku) return nids;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
    nids.push_back(OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i)));
  }
  return nids;
}

std::string nameLine(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

int validityDays(X509* cert) {
  int days = 0;
  int secs = 0;
  ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert));
  return days;
}

std::string der(X509* cert) {
  unsigned char* buf = nullptr;
  const int len = i2d_X509(cert, &buf);
  std::string out(reinterpret_cast<char*>(buf), static_cast<std::size_t>(len));
  OPENSSL_free(buf);
  return out;
}

std::string octets(const ASN1_OCTET_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::string subjectKeyId(X509* cert) {
  OctetPtr ski(static_cast<ASN1_OCTET_STRING*>(
      X509_get_ext_d2i(cert, NID_subject_key_identifier, nullptr, nullptr)));
  return ski ? octets(ski.get()) : std::string();
}

std::string authorityKeyId(X509* cert) {
  AkidPtr akid(static_cast<AUTHORITY_KEYID*>(
      X509_get_ext_d2i(cert, NID_authority_key_identifier, nullptr, nullptr)));
  return akid && akid->keyid ? octets(akid->keyid) : std::string();
}

// One P-256 PKI shared by the read-only tests (key generation is the slow part).
class PkiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    PkiOptions options;
    options.dir = dir_->file("pki");  // does not exist yet: initDevelopmentPki creates it
    auto report = initDevelopmentPki(options);
    ASSERT_TRUE(report.has_value()) << report.error().message;
    report_ = new PkiReport(*report);
  }
  static void TearDownTestSuite() {
    delete report_;
    delete dir_;
    report_ = nullptr;
    dir_ = nullptr;
  }
  static std::string path(const std::string& name) { return dir_->file("pki/" + name); }
  static X509Ptr cert(const std::string& stem) { return loadCert(path(stem + ".pem")); }

  static TempDir* dir_;
  static PkiReport* report_;
};
TempDir* PkiTest::dir_ = nullptr;
PkiReport* PkiTest::report_ = nullptr;

TEST_F(PkiTest, WritesAllFilesWithPrivateKeyModes) {
  EXPECT_EQ(fileMode(dir_->file("pki")), 0700);
  for (const auto& name : developmentPkiFileNames()) {
    const bool isKey = name.ends_with(".key");  // root-ca.crl.pem is public like the certificates
    EXPECT_EQ(fileMode(path(name)), isKey ? 0600 : 0644) << name;
  }
  // No temp files left behind by the atomic writes.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_->file("pki"))) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 9);
}

TEST_F(PkiTest, ReportDescribesEachCertificate) {
  ASSERT_EQ(report_->certificates.size(), 4u);
  const std::vector<std::string> stems = {"root-ca", "seal", "tsu", "tls"};
  for (std::size_t i = 0; i < stems.size(); ++i) {
    const auto& c = report_->certificates[i];
    EXPECT_EQ(c.certPath, path(stems[i] + ".pem"));
    EXPECT_EQ(c.keyPath, path(stems[i] + ".key"));
    EXPECT_THAT(c.subject, HasSubstr("DEVELOPMENT"));
    EXPECT_EQ(c.algorithm, "ECDSA P-256");
    EXPECT_THAT(c.notBefore, ::testing::MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"));
    EXPECT_LT(c.notBefore, c.notAfter);
  }
}

TEST_F(PkiTest, KeysArePkcs8AndMatchTheirCertificates) {
  for (const std::string stem : {"root-ca", "seal", "tsu", "tls"}) {
    const std::string pem = readFile(path(stem + ".key"));
    EXPECT_TRUE(pem.starts_with("-----BEGIN PRIVATE KEY-----\n")) << stem;
    PkeyPtr key = loadKey(path(stem + ".key"));
    ASSERT_NE(key, nullptr) << stem;
    EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC")) << stem;
    EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256) << stem;
    X509Ptr c = cert(stem);
    ASSERT_NE(c, nullptr) << stem;
    EXPECT_EQ(X509_check_private_key(c.get(), key.get()), 1) << stem;
  }
}

TEST_F(PkiTest, RootIsACriticalCaWithCertSignOnly) {
  X509Ptr root = cert("root-ca");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(root.get()), X509_get_issuer_name(root.get())), 0);
  EXPECT_EQ(verifyChain(root.get(), root.get(), 0), "ok");
  EXPECT_TRUE(isCritical(root.get(), NID_basic_constraints));
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(root.get(), NID_basic_constraints, nullptr, nullptr)));
  ASSERT_NE(bc, nullptr);
  EXPECT_TRUE(bc->ca);
  EXPECT_TRUE(isCritical(root.get(), NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(root.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_FALSE(hasExtension(root.get(), NID_ext_key_usage));
  const int days = validityDays(root.get());
  EXPECT_GE(days, 3650);
  EXPECT_LE(days, 3653);
}

// Table of what each leaf must carry.
struct LeafCase {
  std::string stem;
  uint32_t keyUsage;
  std::vector<int> eku;  // exact list, empty = no EKU extension
  bool ekuCritical;
  int purpose;  // X509_PURPOSE_* the chain must verify for
  int minDays, maxDays;
};

class PkiLeafTest : public PkiTest, public ::testing::WithParamInterface<LeafCase> {};

TEST_P(PkiLeafTest, ChainVerifiesAndUsagesAreExact) {
  const LeafCase& tc = GetParam();
  X509Ptr root = cert("root-ca");
  X509Ptr leaf = cert(tc.stem);
  ASSERT_NE(root, nullptr);
  ASSERT_NE(leaf, nullptr);

  EXPECT_EQ(verifyChain(leaf.get(), root.get(), 0), "ok");
  EXPECT_EQ(verifyChain(leaf.get(), root.get(), tc.purpose), "ok");

  EXPECT_TRUE(isCritical(leaf.get(), NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(leaf.get()), tc.keyUsage);
  EXPECT_EQ(ekuNids(leaf.get()), tc.eku);
  if (!tc.eku.empty()) {
    EXPECT_EQ(isCritical(leaf.get(), NID_ext_key_usage), tc.ekuCritical);
  }

  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(leaf.get(), NID_basic_constraints, nullptr, nullptr)));
  ASSERT_NE(bc, nullptr);
  EXPECT_FALSE(bc->ca);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);

  EXPECT_THAT(nameLine(X509_get_subject_name(leaf.get())), HasSubstr("O=erds DEVELOPMENT"));
  EXPECT_THAT(nameLine(X509_get_subject_name(leaf.get())), HasSubstr("CN=erds DEVELOPMENT"));
  EXPECT_THAT(nameLine(X509_get_issuer_name(leaf.get())), HasSubstr("CN=erds DEVELOPMENT Root CA"));

  const std::string ski = subjectKeyId(leaf.get());
  EXPECT_FALSE(ski.empty());
  EXPECT_NE(ski, subjectKeyId(root.get()));
  EXPECT_EQ(authorityKeyId(leaf.get()), subjectKeyId(root.get()));

  const int days = validityDays(leaf.get());
  EXPECT_GE(days, tc.minDays);
  EXPECT_LE(days, tc.maxDays);
}

INSTANTIATE_TEST_SUITE_P(Leaves, PkiLeafTest,
                         ::testing::Values(LeafCase{"seal",
                                                    KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION,
                                                    {},
                                                    false,
                                                    X509_PURPOSE_ANY,
                                                    1095,
                                                    1096},
                                           LeafCase{"tsu",
                                                    KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION,
                                                    {NID_time_stamp},
                                                    true,
                                                    X509_PURPOSE_TIMESTAMP_SIGN,
                                                    1095,
                                                    1096},
                                           LeafCase{"tls",
                                                    KU_DIGITAL_SIGNATURE,
                                                    {NID_server_auth},
                                                    false,
                                                    X509_PURPOSE_SSL_SERVER,
                                                    825,
                                                    825}),
                         [](const ::testing::TestParamInfo<LeafCase>& info) {
                           return info.param.stem;
                         });

TEST_F(PkiTest, RootAuthorityKeyIdIsItsOwnSubjectKeyId) {
  X509Ptr root = cert("root-ca");
  ASSERT_NE(root, nullptr);
  EXPECT_FALSE(subjectKeyId(root.get()).empty());
  EXPECT_EQ(authorityKeyId(root.get()), subjectKeyId(root.get()));
}

TEST_F(PkiTest, RootCrlIsSignedByTheRootRevokesNothingAndLastsAsLongAsTheRoot) {
  const std::string pem = readFile(path("root-ca.crl.pem"));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  internal::OpensslPtr<X509_CRL, X509_CRL_free> crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(crl, nullptr);
  X509Ptr root = cert("root-ca");
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(root.get())), 0);
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(root.get())), 1);
  EXPECT_LE(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get())), 0);  // -1: no list at all
  EXPECT_EQ(X509_cmp_time(X509_CRL_get0_lastUpdate(crl.get()), nullptr), -1);  // already valid
  EXPECT_EQ(ASN1_TIME_compare(X509_CRL_get0_nextUpdate(crl.get()), X509_get0_notAfter(root.get())), 0);
  EXPECT_GE(X509_CRL_get_ext_by_NID(crl.get(), NID_crl_number, -1), 0);
  EXPECT_GE(X509_CRL_get_ext_by_NID(crl.get(), NID_authority_key_identifier, -1), 0);
  // The seal and TSU certificates verify against the root with this CRL (revocation checked).
  for (const std::string stem : {"seal", "tsu"}) {
    X509Ptr leaf = cert(stem);
    internal::OpensslPtr<X509_STORE, X509_STORE_free> store(X509_STORE_new());
    X509_STORE_add_cert(store.get(), root.get());
    X509_STORE_add_crl(store.get(), crl.get());
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    internal::OpensslPtr<X509_STORE_CTX, X509_STORE_CTX_free> ctx(X509_STORE_CTX_new());
    ASSERT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr), 1);
    EXPECT_EQ(X509_verify_cert(ctx.get()), 1)
        << stem << ": " << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  }
}

TEST_F(PkiTest, SerialsAreRandom128Bit) {
  std::vector<std::string> serials;
  for (const std::string stem : {"root-ca", "seal", "tsu", "tls"}) {
    X509Ptr c = cert(stem);
    ASSERT_NE(c, nullptr);
    BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(c.get()), nullptr));
    ASSERT_NE(bn, nullptr);
    EXPECT_FALSE(BN_is_negative(bn.get()));
    EXPECT_LE(BN_num_bits(bn.get()), 128) << stem;
    // 16 random bytes have fewer than 96 significant bits with probability 2^-32.
    EXPECT_GE(BN_num_bits(bn.get()), 96) << stem;
    char* hex = BN_bn2hex(bn.get());
    serials.emplace_back(hex);
    OPENSSL_free(hex);
  }
  std::sort(serials.begin(), serials.end());
  EXPECT_EQ(std::unique(serials.begin(), serials.end()), serials.end());
}

TEST_F(PkiTest, TimeStampingUnitIsAcceptedByOpenSslTsa) {
  X509Ptr tsu = cert("tsu");
  ASSERT_NE(tsu, nullptr);
  // check_purpose_timestamp_sign: EKU critical, exactly timeStamping, KU only DS/NR.
  EXPECT_EQ(X509_check_purpose(tsu.get(), X509_PURPOSE_TIMESTAMP_SIGN, 0), 1);
  TsCtxPtr ctx(TS_RESP_CTX_new());
  ASSERT_NE(ctx, nullptr);
  EXPECT_EQ(TS_RESP_CTX_set_signer_cert(ctx.get(), tsu.get()), 1);
  // And the seal certificate (no EKU) is refused as a TSU, so the check above means something.
  X509Ptr seal = cert("seal");
  EXPECT_EQ(TS_RESP_CTX_set_signer_cert(ctx.get(), seal.get()), 0);
  ERR_clear_error();
}

TEST_F(PkiTest, TlsCertificateCoversLocalhostAndCarriesTheRoot) {
  auto certs = loadCerts(path("tls.pem"));
  ASSERT_EQ(certs.size(), 2u);
  X509Ptr root = cert("root-ca");
  EXPECT_EQ(der(certs[1].get()), der(root.get()));
  X509* leaf = certs[0].get();

  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr)));
  ASSERT_NE(names, nullptr);
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type == GEN_DNS) {
      dns.push_back(octets(gn->d.dNSName));
    } else if (gn->type == GEN_IPADD) {
      ips.push_back(octets(gn->d.iPAddress));
    } else {
      ADD_FAILURE() << "unexpected SAN type " << gn->type;
    }
  }
  EXPECT_EQ(dns, std::vector<std::string>{"localhost"});
  const std::string v4("\x7f\x00\x00\x01", 4);
  const std::string v6 = std::string(15, '\0') + "\x01";
  EXPECT_EQ(ips, (std::vector<std::string>{v4, v6}));

  EXPECT_EQ(X509_check_host(leaf, "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf, "::1", 0), 1);
  EXPECT_NE(X509_check_host(leaf, "example.com", 0, 0, nullptr), 1);
}

TEST(PkiInit, RefusesToOverwriteWithoutForceAndOverwritesWithIt) {
  TempDir dir;
  PkiOptions options;
  options.dir = dir.path();
  ASSERT_TRUE(initDevelopmentPki(options).has_value());
  const std::string rootBefore = readFile(dir.file("root-ca.pem"));
  const std::string keyBefore = readFile(dir.file("tls.key"));

  auto again = initDevelopmentPki(options);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, ErrorCode::Conflict);
  EXPECT_THAT(again.error().message, HasSubstr(dir.file("root-ca.pem")));
  EXPECT_EQ(again.error().message.find('\n'), std::string::npos);
  EXPECT_EQ(readFile(dir.file("root-ca.pem")), rootBefore);

  options.force = true;
  ASSERT_TRUE(initDevelopmentPki(options).has_value());
  EXPECT_NE(readFile(dir.file("root-ca.pem")), rootBefore);
  EXPECT_NE(readFile(dir.file("tls.key")), keyBefore);
  EXPECT_EQ(fileMode(dir.file("tls.key")), 0600);
  EXPECT_EQ(fileMode(dir.file("root-ca.pem")), 0644);
}

TEST(PkiInit, AnySingleExistingFileBlocksAndNothingIsWritten) {
  TempDir dir;
  testsupport::writeFile(dir.file("tsu.key"), "operator's key", 0600);
  PkiOptions options;
  options.dir = dir.path();
  auto r = initDevelopmentPki(options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::Conflict);
  EXPECT_THAT(r.error().message, HasSubstr(dir.file("tsu.key")));
  EXPECT_EQ(fileMode(dir.file("root-ca.pem")), -1);
  EXPECT_EQ(readFile(dir.file("tsu.key")), "operator's key");
}

TEST(PkiInit, ExistingNonDirectoryIsInvalidInput) {
  TempDir dir;
  testsupport::writeFile(dir.file("plain"), "x", 0644);
  PkiOptions options;
  options.dir = dir.file("plain");
  auto r = initDevelopmentPki(options);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
}

TEST(PkiInit, CreatesMissingParents) {
  TempDir dir;
  PkiOptions options;
  options.dir = dir.file("a/b/pki");
  ASSERT_TRUE(initDevelopmentPki(options).has_value());
  EXPECT_EQ(fileMode(dir.file("a/b/pki")), 0700);
  EXPECT_EQ(fileMode(dir.file("a/b/pki/seal.key")), 0600);
}

TEST(PkiInit, Rsa3072Variant) {
  TempDir dir;
  PkiOptions options;
  options.dir = dir.path();
  options.algorithm = KeyAlgorithm::Rsa3072;
  auto report = initDevelopmentPki(options);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_EQ(report->certificates.front().algorithm, "RSA 3072");
  X509Ptr root = loadCert(dir.file("root-ca.pem"));
  for (const std::string stem : {"root-ca", "seal", "tsu", "tls"}) {
    PkeyPtr key = loadKey(dir.file(stem + ".key"));
    ASSERT_NE(key, nullptr);
    EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "RSA")) << stem;
    EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 3072) << stem;
    X509Ptr c = loadCert(dir.file(stem + ".pem"));
    EXPECT_EQ(X509_check_private_key(c.get(), key.get()), 1) << stem;
    EXPECT_EQ(verifyChain(c.get(), root.get(), 0), "ok") << stem;
  }
  X509Ptr tls = loadCert(dir.file("tls.pem"));
  EXPECT_EQ(X509_get_key_usage(tls.get()),
            static_cast<uint32_t>(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
  X509Ptr tsu = loadCert(dir.file("tsu.pem"));
  EXPECT_EQ(X509_check_purpose(tsu.get(), X509_PURPOSE_TIMESTAMP_SIGN, 0), 1);
}

TEST(PkiInit, ParsesAlgorithmNames) {
  EXPECT_EQ(*parseKeyAlgorithm("p256"), KeyAlgorithm::P256);
  EXPECT_EQ(*parseKeyAlgorithm("rsa3072"), KeyAlgorithm::Rsa3072);
  for (const char* bad : {"", "P256", "rsa2048", "ed25519"}) {
    auto r = parseKeyAlgorithm(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput);
  }
}


// The OCSP responder URL and CRL distribution point options, and `pki ocsp` responses.
std::vector<std::string> ocspUrlsOf(X509* c) {
  std::vector<std::string> out;
  STACK_OF(OPENSSL_STRING)* list = X509_get1_ocsp(c);
  for (int i = 0; list != nullptr && i < sk_OPENSSL_STRING_num(list); ++i) out.emplace_back(sk_OPENSSL_STRING_value(list, i));
  X509_email_free(list);
  return out;
}

std::vector<std::string> crlUrlsOf(X509* c) {
  std::vector<std::string> out;
  auto* dps = static_cast<STACK_OF(DIST_POINT)*>(X509_get_ext_d2i(c, NID_crl_distribution_points, nullptr, nullptr));
  for (int i = 0; dps != nullptr && i < sk_DIST_POINT_num(dps); ++i) {
    DIST_POINT* dp = sk_DIST_POINT_value(dps, i);
    if (dp->distpoint == nullptr || dp->distpoint->type != 0) continue;
    for (int j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname); ++j) {
      GENERAL_NAME* gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);
      if (gn->type == GEN_URI)
        out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier)));
    }
  }
  sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
  return out;
}

TEST(PkiInit, CrlAndOcspUrlsGoIntoEndEntityCertificatesOnlyWhenAsked) {
  TempDir dir;
  PkiOptions options;
  options.dir = dir.path();
  options.crlUrl = "http://crl.example.test/root-ca.crl";
  options.ocspUrl = "http://127.0.0.1:8089/";
  auto report = initDevelopmentPki(options);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  for (const std::string stem : {"seal", "tsu", "tls"}) {
    X509Ptr c = loadCert(dir.file(stem + ".pem"));
    EXPECT_EQ(ocspUrlsOf(c.get()), std::vector<std::string>{options.ocspUrl}) << stem;
    EXPECT_EQ(crlUrlsOf(c.get()), std::vector<std::string>{options.crlUrl}) << stem;
  }
  X509Ptr root = loadCert(dir.file("root-ca.pem"));
  EXPECT_TRUE(ocspUrlsOf(root.get()).empty());
  // The delegated responder: issued by the root, EKU OCSPSigning, nocheck.
  X509Ptr responder = loadCert(dir.file("ocsp.pem"));
  ASSERT_NE(responder, nullptr);
  EXPECT_EQ(verifyChain(responder.get(), root.get(), 0), "ok");
  EXPECT_NE(X509_get_extended_key_usage(responder.get()) & XKU_OCSP_SIGN, 0u);
  EXPECT_GE(X509_get_ext_by_NID(responder.get(), NID_id_pkix_OCSP_noCheck, -1), 0);
  EXPECT_EQ(fileMode(dir.file("ocsp.key")), 0600);
  // The index lists seal, tsu and tls as valid, by serial; the DER CRL is the PEM one.
  const std::string index = readFile(dir.file("index.txt"));
  EXPECT_EQ(std::count(index.begin(), index.end(), '\n'), 3);
  for (const std::string stem : {"seal", "tsu", "tls"}) {
    X509Ptr c = loadCert(dir.file(stem + ".pem"));
    BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(c.get()), nullptr));
    char* hex = BN_bn2hex(bn.get());
    EXPECT_THAT(index, HasSubstr(std::string("\t") + hex + "\t")) << stem;
    OPENSSL_free(hex);
  }
  EXPECT_EQ(index.rfind("V\t", 0), 0u);
  EXPECT_GT(readFile(dir.file("root-ca.crl")).size(), 100u);
  // `openssl ocsp` answers from that index with the responder certificate.
  const std::string cmd = "openssl ocsp -index " + dir.file("index.txt") + " -CA " + dir.file("root-ca.pem") +
                          " -rsigner " + dir.file("ocsp.pem") + " -rkey " + dir.file("ocsp.key") + " -issuer " +
                          dir.file("root-ca.pem") + " -cert " + dir.file("seal.pem") + " -respout " +
                          dir.file("seal.ocsp") + " -noverify >/dev/null 2>&1 && openssl ocsp -respin " +
                          dir.file("seal.ocsp") + " -CAfile " + dir.file("root-ca.pem") + " -issuer " +
                          dir.file("root-ca.pem") + " -cert " + dir.file("seal.pem") + " -no_nonce 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  EXPECT_THAT(out, HasSubstr("Response verify OK"));
  EXPECT_THAT(out, HasSubstr("seal.pem: good"));

  // Without the options: no extensions and none of the extra files.
  TempDir plain;
  PkiOptions p;
  p.dir = plain.path();
  ASSERT_TRUE(initDevelopmentPki(p).has_value());
  X509Ptr seal = loadCert(plain.file("seal.pem"));
  EXPECT_LT(X509_get_ext_by_NID(seal.get(), NID_info_access, -1), 0);
  EXPECT_LT(X509_get_ext_by_NID(seal.get(), NID_crl_distribution_points, -1), 0);
  for (const std::string name : {"ocsp.pem", "ocsp.key", "index.txt", "root-ca.crl"})
    EXPECT_EQ(fileMode(plain.file(name)), -1) << name;
}

TEST(PkiInit, RejectsUrlsThatAreNotHttp) {
  for (const char* bad : {"ftp://x/", "http://", "http://a b/", "http://a,b/", "ldap://x", "x"}) {
    TempDir dir;
    PkiOptions options;
    options.dir = dir.file("pki");
    options.ocspUrl = bad;
    auto r = initDevelopmentPki(options);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidInput) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("--ocsp-url")) << bad;
    options.ocspUrl.clear();
    options.crlUrl = bad;
    r = initDevelopmentPki(options);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_THAT(r.error().message, HasSubstr("--crl-url")) << bad;
  }
}

TEST(PkiOcsp, SignsGoodResponsesForSealAndTsuThatOpensslAccepts) {
  TempDir dir;
  PkiOptions options;
  options.dir = dir.path();
  ASSERT_TRUE(initDevelopmentPki(options).has_value());
  auto pem = developmentOcspResponses(dir.path(), 2);
  ASSERT_TRUE(pem.has_value()) << pem.error().message;
  // Two PEM blocks; each is a successful response, checked by openssl for its certificate.
  std::vector<std::string> ders;
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long len = 0;
  while (PEM_read_bio(bio.get(), &name, &header, &data, &len) == 1) {
    EXPECT_STREQ(name, "OCSP RESPONSE");
    ders.emplace_back(reinterpret_cast<char*>(data), static_cast<std::size_t>(len));
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  ERR_clear_error();
  ASSERT_EQ(ders.size(), 2u);
  const char* stems[] = {"seal", "tsu"};
  for (std::size_t i = 0; i < 2; ++i) {
    testsupport::writeFile(dir.file(std::string(stems[i]) + ".ocsp"), ders[i], 0644);
    const std::string cmd = "openssl ocsp -respin " + dir.file(std::string(stems[i]) + ".ocsp") + " -CAfile " +
                            dir.file("root-ca.pem") + " -issuer " + dir.file("root-ca.pem") + " -cert " +
                            dir.file(std::string(stems[i]) + ".pem") + " -no_nonce 2>&1";
    std::string out;
    if (FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      std::size_t n;
      while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
      pclose(p);
    }
    EXPECT_THAT(out, HasSubstr("Response verify OK")) << stems[i];
    EXPECT_THAT(out, HasSubstr(std::string(stems[i]) + ".pem: good")) << stems[i];
  }
  EXPECT_FALSE(developmentOcspResponses(dir.path(), 0).has_value());
  auto missing = developmentOcspResponses(dir.file("nope"), 1);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
}

}  // namespace
}  // namespace erds::ctl
