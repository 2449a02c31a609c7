#include "erds/identity/totp.h"

#include <cctype>

#include "crypto_util.h"

namespace erds::identity {
namespace {

std::string_view digestName(TotpAlgorithm a) {
  switch (a) {
    case TotpAlgorithm::Sha256: return "SHA256";
    case TotpAlgorithm::Sha512: return "SHA512";
    case TotpAlgorithm::Sha1: break;
  }
  return "SHA1";
}

std::size_t seedBytes(TotpAlgorithm a) {
  switch (a) {
    case TotpAlgorithm::Sha256: return 32;
    case TotpAlgorithm::Sha512: return 64;
    case TotpAlgorithm::Sha1: break;
  }
  return 20;
}

std::string percentEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

int64_t totpStep(TimePoint t, const TotpParams& params) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  int64_t period = params.period.count() > 0 ? params.period.count() : 30;
  return secs >= 0 ? secs / period : -((-secs + period - 1) / period);
}

std::string totpCode(const Secret& key, int64_t step, const TotpParams& params) {
  std::string counter(8, '\0');
  auto u = static_cast<uint64_t>(step);
  for (int i = 7; i >= 0; --i) {
    counter[static_cast<std::size_t>(i)] = static_cast<char>(u & 0xff);
    u >>= 8;
  }
  std::string mac = internal::hmac(digestName(params.algorithm), key.reveal(), counter);
  // RFC 4226 5.3 dynamic truncation.
  std::size_t offset = static_cast<unsigned char>(mac.back()) & 0x0f;
  uint32_t bin = (static_cast<uint32_t>(static_cast<unsigned char>(mac[offset]) & 0x7f) << 24) |
                 (static_cast<uint32_t>(static_cast<unsigned char>(mac[offset + 1])) << 16) |
                 (static_cast<uint32_t>(static_cast<unsigned char>(mac[offset + 2])) << 8) |
                 static_cast<uint32_t>(static_cast<unsigned char>(mac[offset + 3]));
  int digits = params.digits < 6 ? 6 : params.digits > 8 ? 8 : params.digits;
  uint32_t mod = 1;
  for (int i = 0; i < digits; ++i) mod *= 10;
  std::string code = std::to_string(bin % mod);
  return std::string(static_cast<std::size_t>(digits) - code.size(), '0') + code;
}

Secret generateTotpSeed(const TotpParams& params) {
  return Secret(internal::randomBytes(seedBytes(params.algorithm)));
}

Secret otpauthUri(std::string_view issuer, std::string_view account, const Secret& seed,
                  const TotpParams& params) {
  std::string alg(digestName(params.algorithm));
  std::string uri = "otpauth://totp/" + percentEncode(issuer) + ":" + percentEncode(account) +
                    "?secret=" + internal::base32Encode(seed.reveal()) + "&issuer=" + percentEncode(issuer) +
                    "&algorithm=" + alg + "&digits=" + std::to_string(params.digits) +
                    "&period=" + std::to_string(params.period.count());
  return Secret(std::move(uri));
}

Result<Secret> TotpVerifier::enrol(const std::string& partyId) {
  Secret seed = generateTotpSeed(params_);
  ERDS_RETURN_IF_ERROR(store_.setTotpSeed(partyId, seed));
  return seed;
}

Result<int64_t> TotpVerifier::verify(const std::string& partyId, std::string_view code) {
  auto seed = store_.totpSeed(partyId);
  if (!seed) return seed.error();
  const Error refused = Error::unauthorized("invalid one-time code");
  if (code.size() != static_cast<std::size_t>(params_.digits)) return refused;
  for (char c : code) {
    if (c < '0' || c > '9') return refused;
  }
  const int64_t now = totpStep(clock_.now(), params_);
  // Check every candidate step (no early exit) so timing does not reveal which one matched.
  std::optional<int64_t> matched;
  for (int64_t step = now - params_.window; step <= now + params_.window; ++step) {
    if (internal::constantTimeEquals(totpCode(*seed, step, params_), code) && !matched) matched = step;
  }
  if (!matched) return refused;
  auto advanced = store_.advanceTotpStep(partyId, *matched);
  if (!advanced) return advanced.error();
  if (!*advanced) return refused;  // replay: this or a later step was already accepted
  return *matched;
}

RecoveryCodeSet generateRecoveryCodes(int count) {
  RecoveryCodeSet set;
  for (int i = 0; i < count; ++i) {
    std::string raw = internal::base32Encode(internal::randomBytes(10));  // 16 chars
    std::string shown = raw.substr(0, 4) + "-" + raw.substr(4, 4) + "-" + raw.substr(8, 4) + "-" + raw.substr(12, 4);
    set.hashes.push_back(hashRecoveryCode(shown));
    set.codes.emplace_back(std::move(shown));
  }
  return set;
}

std::string hashRecoveryCode(std::string_view code) {
  std::string norm;
  for (char c : code) {
    if (c == '-' || c == ' ') continue;
    norm.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return internal::sha256("erds-recovery-code:" + norm);
}

Result<void> redeemRecoveryCode(SecondFactorStore& store, const std::string& partyId, std::string_view code) {
  if (code.empty() || code.size() > 64) return Error::unauthorized("invalid recovery code");
  auto used = store.consumeRecoveryCode(partyId, hashRecoveryCode(code));
  if (!used) return used.error();
  if (!*used) return Error::unauthorized("invalid recovery code");
  return ok();
}

}  // namespace erds::identity
