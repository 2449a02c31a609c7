#include "erds/identity/client_certificate.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>
#include <ctime>

#include "crypto_util.h"

namespace erds::identity {
namespace {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const { Fn(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using X509CrlPtr = std::unique_ptr<X509_CRL, Deleter<X509_CRL_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using ObjPtr = std::unique_ptr<ASN1_OBJECT, Deleter<ASN1_OBJECT_free>>;
struct CertStackFree {
  void operator()(STACK_OF(X509)* s) const { sk_X509_pop_free(s, X509_free); }
};
using CertStackPtr = std::unique_ptr<STACK_OF(X509), CertStackFree>;
struct AnySeqFree {
  void operator()(ASN1_SEQUENCE_ANY* s) const { sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free); }
};
using AnySeqPtr = std::unique_ptr<ASN1_SEQUENCE_ANY, AnySeqFree>;

constexpr std::string_view kOidQcStatements = "1.3.6.1.5.5.7.1.3";
constexpr std::string_view kOidQcCompliance = "0.4.0.1862.1.1";
constexpr std::string_view kOidQcSscd = "0.4.0.1862.1.4";
constexpr std::string_view kOidQcType = "0.4.0.1862.1.6";
constexpr std::string_view kOidQctESign = "0.4.0.1862.1.6.1";
constexpr std::string_view kOidQctESeal = "0.4.0.1862.1.6.2";
constexpr std::string_view kOidQctWeb = "0.4.0.1862.1.6.3";

bool looksLikePem(std::string_view s) { return s.find("-----BEGIN") != std::string_view::npos; }

// All certificates in `text` (PEM, possibly several; or one DER).
std::vector<X509Ptr> parseCertificates(std::string_view text) {
  std::vector<X509Ptr> out;
  if (text.empty() || text.size() > (1u << 20)) return out;
  if (!looksLikePem(text)) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    X509Ptr c(d2i_X509(nullptr, &p, static_cast<long>(text.size())));
    if (c && p == reinterpret_cast<const unsigned char*>(text.data()) + text.size()) out.push_back(std::move(c));
    ERR_clear_error();
    return out;
  }
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
  ERR_clear_error();  // the loop ends with a "no start line" error
  return out;
}

std::string objText(const ASN1_OBJECT* o) {
  char buf[128];
  int n = OBJ_obj2txt(buf, sizeof buf, o, 1);
  return n > 0 && static_cast<std::size_t>(n) < sizeof buf ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

AnySeqPtr parseSequence(const unsigned char* p, long len) {
  return AnySeqPtr(d2i_ASN1_SEQUENCE_ANY(nullptr, &p, len));
}

void readQcStatements(X509* leaf, CertificateCheck& out) {
  ObjPtr oid(OBJ_txt2obj(std::string(kOidQcStatements).c_str(), 1));
  int idx = X509_get_ext_by_OBJ(leaf, oid.get(), -1);
  if (idx < 0) return;
  ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(leaf, idx));
  AnySeqPtr statements = parseSequence(ASN1_STRING_get0_data(data), ASN1_STRING_length(data));
  if (!statements) {
    ERR_clear_error();
    return;
  }
  for (int i = 0; i < sk_ASN1_TYPE_num(statements.get()); ++i) {
    ASN1_TYPE* st = sk_ASN1_TYPE_value(statements.get(), i);
    if (ASN1_TYPE_get(st) != V_ASN1_SEQUENCE) continue;
    AnySeqPtr fields = parseSequence(ASN1_STRING_get0_data(st->value.sequence), ASN1_STRING_length(st->value.sequence));
    if (!fields || sk_ASN1_TYPE_num(fields.get()) < 1) continue;
    ASN1_TYPE* id = sk_ASN1_TYPE_value(fields.get(), 0);
    if (ASN1_TYPE_get(id) != V_ASN1_OBJECT) continue;
    std::string oidText = objText(id->value.object);
    if (oidText == kOidQcCompliance) out.qcCompliance = true;
    if (oidText == kOidQcSscd) out.qcSscd = true;
    if (oidText == kOidQcType && sk_ASN1_TYPE_num(fields.get()) >= 2) {
      ASN1_TYPE* info = sk_ASN1_TYPE_value(fields.get(), 1);
      if (ASN1_TYPE_get(info) != V_ASN1_SEQUENCE) continue;
      AnySeqPtr types = parseSequence(ASN1_STRING_get0_data(info->value.sequence),
                                      ASN1_STRING_length(info->value.sequence));
      for (int j = 0; types && j < sk_ASN1_TYPE_num(types.get()); ++j) {
        ASN1_TYPE* t = sk_ASN1_TYPE_value(types.get(), j);
        if (ASN1_TYPE_get(t) != V_ASN1_OBJECT) continue;
        std::string tt = objText(t->value.object);
        if (tt == kOidQctESign) out.qcTypes.push_back(QcType::ESign);
        if (tt == kOidQctESeal) out.qcTypes.push_back(QcType::ESeal);
        if (tt == kOidQctWeb) out.qcTypes.push_back(QcType::Web);
      }
    }
  }
  ERR_clear_error();
}

// EN 319 411-1 NCP / NCP+ and EN 319 411-2 QCP-n / QCP-l / QCP-n-qscd / QCP-l-qscd.
constexpr std::string_view kNcpPolicies[] = {"0.4.0.2042.1.1", "0.4.0.2042.1.2", "0.4.0.194112.1.0",
                                             "0.4.0.194112.1.1", "0.4.0.194112.1.2", "0.4.0.194112.1.3"};

void readPolicies(X509* leaf, CertificateCheck& out) {
  auto* policies = static_cast<CERTIFICATEPOLICIES*>(X509_get_ext_d2i(leaf, NID_certificate_policies, nullptr, nullptr));
  if (policies == nullptr) {
    ERR_clear_error();
    return;
  }
  for (int i = 0; i < sk_POLICYINFO_num(policies); ++i) {
    std::string oid = objText(sk_POLICYINFO_value(policies, i)->policyid);
    for (std::string_view ncp : kNcpPolicies) {
      if (oid == ncp) out.ncpPolicy = true;
    }
    out.policyOids.push_back(std::move(oid));
  }
  CERTIFICATEPOLICIES_free(policies);
}

void readEmails(X509* leaf, CertificateCheck& out) {
  auto lowerPush = [&](const unsigned char* data, int len) {
    if (data == nullptr || len <= 0 || len > 320) return;
    std::string s(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len));
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s.find('\0') == std::string::npos) out.emailAddresses.push_back(std::move(s));
  };
  if (auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
      if (n->type == GEN_EMAIL) lowerPush(ASN1_STRING_get0_data(n->d.rfc822Name), ASN1_STRING_length(n->d.rfc822Name));
    }
    GENERAL_NAMES_free(names);
  }
  if (!out.emailAddresses.empty()) return;
  const X509_NAME* subject = X509_get_subject_name(leaf);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_pkcs9_emailAddress, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_pkcs9_emailAddress, i)) {
    const ASN1_STRING* v = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
    lowerPush(ASN1_STRING_get0_data(v), ASN1_STRING_length(v));
  }
}

std::string nameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : "";
}

CertificateStatus statusFor(int err) {
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return CertificateStatus::Expired;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return CertificateStatus::NotYetValid;
    case X509_V_ERR_CERT_REVOKED:
      return CertificateStatus::Revoked;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
      return CertificateStatus::RevocationUnknown;
    case X509_V_ERR_INVALID_PURPOSE:
      return CertificateStatus::WrongUsage;
    default:
      return CertificateStatus::Untrusted;
  }
}

int verifyCallback(int ok, X509_STORE_CTX* ctx) {
  if (ok == 0 && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_UNABLE_TO_GET_CRL) {
    const bool* requireCrl = static_cast<const bool*>(X509_STORE_CTX_get_app_data(ctx));
    if (requireCrl != nullptr && !*requireCrl) {
      // No CRL configured for this issuer and none required: revocation is simply not checked.
      X509_STORE_CTX_set_error(ctx, X509_V_OK);
      return 1;
    }
  }
  return ok;
}

}  // namespace

std::string_view certificateStatusName(CertificateStatus s) {
  switch (s) {
    case CertificateStatus::Valid: return "valid";
    case CertificateStatus::Malformed: return "malformed";
    case CertificateStatus::Untrusted: return "untrusted";
    case CertificateStatus::Expired: return "expired";
    case CertificateStatus::NotYetValid: return "not_yet_valid";
    case CertificateStatus::Revoked: return "revoked";
    case CertificateStatus::RevocationUnknown: return "revocation_unknown";
    case CertificateStatus::WrongUsage: return "wrong_usage";
  }
  return "unknown";
}

struct CertificateValidator::State {
  StorePtr store;
  std::vector<X509Ptr> qualifiedCas;
  bool checkCrl = false;
  bool requireCrl = false;
};

CertificateValidator::CertificateValidator(std::unique_ptr<State> s) : s_(std::move(s)) {}
CertificateValidator::~CertificateValidator() = default;
CertificateValidator::CertificateValidator(CertificateValidator&&) noexcept = default;
CertificateValidator& CertificateValidator::operator=(CertificateValidator&&) noexcept = default;

Result<CertificateValidator> CertificateValidator::create(const CertificateValidatorOptions& options) {
  auto st = std::make_unique<State>();
  st->store.reset(X509_STORE_new());
  if (!st->store) return Error::internal("X509_STORE_new: " + internal::openSslErrors());
  int anchors = 0;
  auto addAll = [&](const std::vector<std::string>& pems, std::string_view what,
                    std::vector<X509Ptr>* keep) -> Result<void> {
    for (const std::string& pem : pems) {
      auto certs = parseCertificates(pem);
      if (certs.empty()) return Error::invalidInput("cannot parse " + std::string(what) + " certificate");
      for (auto& c : certs) {
        if (X509_STORE_add_cert(st->store.get(), c.get()) != 1) {
          // Adding the same certificate twice (anchor and qualified CA) is harmless.
          ERR_clear_error();
        }
        ++anchors;
        if (keep != nullptr) keep->push_back(std::move(c));
      }
    }
    return ok();
  };
  ERDS_RETURN_IF_ERROR(addAll(options.trustAnchorsPem, "trust anchor", nullptr));
  ERDS_RETURN_IF_ERROR(addAll(options.qualifiedCasPem, "qualified CA", &st->qualifiedCas));
  if (anchors == 0) return Error::invalidInput("no trust anchor configured for client certificates");
  for (const std::string& pem : options.crlsPem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    X509CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    if (!crl) return Error::invalidInput("cannot parse CRL: " + internal::openSslErrors());
    if (X509_STORE_add_crl(st->store.get(), crl.get()) != 1) return Error::invalidInput("cannot add CRL");
  }
  st->checkCrl = !options.crlsPem.empty() || options.requireCrl;
  st->requireCrl = options.requireCrl;
  return CertificateValidator(std::move(st));
}

CertificateCheck CertificateValidator::validate(std::string_view leafText, const std::vector<std::string>& intermediates,
                                                TimePoint at, CertificateUsage usage) const {
  CertificateCheck out;
  auto leaves = parseCertificates(leafText);
  if (leaves.size() != 1) {
    out.status = CertificateStatus::Malformed;
    out.detail = "expected exactly one certificate";
    return out;
  }
  X509* leaf = leaves.front().get();
  out.subject = nameText(X509_get_subject_name(leaf));
  out.issuer = nameText(X509_get_issuer_name(leaf));
  if (const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf)) {
    out.serialHex = internal::hex(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(serial)),
                                                   static_cast<std::size_t>(ASN1_STRING_length(serial))));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdLen = 0;
  if (X509_digest(leaf, EVP_sha256(), md, &mdLen) == 1) {
    out.sha256Fingerprint = internal::hex(std::string_view(reinterpret_cast<char*>(md), mdLen));
  }
  if (const ASN1_TIME* na = X509_get0_notAfter(leaf)) {
    struct tm tm {};
    if (ASN1_TIME_to_tm(na, &tm) == 1) out.notAfter = TimePoint(std::chrono::seconds(timegm(&tm)));
  }
  readQcStatements(leaf, out);
  readPolicies(leaf, out);
  readEmails(leaf, out);

  CertStackPtr untrusted(sk_X509_new_null());
  for (const std::string& text : intermediates) {
    for (auto& c : parseCertificates(text)) {
      if (sk_X509_push(untrusted.get(), c.get()) > 0) c.release();
    }
  }
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), s_->store.get(), leaf, untrusted.get()) != 1) {
    out.status = CertificateStatus::Untrusted;
    out.detail = "cannot set up verification: " + internal::openSslErrors();
    return out;
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  unsigned long flags = X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT;
  if (s_->checkCrl) flags |= X509_V_FLAG_CRL_CHECK;
  X509_VERIFY_PARAM_set_flags(param, flags);
  X509_VERIFY_PARAM_set_time(param, std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch()).count());
  if (usage == CertificateUsage::TlsClient) X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  X509_STORE_CTX_set_app_data(ctx.get(), const_cast<bool*>(&s_->requireCrl));
  X509_STORE_CTX_set_verify_cb(ctx.get(), verifyCallback);

  const int rc = X509_verify_cert(ctx.get());
  if (rc != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    out.status = statusFor(err);
    out.detail = X509_verify_cert_error_string(err);
    ERR_clear_error();
    return out;
  }
  if (usage == CertificateUsage::SignedChallenge) {
    const uint32_t ku = X509_get_key_usage(leaf);  // UINT32_MAX when the extension is absent
    if ((ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) == 0) {
      out.status = CertificateStatus::WrongUsage;
      out.detail = "key usage allows neither digitalSignature nor nonRepudiation";
      return out;
    }
  }
  out.status = CertificateStatus::Valid;
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 1; chain != nullptr && i < sk_X509_num(chain); ++i) {
    for (const auto& q : s_->qualifiedCas) {
      if (X509_cmp(sk_X509_value(chain, i), q.get()) == 0) out.issuedByQualifiedCa = true;
    }
  }
  out.qualified = out.qcCompliance && out.issuedByQualifiedCa;
  return out;
}

Result<void> CertificateValidator::verifyChallengeSignature(std::string_view leafText, std::string_view challenge,
                                                           std::string_view signature) {
  auto certs = parseCertificates(leafText);
  if (certs.size() != 1) return Error::invalidInput("expected exactly one certificate");
  EVP_PKEY* key = X509_get0_pubkey(certs.front().get());
  if (key == nullptr) return Error::invalidInput("certificate has no usable public key");
  std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) {
    ERR_clear_error();
    return Error::internal("cannot set up signature verification");
  }
  const int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                  reinterpret_cast<const unsigned char*>(challenge.data()), challenge.size());
  ERR_clear_error();
  if (rc != 1) return Error::integrityFailure("challenge signature does not verify");
  return ok();
}

std::string newCertificateChallenge() { return internal::base64UrlEncode(internal::randomBytes(32)); }

std::optional<Identification> identificationFromCertificate(const CertificateCheck& check, const std::string& partyId,
                                                            TimePoint now) {
  if (!check.valid()) return std::nullopt;
  Identification id;
  id.id = "idn_cert_" + check.sha256Fingerprint.substr(0, 32);
  id.partyId = partyId;
  id.at = now;
  if (check.qualified) {
    id.method = IdentificationMethod::QualifiedCertificate;
    id.level = LevelOfAssurance::High;
  } else if (check.ncpPolicy) {
    id.method = IdentificationMethod::NcpCertificate;
    id.level = LevelOfAssurance::Substantial;
  } else {
    return std::nullopt;
  }
  return id;
}

}  // namespace erds::identity
