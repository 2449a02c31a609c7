#include "erds/identity/password_hasher.h"

#include <argon2.h>

#include <charconv>
#include <vector>

#include "crypto_util.h"

namespace erds::identity {
namespace {

struct PhcInfo {
  uint32_t version = 0;
  uint32_t m = 0;
  uint32_t t = 0;
  uint32_t p = 0;
  std::size_t saltChars = 0;
  std::size_t hashChars = 0;
};

bool parseUint(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

// Parses "$argon2id$v=19$m=..,t=..,p=..$salt$hash"; false if anything is off.
bool parsePhc(std::string_view phc, PhcInfo& info) {
  auto parts = split(phc, '$');
  if (parts.size() != 6 || !parts[0].empty() || parts[1] != "argon2id") return false;
  if (parts[2].substr(0, 2) != "v=" || !parseUint(parts[2].substr(2), info.version)) return false;
  auto kv = split(parts[3], ',');
  if (kv.size() != 3) return false;
  if (kv[0].substr(0, 2) != "m=" || !parseUint(kv[0].substr(2), info.m)) return false;
  if (kv[1].substr(0, 2) != "t=" || !parseUint(kv[1].substr(2), info.t)) return false;
  if (kv[2].substr(0, 2) != "p=" || !parseUint(kv[2].substr(2), info.p)) return false;
  info.saltChars = parts[4].size();
  info.hashChars = parts[5].size();
  return info.saltChars > 0 && info.hashChars > 0;
}

std::size_t b64Chars(std::size_t bytes) { return (bytes * 4 + 2) / 3; }  // unpadded base64

}  // namespace

Result<void> Argon2Params::validate() const {
  if (timeCost < 1 || timeCost > PasswordHasher::kMaxStoredTimeCost)
    return Error::invalidInput("argon2 t_cost must be 1..20");
  if (parallelism < 1 || parallelism > 16) return Error::invalidInput("argon2 parallelism must be 1..16");
  if (memoryKiB < 8 * parallelism || memoryKiB > PasswordHasher::kMaxStoredMemoryKiB)
    return Error::invalidInput("argon2 m_cost (KiB) must be >= 8*parallelism and <= 2 GiB");
  if (saltBytes < 16 || saltBytes > 64) return Error::invalidInput("argon2 salt must be 16..64 bytes");
  if (hashBytes < 16 || hashBytes > 64) return Error::invalidInput("argon2 hash must be 16..64 bytes");
  return ok();
}

Result<PasswordHasher> PasswordHasher::create(Argon2Params params) {
  ERDS_RETURN_IF_ERROR(params.validate());
  PasswordHasher h(params);
  auto dummy = h.hash(internal::hex(internal::randomBytes(16)));
  if (!dummy) return dummy.error();
  h.dummy_ = std::move(dummy).value();
  return h;
}

Result<std::string> PasswordHasher::hash(std::string_view password) const {
  if (password.empty()) return Error::invalidInput("empty password");
  if (password.size() > kMaxPasswordBytes) return Error::invalidInput("password too long");
  std::string salt = internal::randomBytes(params_.saltBytes);
  std::size_t len = argon2_encodedlen(params_.timeCost, params_.memoryKiB, params_.parallelism,
                                      params_.saltBytes, params_.hashBytes, Argon2_id);
  std::string encoded(len, '\0');
  int rc = argon2id_hash_encoded(params_.timeCost, params_.memoryKiB, params_.parallelism, password.data(),
                                 password.size(), salt.data(), salt.size(), params_.hashBytes,
                                 encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return Error::internal(std::string("argon2: ") + argon2_error_message(rc));
  encoded.resize(encoded.find('\0') == std::string::npos ? encoded.size() : encoded.find('\0'));
  return encoded;
}

bool PasswordHasher::verify(std::string_view password, std::string_view phc) const {
  if (password.empty() || password.size() > kMaxPasswordBytes) return false;
  PhcInfo info;
  // Refuse parameters a tampered row could use to make one login cost minutes or gigabytes.
  if (!parsePhc(phc, info) || info.m > kMaxStoredMemoryKiB || info.t > kMaxStoredTimeCost ||
      info.p > 16 || info.p == 0) {
    return false;
  }
  std::string z(phc);  // libargon2 wants a NUL-terminated string
  return argon2id_verify(z.c_str(), password.data(), password.size()) == ARGON2_OK;
}

bool PasswordHasher::verifyDummy(std::string_view password) const {
  (void)verify(password.empty() ? std::string_view("x") : password, dummy_);
  return false;
}

bool PasswordHasher::needsRehash(std::string_view phc) const {
  PhcInfo info;
  if (!parsePhc(phc, info)) return true;
  return info.version != ARGON2_VERSION_13 || info.m != params_.memoryKiB || info.t != params_.timeCost ||
         info.p != params_.parallelism || info.saltChars != b64Chars(params_.saltBytes) ||
         info.hashChars != b64Chars(params_.hashBytes);
}

}  // namespace erds::identity
