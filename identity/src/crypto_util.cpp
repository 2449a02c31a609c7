#include "crypto_util.h"

#include "erds/base/aead.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <memory>

namespace erds::identity::internal {

std::string randomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0) {
    ERDS_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1,
               "RAND_bytes failed");
  }
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ERDS_CHECK(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1, "EVP_Digest");
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string hmac(std::string_view digestName, std::string_view key, std::string_view data) {
  const EVP_MD* md = digestName == "SHA512" ? EVP_sha512() : digestName == "SHA256" ? EVP_sha256() : EVP_sha1();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ERDS_CHECK(HMAC(md, key.data(), static_cast<int>(key.size()),
                  reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len) != nullptr,
             "HMAC failed");
  std::string r(reinterpret_cast<char*>(out), len);
  OPENSSL_cleanse(out, sizeof out);
  return r;
}

Secret hkdfSha256(std::string_view ikm, std::string_view info, std::size_t length) {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr),
                                                                   &EVP_PKEY_CTX_free);
  std::string out(length, '\0');
  std::size_t outLen = length;
  ERDS_CHECK(ctx && EVP_PKEY_derive_init(ctx.get()) == 1 && EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) == 1 &&
                 EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), reinterpret_cast<const unsigned char*>(ikm.data()),
                                            static_cast<int>(ikm.size())) == 1 &&
                 EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), reinterpret_cast<const unsigned char*>(info.data()),
                                             static_cast<int>(info.size())) == 1 &&
                 EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &outLen) == 1 &&
                 outLen == length,
             "HKDF-SHA256 failed");
  return Secret(std::move(out));
}

Result<Secret> keyFromKek(const Secret& kek, std::string_view info) {
  Secret raw;
  if (kek.size() == crypto::kAesKeyBytes) {
    raw = kek;
  } else if (kek.size() == 2 * crypto::kAesKeyBytes) {
    auto decoded = crypto::fromHex(kek.reveal());
    if (!decoded) return Error::invalidInput("key-encryption key: 64 characters but not hex");
    raw = Secret(std::move(decoded).value());
  } else {
    return Error::invalidInput("key-encryption key must be 32 raw bytes or 64 hex characters (got " +
                               std::to_string(kek.size()) + " bytes)");
  }
  return hkdfSha256(raw.reveal(), info, 32);
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kB32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
}  // namespace

std::string base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64Url[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kB64Url[(acc << (6 - bits)) & 0x3f]);
  return out;
}

Result<std::string> base64UrlDecode(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    int v = -1;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
    else if (ch == '-') v = 62;
    else if (ch == '_') v = 63;
    if (v < 0) return Error::invalidInput("not base64url");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero padding: rejects non-canonical encodings of the same bytes.
  if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0) return Error::invalidInput("not canonical base64url");
  return out;
}

std::string base32Encode(std::string_view bytes) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out.push_back(kB32[(acc >> bits) & 0x1f]);
    }
  }
  if (bits > 0) out.push_back(kB32[(acc << (5 - bits)) & 0x1f]);
  return out;
}

Result<std::string> base32Decode(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    if (ch == '=' || ch == ' ' || ch == '-') continue;
    int v = -1;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z') v = ch - 'a';
    else if (ch >= '2' && ch <= '7') v = ch - '2' + 26;
    if (v < 0) return Error::invalidInput("not base32");
    acc = (acc << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string openSslErrors() {
  std::string out;
  unsigned long e = 0;
  char buf[256];
  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace erds::identity::internal
