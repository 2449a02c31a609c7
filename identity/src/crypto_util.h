// Small OpenSSL helpers private to erds::identity (random bytes, digests, HMAC, encodings,
// constant-time comparison). Kept here so the public headers stay free of OpenSSL.
#pragma once

#include <string>
#include <string_view>

#include "erds/base/result.h"
#include "erds/base/secret.h"

namespace erds::identity::internal {

// Cryptographically secure random bytes; aborts if the RNG fails (an invariant, not input).
std::string randomBytes(std::size_t n);
std::string sha256(std::string_view data);
// HMAC with SHA-1 / SHA-256 / SHA-512 ("SHA1", "SHA256", "SHA512").
std::string hmac(std::string_view digestName, std::string_view key, std::string_view data);
// HKDF-SHA256 (RFC 5869) with an empty salt: `length` bytes of output keying material.
Secret hkdfSha256(std::string_view ikm, std::string_view info, std::size_t length);
// A 32-byte key derived from the KEK for one purpose: HKDF-SHA256(ikm = KEK, no salt, `info`).
// `kek` is 32 raw bytes or 64 hex characters (both forms of one KEK give one key); InvalidInput
// otherwise.
Result<Secret> keyFromKek(const Secret& kek, std::string_view info);
bool constantTimeEquals(std::string_view a, std::string_view b);

std::string base64UrlEncode(std::string_view bytes);  // no padding
Result<std::string> base64UrlDecode(std::string_view text);
std::string base32Encode(std::string_view bytes);     // RFC 4648, no padding, upper case
Result<std::string> base32Decode(std::string_view text);  // case-insensitive, padding/spaces ok
std::string hex(std::string_view bytes);

// Drains the OpenSSL error queue into one line ("" if empty).
std::string openSslErrors();

}  // namespace erds::identity::internal
