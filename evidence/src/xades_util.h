// Internal XAdES helpers shared by the sealer and the verifier: DER pieces (IssuerSerialV2),
// ECDSA signature format conversion, certificate digests and random XML ids.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/result.h"

namespace erds::evidence::internal {

// The DER of XAdES IssuerSerialV2 (RFC 5035 IssuerSerial: GeneralNames{directoryName issuer},
// serialNumber) for a DER certificate. InvalidInput on bad DER.
Result<std::string> issuerSerialV2Der(std::string_view certDer);

// DER ECDSA-Sig-Value -> raw r||s, each left-padded to `fieldBytes` (32 for P-256).
Result<std::string> ecdsaDerToRaw(std::string_view der, std::size_t fieldBytes);

// Digest of `data` for an XMLDSig DigestMethod URI (sha256/384/512). nullopt for other URIs.
std::optional<std::string> digestFor(std::string_view algorithmUri, std::string_view data);

// SHA-256 of `data` (32 bytes) with a digest implementation fetched once per process (OpenSSL 3
// looks EVP_sha256() up by name on every EVP_Digest call otherwise). Thread-safe.
std::string sha256Digest(std::string_view data);

// Splits concatenated DER certificates. InvalidInput on bad DER.
Result<std::vector<std::string>> splitDerCertificates(std::string_view der);

// Whether a DER certificate is self-issued (subject == issuer).
bool isSelfIssued(std::string_view certDer);

// RFC 2253 subject of a DER certificate ("" on bad DER).
std::string certificateSubject(std::string_view certDer);

// A fresh random NCName-safe suffix: 24 lower-case hex characters.
std::string randomIdSuffix();

}  // namespace erds::evidence::internal
