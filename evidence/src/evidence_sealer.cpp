// XAdES-B-T seal for evidence, built as canonical strings. The document form of each element is
// its exclusive-C14N form minus the namespace declarations it inherits, so the bytes we digest
// and sign are exactly what libxml2/xmlsec compute from the final document (checked by tests).
#include "erds/evidence/evidence_sealer.h"

#include <chrono>

#include "xades_util.h"
#include "xml_text.h"

namespace erds::evidence {

namespace {

std::string sha256(std::string_view data) { return internal::sha256Digest(data); }

constexpr std::string_view kDsNsDecl = " xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"";
constexpr std::string_view kXadesNsDecl = " xmlns:xades=\"http://uri.etsi.org/01903/v1.3.2#\"";
constexpr std::string_view kSha256Uri = "http://www.w3.org/2001/04/xmlenc#sha256";

}  // namespace

struct EvidenceSealer::KeyMaterial {
  KeyAlgorithm algorithm = KeyAlgorithm::EcdsaP256;
  std::string signatureMethodUri;
  std::string certDigestB64;      // SHA-256 of the certificate
  std::string issuerSerialV2B64;  // IssuerSerialV2 DER, base64
  std::string keyInfoXml;         // <ds:KeyInfo>...</ds:KeyInfo>
};

EvidenceSealer::EvidenceSealer(std::shared_ptr<Signer> signer, std::shared_ptr<TimestampAuthority> tsa,
                               const Clock& clock)
    : signer_(std::move(signer)), tsa_(std::move(tsa)), clock_(clock) {}

EvidenceSealer::~EvidenceSealer() = default;

Result<std::unique_ptr<EvidenceSealer>> EvidenceSealer::create(std::shared_ptr<Signer> signer,
                                                               std::shared_ptr<TimestampAuthority> tsa,
                                                               const Clock& clock) {
  if (!signer || !tsa) return Error::invalidInput("EvidenceSealer needs a signer and a time-stamp authority");
  return std::unique_ptr<EvidenceSealer>(new EvidenceSealer(std::move(signer), std::move(tsa), clock));
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
  for (const auto& c : *chain) {
    if (internal::isSelfIssued(c) || c == info->certificateDer) continue;
    km->keyInfoXml += "<ds:X509Certificate>" + internal::base64Encode(c) + "</ds:X509Certificate>";
  }
  km->keyInfoXml += "</ds:X509Data></ds:KeyInfo>";
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
              out.timestamp.der.size() * 4 / 3 + 1024);
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
         "</xades:EncapsulatedTimeStamp></xades:SignatureTimeStamp></xades:UnsignedSignatureProperties>"
         "</xades:UnsignedProperties></xades:QualifyingProperties></ds:Object></ds:Signature>";

  out.document.reserve(xml.document.size() + sig.size());
  out.document.append(xml.document, 0, xml.signatureOffset);
  out.document += sig;
  out.document.append(xml.document, xml.signatureOffset, std::string::npos);
  return out;
}

}  // namespace erds::evidence
