// EvidenceSealer: seals an unsigned EN 319 522-3 evidence as XAdES-B-T (EN 319 132-1): an enveloped
// XMLDSig ds:Signature (exclusive C14N, SHA-256, ECDSA P-256 or RSA per the Signer's key) with
// SigningTime, SigningCertificateV2, DataObjectFormat, and a SignatureTimeStamp over the
// canonicalised ds:SignatureValue. The canonical bytes are built as strings (no DOM).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/evidence/evidence_xml.h"
#include "erds/evidence/signer.h"
#include "erds/evidence/timestamp_authority.h"

namespace erds::evidence {

struct RevocationMaterial;  // defined in evidence_sealer.cpp

inline constexpr std::string_view kXadesNamespace = "http://uri.etsi.org/01903/v1.3.2#";
inline constexpr std::string_view kXadesSignedPropertiesType = "http://uri.etsi.org/01903#SignedProperties";
inline constexpr std::string_view kExcC14nUri = "http://www.w3.org/2001/10/xml-exc-c14n#";
inline constexpr std::string_view kEnvelopedSignatureUri = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
inline constexpr std::string_view kEcdsaSha256Uri = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
inline constexpr std::string_view kRsaSha256Uri = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

// One sealed evidence.
struct SealedEvidence {
  // The signed document: EvidenceXml::document with the ds:Signature inserted at
  // signatureOffset. Store and send these bytes unchanged (any reformatting breaks the seal).
  std::string document;
  std::string signatureId;  // ds:Signature/@Id
  TimePoint signingTime;    // xades:SigningTime (whole seconds)
  TimestampToken timestamp; // the SignatureTimeStamp token
  // The exclusive-C14N bytes the seal covers: ds:SignedInfo (signed), xades:SignedProperties
  // (digested by Reference 2) and ds:SignatureValue (time-stamped). For audit and tests.
  std::string canonicalSignedInfo;
  std::string canonicalSignedProperties;
  std::string canonicalSignatureValue;
  // The revocation data the seal relied on (EN 319 102-1 long-term preparation): the DER CRLs,
  // concatenated, that cover every certificate of the seal chain, as embedded in the document
  // (xades:RevocationValues/CRLValues). Empty when the sealer was given no revocation data.
  std::string revocationDataDer;
  // The DER OCSP responses embedded (xades:RevocationValues/OCSPValues), for the seal chain and
  // the certificate of the time-stamping unit that issued `timestamp`. Empty without OCSP data.
  std::vector<std::string> ocspResponsesDer;
};

struct SealerOptions {
  // CRLs (PEM; each string may hold several) for the seal certificate chain. When given, every
  // certificate of the chain (seal certificate, intermediates and the self-signed anchor) must be
  // covered by a CRL from its issuer whose signature verifies, that is current and that does not
  // list it; the CRLs and the chain certificates missing from ds:KeyInfo are embedded in each
  // evidence as unsigned properties after the SignatureTimeStamp (xades:CertificateValues,
  // xades:RevocationValues/CRLValues, EN 319 132-1 5.5), which XAdES-B-LT builds on. Empty: nothing
  // is embedded (development).
  std::vector<std::string> crlsPem;
  // CA certificates (PEM) completing the seal chain up to its trust anchor (e.g. root-ca.pem)
  // when the signer's chain lacks them; needed to check the CRL signatures.
  std::string caCertificatesPem;
  // OCSP responses (DER, or PEM-armoured "-----BEGIN OCSP RESPONSE-----"; one string may hold
  // several PEM blocks) for the seal certificate, the TSU certificate and intermediates. Each is
  // validated (signature by the issuer or by a delegated responder holding id-kp-OCSPSigning
  // issued by it, certID, status, thisUpdate <= now < nextUpdate) before it is used; a certificate
  // is covered by a current OCSP "good" response or by a current CRL. A trust anchor (self-signed)
  // is checked when data for it is given and is otherwise exempt (RFC 5280 6.1, EN 319 102-1).
  std::vector<std::string> ocspResponses;
  // Fetch OCSP responses from the AIA OCSP URL (http://) of the seal and TSU certificates (and
  // intermediates): once when a certificate is first used (then, if it fails, that certificate is
  // not covered and nothing is sealed), then by a background thread before nextUpdate (at half the
  // response's validity) and at least every ocspRefreshInterval. Never per evidence.
  bool fetchOcsp = false;
  std::chrono::seconds ocspRefreshInterval{3600};
  std::chrono::milliseconds fetchTimeout{5000};
  // Whether any revocation data is configured (then the seal chain and the TSU are checked).
  bool hasRevocationData() const { return !crlsPem.empty() || !ocspResponses.empty() || fetchOcsp; }
};

class EvidenceSealer {
 public:
  // `signer` holds the seal keys, `tsa` issues the SignatureTimeStamp, `clock` gives SigningTime;
  // `clock` must outlive the sealer. InvalidInput when a CRL, OCSP response or CA certificate in
  // `options` does not parse (revocation data is checked against the seal chain and the TSU
  // certificate at the first seal of each key and TSU, or by prepare()).
  static Result<std::unique_ptr<EvidenceSealer>> create(std::shared_ptr<Signer> signer,
                                                        std::shared_ptr<TimestampAuthority> tsa,
                                                        const Clock& clock, SealerOptions options = {});

  // Seals `xml` (from writeEvidenceXml) with the key `keyLabel` (its algorithm decides
  // ecdsa-sha256 or rsa-sha256; the key's certificate and its non-self-signed chain go to
  // KeyInfo). The key's certificate and derived values are cached per label after the first call.
  // Errors: InvalidInput (signatureOffset/canonical inconsistent, unsupported key),
  // NotFound (no such key), Unavailable (signer unreachable, or no time-stamp token could be had,
  // or the configured CRLs are not current at the signing time: then nothing is sealed),
  // IntegrityFailure (a configured CRL or OCSP response revokes a certificate of the seal chain, or
  // revocation data was configured but does not cover the chain), Internal. When revocation data
  // is configured, the certificate of the unit that issued the SignatureTimeStamp (and its chain)
  // must be covered too: revoked or not covered is Unavailable naming the certificate. Never does
  // network I/O itself except the first OCSP fetch for a certificate (fetchOcsp). Thread-safe.
  Result<SealedEvidence> seal(const EvidenceXml& xml, std::string_view keyLabel);

  // Startup check: loads `keyLabel`, obtains one time-stamp token (over a zero digest) to learn
  // the TSU certificate, and validates the revocation data for both chains (fetching OCSP
  // responses when configured). Errors as seal(). Without revocation data: only loads the key.
  Result<void> prepare(std::string_view keyLabel);

  ~EvidenceSealer();

  struct KeyMaterial;      // per-label cache; defined in evidence_sealer.cpp
  struct RevocationState;  // CRLs, OCSP responses, fetch targets, refresh thread

 private:
  EvidenceSealer(std::shared_ptr<Signer> signer, std::shared_ptr<TimestampAuthority> tsa, const Clock& clock,
                 SealerOptions options);
  Result<std::shared_ptr<const KeyMaterial>> keyMaterial(std::string_view keyLabel);
  // The validated revocation material for `keyLabel` and the TSU that issued `tokenDer` (cached).
  Result<std::shared_ptr<const RevocationMaterial>> revocationFor(std::string_view keyLabel,
                                                                         const KeyMaterial& k,
                                                                         const std::string& tokenDer);

  std::shared_ptr<Signer> signer_;
  std::shared_ptr<TimestampAuthority> tsa_;
  const Clock& clock_;
  SealerOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const KeyMaterial>, std::less<>> keys_;
  std::unique_ptr<RevocationState> rev_;  // null without revocation data
};

}  // namespace erds::evidence
