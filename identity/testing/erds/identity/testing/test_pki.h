// Test-only PKI built with the OpenSSL API: CAs, leaf certificates with or without the ETSI
// qcStatements, and CRLs, for the client-certificate tests (identity/testing; never in daemons).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "erds/base/clock.h"

namespace erds::identity::testing {

struct CertSpec {
  std::string commonName = "DEVELOPMENT test";
  bool isCa = false;
  bool qcCompliance = false;              // add id-etsi-qcs-QcCompliance
  std::vector<std::string> qcTypeOids;    // add id-etsi-qcs-QcType with these OIDs
  std::vector<std::string> policyOids;    // certificatePolicies
  bool clientAuthEku = true;              // leaf: extendedKeyUsage clientAuth
  bool serverAuthOnlyEku = false;         // leaf: extendedKeyUsage serverAuth only (wrong usage)
  std::vector<std::string> emails;        // leaf: subjectAltName rfc822Name entries
  TimePoint notBefore{};
  TimePoint notAfter{};
  long serial = 1;
};

// A P-256 key and its certificate.
class TestCertificate {
 public:
  // Issues a certificate for `spec`, signed by `issuer` (self-signed when null). Aborts on
  // OpenSSL failure (test set-up bug).
  static TestCertificate issue(const CertSpec& spec, const TestCertificate* issuer);

  std::string pem() const;
  std::string der() const;
  // The private key as unencrypted PKCS#8 PEM (for a TLS client in tests).
  std::string keyPem() const;
  long serial() const { return serial_; }
  // ECDSA/SHA-256 signature (DER) of `data` with this certificate's key.
  std::string sign(const std::string& data) const;
  // A CRL by this CA listing `revokedSerials`, valid from thisUpdate to nextUpdate.
  std::string crlPem(const std::vector<long>& revokedSerials, TimePoint thisUpdate, TimePoint nextUpdate) const;

 private:
  std::shared_ptr<void> key_;   // EVP_PKEY
  std::shared_ptr<void> cert_;  // X509
  long serial_ = 0;
};

}  // namespace erds::identity::testing
