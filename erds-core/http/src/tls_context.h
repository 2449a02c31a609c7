// Builds the server's TLS context: TLS 1.2 and 1.3 only, ECDHE-AEAD ciphers for 1.2, the
// certificate chain from a PEM file and the private key from memory.
#pragma once

#include <Poco/Net/Context.h>

#include <string>

#include "erds/base/result.h"
#include "erds/base/secret.h"

namespace erds::http::internal {

// InvalidInput naming http.tls_certificate / http.tls_key and the file when the chain cannot be
// read, the key cannot be parsed, or the key does not match the certificate.
Result<Poco::Net::Context::Ptr> makeServerContext(const std::string& certificateFile,
                                                  const Secret& privateKeyPem,
                                                  const std::string& privateKeySource);

// The OpenSSL error queue as one line (and cleared).
std::string drainOpenSslErrors();

}  // namespace erds::http::internal
