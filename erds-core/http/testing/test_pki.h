// Test-only PKI: a throwaway root CA and a TLS server certificate for localhost/127.0.0.1/::1,
// made with the OpenSSL API (P-256). Linked by test binaries only (erds::http_testing).
#pragma once

#include <string>

#include "erds/base/result.h"

namespace erds::testing {

struct TestPkiFiles {
  std::string rootCa;   // <dir>/root-ca.pem
  std::string tlsCert;  // <dir>/tls.pem: server certificate followed by the root
  std::string tlsKey;   // <dir>/tls.key: PKCS#8 PEM, mode 0600
};

// Writes the files into the existing directory `dir`. `subjectMarker` is added to every subject's
// O (e.g. "DEVELOPMENT"). Internal on an OpenSSL or file error.
Result<TestPkiFiles> writeTestPki(const std::string& dir,
                                  const std::string& subjectMarker = "TEST");

}  // namespace erds::testing
