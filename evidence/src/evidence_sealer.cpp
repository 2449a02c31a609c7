// XAdES-B-T seal for evidence, built as canonical strings. The document form of each element is
// its exclusive-C14N form minus the namespace declarations it inherits, so the bytes we digest
// and sign are exactly what libxml2/xmlsec compute from the final document (checked by tests).
#include "erds/evidence/evidence_sealer.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <algorithm>
#include <ctime>
#include <optional>
#include <type_traits>

#include "xades_util.h"
#include "xml_text.h"

namespace erds::evidence {

namespace {

std::string sha256(std::string_view data) { return internal::sha256Digest(data); }

constexpr std::string_view kDsNsDecl = " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"";
constexpr std::string_view kXadesNsDecl = " xmlns:xades=\"http://uri.etsi.org/01903/v1.3.2#\"";
constexpr std::string_view kSha256Uri = "http://www.w3.org/2001/04/xmlenc#sha256";

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using CrlPtr = std::unique_ptr<X509_CRL, CrlFree>;

X509Ptr parseDerCert(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return X509Ptr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

template <typename T, typename Read>
std::vector<std::unique_ptr<T, std::conditional_t<std::is_same_v<T, X509>, X509Free, CrlFree>>> readPem(
    std::string_view pem, Read read) {
  std::vector<std::unique_ptr<T, std::conditional_t<std::is_same_v<T, X509>, X509Free, CrlFree>>> out;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  while (bio) {
    T* x = read(bio.get(), nullptr, nullptr, nullptr);
    if (x == nullptr) break;
    out.emplace_back(x);
  }
  ERR_clear_error();
  return out;
}

std::string derOf(X509* x) {
  const int n = i2d_X509(x, nullptr);
  if (n <= 0) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d_X509(x, &p);
  return out;
}

std::string derOf(X509_CRL* c) {
  const int n = i2d_X509_CRL(c, nullptr);
  if (n <= 0) return {};
  std::string out(static_cast<std::size_t>(n), '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  i2d_X509_CRL(c, &p);
  return out;
}

std::optional<TimePoint> timeOf(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return std::chrono::time_point_cast<TimePoint::duration>(std::chrono::system_clock::from_time_t(timegm(&tm)));
}

std::string subjectOf(X509* x) {
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof buf);
  return buf;
}

}  // namespace

// The revocation material embedded in every evidence sealed with one key.
struct RevocationMaterial {
  std::string xml;  // xades:CertificateValues (when needed) + xades:RevocationValues
  std::string der;  // the CRLs, DER, concatenated
  TimePoint validFrom{};   // latest thisUpdate
  TimePoint validUntil{};  // earliest nextUpdate
};

namespace {

// Builds the seal chain (signer chain + configured CA certificates) and checks that each of its
// certificates is covered by a current, correctly signed CRL of its issuer that does not list it.
Result<RevocationMaterial> prepareRevocation(const SigningKeyInfo& info, const std::vector<std::string>& keyInfoDers,
                                             const SealerOptions& options, TimePoint now) {
  std::vector<X509Ptr> pool;
  auto chain = internal::splitDerCertificates(info.chainDer);
  if (!chain) return std::move(chain).error();
  for (const auto& c : *chain)
    if (auto x = parseDerCert(c)) pool.push_back(std::move(x));
  for (auto& x : readPem<X509>(options.caCertificatesPem, PEM_read_bio_X509)) pool.push_back(std::move(x));
  std::vector<CrlPtr> crls;
  for (const auto& pem : options.crlsPem)
    for (auto& c : readPem<X509_CRL>(pem, PEM_read_bio_X509_CRL)) crls.push_back(std::move(c));
  if (crls.empty()) return Error::invalidInput("seal revocation data: no CRL parsed");

  X509Ptr leaf = parseDerCert(info.certificateDer);
  if (!leaf) return Error::invalidInput("seal certificate is not valid DER");
  std::vector<X509*> path{leaf.get()};
  for (int depth = 0; depth < 8; ++depth) {
    X509* cur = path.back();
    if (X509_check_issued(cur, cur) == X509_V_OK) break;
    X509* issuer = nullptr;
    for (auto& candidate : pool)
      if (X509_check_issued(candidate.get(), cur) == X509_V_OK) issuer = candidate.get();
    ERR_clear_error();
    if (issuer == nullptr)
      return Error::invalidInput("seal revocation data: no issuer certificate for \"" + subjectOf(cur) +
                                 "\" (configure the CA certificates, e.g. root-ca.pem)");
    path.push_back(issuer);
  }
  if (X509_check_issued(path.back(), path.back()) != X509_V_OK)
    return Error::invalidInput("seal revocation data: the seal chain does not end in a self-signed anchor");

  RevocationMaterial m;
  bool first = true;
  std::vector<X509_CRL*> used;
  for (std::size_t i = 0; i < path.size(); ++i) {
    X509* cert = path[i];
    X509* issuer = i + 1 < path.size() ? path[i + 1] : cert;
    EVP_PKEY* issuerKey = X509_get0_pubkey(issuer);
    X509_CRL* covering = nullptr;
    for (auto& crl : crls) {
      if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(issuer)) != 0) continue;
      if (issuerKey == nullptr || X509_CRL_verify(crl.get(), issuerKey) != 1) continue;
      const auto thisUpdate = timeOf(X509_CRL_get0_lastUpdate(crl.get()));
      const auto nextUpdate = timeOf(X509_CRL_get0_nextUpdate(crl.get()));
      if (!thisUpdate || !nextUpdate || *thisUpdate > now || *nextUpdate <= now) continue;
      X509_REVOKED* revoked = nullptr;
      if (X509_CRL_get0_by_cert(crl.get(), &revoked, cert) == 1) {
        ERR_clear_error();
        return Error::integrityFailure("seal revocation data: \"" + subjectOf(cert) + "\" is revoked");
      }
      covering = crl.get();
      if (first || *thisUpdate > m.validFrom) m.validFrom = *thisUpdate;
      if (first || *nextUpdate < m.validUntil) m.validUntil = *nextUpdate;
      first = false;
      break;
    }
    ERR_clear_error();
    if (covering == nullptr)
      return Error::integrityFailure("seal revocation data: no current CRL signed by \"" + subjectOf(issuer) +
                                     "\" covers \"" + subjectOf(cert) + "\"");
    if (std::find(used.begin(), used.end(), covering) == used.end()) used.push_back(covering);
  }
  std::string certValues;
  for (X509* c : path) {
    const std::string der = derOf(c);
    if (std::find(keyInfoDers.begin(), keyInfoDers.end(), der) != keyInfoDers.end()) continue;
    certValues += "<xades:EncapsulatedX509Certificate>" + internal::base64Encode(der) +
                  "</xades:EncapsulatedX509Certificate>";
  }
  if (!certValues.empty()) m.xml = "<xades:CertificateValues>" + certValues + "</xades:CertificateValues>";
  m.xml += "<xades:RevocationValues><xades:CRLValues>";
  for (X509_CRL* crl : used) {
    const std::string der = derOf(crl);
    m.der += der;
    m.xml += "<xades:EncapsulatedCRLValue>" + internal::base64Encode(der) + "</xades:EncapsulatedCRLValue>";
  }
  m.xml += "</xades:CRLValues></xades:RevocationValues>";
  return m;
}

}  // namespace

struct EvidenceSealer::KeyMaterial {
  KeyAlgorithm algorithm = KeyAlgorithm::EcdsaP256;
  std::string signatureMethodUri;
  std::string certDigestB64;      // SHA-256 of the certificate
  std::string issuerSerialV2B64;  // IssuerSerialV2 DER, base64
  std::string keyInfoXml;         // <ds:KeyInfo>...</ds:KeyInfo>
  std::optional<RevocationMaterial> revocation;  // when the sealer has revocation data
};

EvidenceSealer::EvidenceSealer(std::shared_ptr<Signer> signer, std::shared_ptr<TimestampAuthority> tsa,
                               const Clock& clock, SealerOptions options)
    : signer_(std::move(signer)), tsa_(std::move(tsa)), clock_(clock), options_(std::move(options)) {}

EvidenceSealer::~EvidenceSealer() = default;

Result<std::unique_ptr<EvidenceSealer>> EvidenceSealer::create(std::shared_ptr<Signer> signer,
                                                               std::shared_ptr<TimestampAuthority> tsa,
                                                               const Clock& clock, SealerOptions options) {
  if (!signer || !tsa) return Error::invalidInput("EvidenceSealer needs a signer and a time-stamp authority");
  for (const auto& pem : options.crlsPem)
    if (readPem<X509_CRL>(pem, PEM_read_bio_X509_CRL).empty())
      return Error::invalidInput("EvidenceSealer: a configured CRL is not PEM (X509 CRL)");
  if (!options.caCertificatesPem.empty() && readPem<X509>(options.caCertificatesPem, PEM_read_bio_X509).empty())
    return Error::invalidInput("EvidenceSealer: the configured CA certificates are not PEM");
  return std::unique_ptr<EvidenceSealer>(
      new EvidenceSealer(std::move(signer), std::move(tsa), clock, std::move(options)));
}

Result<std::shared_ptr<const EvidenceSealer::KeyMaterial>> EvidenceSealer::keyMaterial(std::string_view keyLabel) {
  {
    std::lock_guard lock(mu_);
    auto it = keys_.find(keyLabel);
    if (it != keys_.end()) return it->second;
  }
  auto info = signer_->keyInfo(keyLabel);
  if (!info) return std::move(info).error();
  auto km = std::make_shared<KeyMaterial>();
  km->algorithm = info->algorithm;
  switch (info->algorithm) {
    case KeyAlgorithm::EcdsaP256:
      if (info->bits != 256) return Error::invalidInput("only P-256 EC seal keys are supported");
      km->signatureMethodUri = std::string(kEcdsaSha256Uri);
      break;
    case KeyAlgorithm::Rsa:
      if (info->bits < 2048) return Error::invalidInput("RSA seal keys must have at least 2048 bits");
      km->signatureMethodUri = std::string(kRsaSha256Uri);
      break;
  }
  auto issuerSerial = internal::issuerSerialV2Der(info->certificateDer);
  if (!issuerSerial) return std::move(issuerSerial).error();
  km->certDigestB64 = internal::base64Encode(sha256(info->certificateDer));
  km->issuerSerialV2B64 = internal::base64Encode(*issuerSerial);
  auto chain = internal::splitDerCertificates(info->chainDer);
  if (!chain) return std::move(chain).error();
  km->keyInfoXml = "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>" +
                   internal::base64Encode(info->certificateDer) + "</ds:X509Certificate>";
  // Intermediates help verifiers build the path; a root is useless here (it must be trusted).
  std::vector<std::string> keyInfoDers{info->certificateDer};
  for (const auto& c : *chain) {
    if (internal::isSelfIssued(c) || c == info->certificateDer) continue;
    km->keyInfoXml += "<ds:X509Certificate>" + internal::base64Encode(c) + "</ds:X509Certificate>";
    keyInfoDers.push_back(c);
  }
  km->keyInfoXml += "</ds:X509Data></ds:KeyInfo>";
  if (!options_.crlsPem.empty()) {
    auto rev = prepareRevocation(*info, keyInfoDers, options_, clock_.now());
    if (!rev) return std::move(rev).error();
    km->revocation = std::move(*rev);
  }
  std::lock_guard lock(mu_);
  auto [it, inserted] = keys_.emplace(std::string(keyLabel), std::move(km));
  return it->second;
}

Result<SealedEvidence> EvidenceSealer::seal(const EvidenceXml& xml, std::string_view keyLabel) {
  if (xml.signatureOffset == 0 || xml.signatureOffset > xml.document.size() ||
      xml.document.compare(xml.signatureOffset, 15, "</tns:Evidence>") != 0 || xml.canonical.empty())
    return Error::invalidInput("EvidenceXml is not from writeEvidenceXml (bad signatureOffset)");
  auto km = keyMaterial(keyLabel);
  if (!km) return std::move(km).error();
  const KeyMaterial& k = **km;

  SealedEvidence out;
  const std::string suffix = internal::randomIdSuffix();
  out.signatureId = "sig-" + suffix;
  const std::string refId = "ref-" + suffix + "-1";
  const std::string spId = "xades-" + suffix;
  const std::string valueId = "value-" + suffix;
  out.signingTime = std::chrono::time_point_cast<std::chrono::seconds>(clock_.now());
  if (k.revocation) {
    // Revocation data is part of what the seal relies on: stale data means no seal (as no token).
    if (out.signingTime < k.revocation->validFrom - std::chrono::seconds(1) ||
        out.signingTime >= k.revocation->validUntil)
      return Error::unavailable("seal revocation data is not current at " + internal::formatDateTime(out.signingTime) +
                                " (CRL valid until " + internal::formatDateTime(k.revocation->validUntil) +
                                "): refresh the CRL files");
    out.revocationDataDer = k.revocation->der;
  }

  // SignedProperties: the document form omits xmlns:xades/xmlns:ds (inherited); the canonical
  // form declares xades on the apex and ds on each ds: element (not visibly used by an ancestor).
  auto signedProperties = [&](bool canonical) {
    std::string s;
    s.reserve(1024);
    s += "<xades:SignedProperties";
    if (canonical) s += kXadesNsDecl;
    s += " Id=\"" + spId + "\"><xades:SignedSignatureProperties><xades:SigningTime>";
    s += internal::formatDateTime(out.signingTime);
    s += "</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest><ds:DigestMethod";
    if (canonical) s += kDsNsDecl;
    s += " Algorithm=\"";
    s += kSha256Uri;
    s += "\"></ds:DigestMethod><ds:DigestValue";
    if (canonical) s += kDsNsDecl;
    s += ">" + k.certDigestB64 + "</ds:DigestValue></xades:CertDigest><xades:IssuerSerialV2>" +
         k.issuerSerialV2B64 +
         "</xades:IssuerSerialV2></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties>"
         "<xades:SignedDataObjectProperties><xades:DataObjectFormat ObjectReference=\"#" +
         refId +
         "\"><xades:MimeType>text/xml</xades:MimeType></xades:DataObjectFormat>"
         "</xades:SignedDataObjectProperties></xades:SignedProperties>";
    return s;
  };
  out.canonicalSignedProperties = signedProperties(true);
  const std::string signedPropertiesDoc = signedProperties(false);

  // SignedInfo: only its apex differs (xmlns:ds is inherited from ds:Signature in the document).
  std::string signedInfoBody;
  signedInfoBody.reserve(1200);
  signedInfoBody += "><ds:CanonicalizationMethod Algorithm=\"";
  signedInfoBody += kExcC14nUri;
  signedInfoBody += "\"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm=\"" + k.signatureMethodUri +
                    "\"></ds:SignatureMethod><ds:Reference Id=\"" + refId +
                    "\" URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"";
  signedInfoBody += kEnvelopedSignatureUri;
  signedInfoBody += "\"></ds:Transform><ds:Transform Algorithm=\"";
  signedInfoBody += kExcC14nUri;
  signedInfoBody += "\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"";
  signedInfoBody += kSha256Uri;
  signedInfoBody += "\"></ds:DigestMethod><ds:DigestValue>" + internal::base64Encode(sha256(xml.canonical)) +
                    "</ds:DigestValue></ds:Reference><ds:Reference Type=\"";
  signedInfoBody += kXadesSignedPropertiesType;
  signedInfoBody += "\" URI=\"#" + spId + "\"><ds:Transforms><ds:Transform Algorithm=\"";
  signedInfoBody += kExcC14nUri;
  signedInfoBody += "\"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm=\"";
  signedInfoBody += kSha256Uri;
  signedInfoBody += "\"></ds:DigestMethod><ds:DigestValue>" +
                    internal::base64Encode(sha256(out.canonicalSignedProperties)) +
                    "</ds:DigestValue></ds:Reference></ds:SignedInfo>";
  out.canonicalSignedInfo = "<ds:SignedInfo";
  out.canonicalSignedInfo += kDsNsDecl;
  out.canonicalSignedInfo += signedInfoBody;

  auto rawSig = signer_->signDigest(keyLabel, sha256(out.canonicalSignedInfo));
  if (!rawSig) return std::move(rawSig).error();
  std::string signatureValue;
  if (k.algorithm == KeyAlgorithm::EcdsaP256) {
    auto raw = internal::ecdsaDerToRaw(*rawSig, 32);
    if (!raw) return std::move(raw).error();
    signatureValue = std::move(*raw);
  } else {
    signatureValue = std::move(*rawSig);
  }
  const std::string signatureValueB64 = internal::base64Encode(signatureValue);
  out.canonicalSignatureValue = "<ds:SignatureValue";
  out.canonicalSignatureValue += kDsNsDecl;
  out.canonicalSignatureValue += " Id=\"" + valueId + "\">" + signatureValueB64 + "</ds:SignatureValue>";

  auto token = tsa_->timestamp(sha256(out.canonicalSignatureValue));
  if (!token) {
    return Error::unavailable("no time-stamp token for the evidence seal: " + token.error().message);
  }
  out.timestamp = std::move(*token);

  std::string sig;
  sig.reserve(out.canonicalSignedInfo.size() + signedPropertiesDoc.size() + k.keyInfoXml.size() +
              out.timestamp.der.size() * 4 / 3 + (k.revocation ? k.revocation->xml.size() : 0) + 1024);
  sig += "<ds:Signature";
  sig += kDsNsDecl;
  sig += " Id=\"" + out.signatureId + "\"><ds:SignedInfo" + signedInfoBody;
  sig += "<ds:SignatureValue Id=\"" + valueId + "\">" + signatureValueB64 + "</ds:SignatureValue>";
  sig += k.keyInfoXml;
  sig += "<ds:Object><xades:QualifyingProperties";
  sig += kXadesNsDecl;
  sig += " Target=\"#" + out.signatureId + "\">" + signedPropertiesDoc +
         "<xades:UnsignedProperties><xades:UnsignedSignatureProperties><xades:SignatureTimeStamp Id=\"ts-" +
         suffix + "\"><ds:CanonicalizationMethod Algorithm=\"";
  sig += kExcC14nUri;
  sig += "\"></ds:CanonicalizationMethod><xades:EncapsulatedTimeStamp>" + internal::base64Encode(out.timestamp.der) +
         "</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp>";
  if (k.revocation) sig += k.revocation->xml;
  sig += "</xades:UnsignedSignatureProperties></xades:UnsignedProperties></xades:QualifyingProperties></ds:Object>"
         "</ds:Signature>";

  out.document.reserve(xml.document.size() + sig.size());
  out.document.append(xml.document, 0, xml.signatureOffset);
  out.document += sig;
  out.document.append(xml.document, xml.signatureOffset, std::string::npos);
  return out;
}

}  // namespace erds::evidence
