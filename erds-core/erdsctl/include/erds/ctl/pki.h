// Development PKI for erds: a root CA and the three leaf certificates the service needs (evidence
// sealing, time-stamping unit, TLS server), generated with the OpenSSL 3 library. DEVELOPMENT only:
// every subject says so, and `service.mode = qualified` refuses these certificates.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"

namespace erds::ctl {

enum class KeyAlgorithm { P256, Rsa3072 };

// "p256" / "rsa3072" -> KeyAlgorithm; InvalidInput otherwise.
Result<KeyAlgorithm> parseKeyAlgorithm(std::string_view name);
// "ECDSA P-256" / "RSA 3072".
std::string_view keyAlgorithmLabel(KeyAlgorithm algorithm);

struct PkiOptions {
  std::string dir;                              // created with mode 0700 if missing
  KeyAlgorithm algorithm = KeyAlgorithm::P256;  // used for every key
  bool force = false;                           // overwrite existing files
  // When set (http:// or https://, no spaces or commas), the end-entity certificates (seal, tsu,
  // tls) carry cRLDistributionPoints with this URL, and root-ca.crl (DER) is written beside
  // root-ca.crl.pem for serving there.
  std::string crlUrl;
  // When set (http:// or https://), the end-entity certificates carry an AIA id-ad-ocsp entry with
  // this URL; an OCSP responder certificate ocsp.pem/.key (issued by the root, EKU OCSPSigning,
  // id-pkix-ocsp-nocheck) and index.txt (+ index.txt.attr) in `openssl ca` format listing seal,
  // tsu and tls as valid are written, for `openssl ocsp -index DIR/index.txt -CA DIR/root-ca.pem
  // -rsigner DIR/ocsp.pem -rkey DIR/ocsp.key -port N`.
  std::string ocspUrl;
};

// One certificate written by initDevelopmentPki.
struct IssuedCertificate {
  std::string certPath;   // DIR/<name>.pem (mode 0644)
  std::string keyPath;    // DIR/<name>.key (PKCS#8 PEM, mode 0600)
  std::string subject;    // RFC 2253 one-line form
  std::string algorithm;  // keyAlgorithmLabel()
  std::string notBefore;  // "YYYY-MM-DDTHH:MM:SSZ"
  std::string notAfter;
};

struct PkiReport {
  std::vector<IssuedCertificate> certificates;  // root-ca, seal, tsu, tls, in that order
};

// The file names initDevelopmentPki writes inside DIR, in order.
const std::vector<std::string>& developmentPkiFileNames();

// Writes into options.dir:
//   root-ca.pem/.key  self-signed, CA:TRUE (critical, pathlen 0), keyUsage critical
//                     keyCertSign+cRLSign, 10 years
//   seal.pem/.key     evidence sealing: keyUsage critical digitalSignature+nonRepudiation,
//   CA:FALSE,
//                     3 years
//   tsu.pem/.key      time-stamping unit: extendedKeyUsage critical timeStamping only, keyUsage
//                     critical digitalSignature+nonRepudiation, CA:FALSE, 3 years
//   tls.pem/.key      TLS server: EKU serverAuth, SAN DNS:localhost IP:127.0.0.1 IP:::1; the .pem
//                     holds the leaf followed by the root; 825 days
//   root-ca.crl.pem   the root's CRL (empty, nextUpdate = root notAfter, crlNumber 1, AKI), 0644
// Every subject has O=erds DEVELOPMENT; serials are 128-bit random; SKI/AKI are set. Keys are
// written with mode 0600 from creation, certificates 0644, each atomically (temp file + rename).
// Errors: Conflict naming the first existing file when !force (nothing is written then);
// InvalidInput if dir exists and is not a directory; Internal for OpenSSL or I/O failures
// (OpenSSL's error queue drained into the message). Thread-compatible (no shared state).
Result<PkiReport> initDevelopmentPki(const PkiOptions& options);

// Signs an OCSP response (RFC 6960, status "good", thisUpdate now, nextUpdate now + `validDays`,
// no nonce) for each of DIR/seal.pem and DIR/tsu.pem with the development root key
// (DIR/root-ca.pem/.key: the issuer itself is an authorised responder) and returns them
// PEM-armoured ("-----BEGIN OCSP RESPONSE-----"), ready for signer.ocsp_files or
// `erdsctl evidence verify --ocsp`. Errors: NotFound (a file missing), InvalidInput (not
// certificates/keys, validDays < 1), Internal (OpenSSL).
Result<std::string> developmentOcspResponses(const std::string& dir, int validDays);

}  // namespace erds::ctl
