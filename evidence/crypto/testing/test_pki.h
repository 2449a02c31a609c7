// Test-only PKI: a throwaway root CA and leaf certificates (TSU, seal, TLS) generated with the
// OpenSSL API, so evidence/crypto tests do not depend on `erdsctl pki init`. Never linked into
// a release binary. Functions abort (ERDS_CHECK) on OpenSSL failures: they are test fixtures.
#pragma once

#include <ctime>
#include <string>

namespace erds::evidence::testing {

enum class TestKeyType { P256, Rsa2048 };

struct TestCert {
  std::string certPem;
  std::string certDer;
  std::string keyPem;  // unencrypted PKCS#8
};

struct TestCertOptions {
  std::string commonName = "erds test leaf";
  TestKeyType keyType = TestKeyType::P256;
  bool timeStamping = false;    // EKU critical timeStamping only (RFC 3161 TSU)
  bool qtstStatement = false;   // qcStatements with esi4-qtstStatement-1 (0.4.0.19422.1.1)
  bool intermediateCa = false;  // basicConstraints CA:TRUE, keyCertSign
  bool ocspSigning = false;     // EKU id-kp-OCSPSigning (a delegated OCSP responder)
  std::string ocspUrl;          // AIA id-ad-ocsp URI when set
  std::string crlUrl;           // cRLDistributionPoints URI when set
  std::time_t notBefore = 0;    // 0 = now - 1 day
  std::time_t notAfter = 0;     // 0 = now + 365 days
};

class TestPki {
 public:
  // A new self-signed P-256 root CA "CN=<rootName>, O=DEVELOPMENT".
  explicit TestPki(std::string rootName = "erds DEVELOPMENT test root", std::time_t notBefore = 0,
                   std::time_t notAfter = 0);

  const TestCert& root() const { return root_; }
  // A fresh key pair and a certificate signed by the root.
  TestCert issue(const TestCertOptions& options) const;
  // Signed by `issuer` instead of the root (for chains with an intermediate).
  static TestCert issueBy(const TestCert& issuer, const TestCertOptions& options);

 private:
  TestCert root_;
};

// A new private directory under $TMPDIR (mode 0700). The caller removes it.
std::string makeTempDir(const std::string& prefix = "erds-evcrypto");
// Writes <dir>/<label>.pem (certificate, then `chainPem`) and <dir>/<label>.key (mode 0600).
void writeKeyFiles(const std::string& dir, const std::string& label, const TestCert& cert,
                   const std::string& chainPem = "");
void writeFile(const std::string& path, const std::string& data, unsigned mode = 0644);
// A DER OCSP response about `subject`, signed by `issuer` itself (no certificates included):
// status good or revoked (revoked at thisUpdate), thisUpdate now + fromSeconds, nextUpdate now +
// untilSeconds.
std::string issueOcspResponse(const TestCert& issuer, const TestCert& subject, bool revoked = false,
                              long fromSeconds = -60, long untilSeconds = 86400);

}  // namespace erds::evidence::testing
