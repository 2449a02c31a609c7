// Second factors: RFC 6238 TOTP (codes, otpauth:// enrolment URI, verification with replay refusal)
// and single-use recovery codes stored only as hashes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/base/secret.h"

namespace erds::identity {

enum class TotpAlgorithm { Sha1, Sha256, Sha512 };

struct TotpParams {
  TotpAlgorithm algorithm = TotpAlgorithm::Sha1;  // what every authenticator app supports
  int digits = 6;                                 // 6..8
  std::chrono::seconds period{30};
  int window = 1;                                 // accepted steps either side of "now"
};

// The RFC 6238 time step for `t` (floor((t - T0) / period), T0 = Unix epoch).
int64_t totpStep(TimePoint t, const TotpParams& params = {});
// The RFC 4226 HOTP value of `key` at `step`, zero-padded to params.digits.
std::string totpCode(const Secret& key, int64_t step, const TotpParams& params = {});
// A fresh random seed of the algorithm's natural size (20 / 32 / 64 bytes).
Secret generateTotpSeed(const TotpParams& params = {});
// otpauth://totp/<issuer>:<account>?secret=<base32>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30
// (label and issuer percent-encoded). Show once at enrolment; never log it.
Secret otpauthUri(std::string_view issuer, std::string_view account, const Secret& seed,
                  const TotpParams& params = {});

// Storage port for second-factor state. The PostgreSQL implementation stores the TOTP seed
// encrypted under the KEK (erds::crypto::KeyEncryptionKey) and the recovery codes as hashes.
class SecondFactorStore {
 public:
  virtual ~SecondFactorStore() = default;
  // Sets/replaces the party's TOTP seed and resets its last accepted step.
  virtual Result<void> setTotpSeed(const std::string& partyId, const Secret& seed) = 0;
  // NotFound if the party has no TOTP enrolled.
  virtual Result<Secret> totpSeed(const std::string& partyId) = 0;
  // Atomically records `step` as the last accepted step iff it is greater than the stored one.
  // Returns false (and changes nothing) otherwise: the code was already used (replay).
  virtual Result<bool> advanceTotpStep(const std::string& partyId, int64_t step) = 0;
  // Replaces all recovery codes of the party with `hashes`.
  virtual Result<void> replaceRecoveryCodes(const std::string& partyId, std::vector<std::string> hashes) = 0;
  // Atomically removes `hash` from the party's codes; true if it was there.
  virtual Result<bool> consumeRecoveryCode(const std::string& partyId, const std::string& hash) = 0;
  virtual Result<int> remainingRecoveryCodes(const std::string& partyId) = 0;
};

// Verifies TOTP codes against the store. Thread-safe if the store is.
class TotpVerifier {
 public:
  TotpVerifier(SecondFactorStore& store, const Clock& clock, TotpParams params = {})
      : store_(store), clock_(clock), params_(params) {}

  // Enrols a new seed for the party (the caller shows otpauthUri() once). Returns the seed.
  Result<Secret> enrol(const std::string& partyId);
  // Accepts `code` if it matches a step within +/-window of now that is later than the last
  // accepted step, and records that step. Unauthorized: wrong, malformed or replayed code (one
  // message for all, so a caller cannot tell them apart). NotFound: no TOTP enrolled.
  Result<int64_t> verify(const std::string& partyId, std::string_view code);

 private:
  SecondFactorStore& store_;
  const Clock& clock_;
  TotpParams params_;
};

// Recovery codes: 10 codes of 16 base32 characters (80 bits), shown as XXXX-XXXX-XXXX-XXXX.
// Because each code has 80 bits of entropy, SHA-256 of the normalised code is a sufficient
// one-way hash (no Argon2 needed) and allows lookup by hash.
struct RecoveryCodeSet {
  std::vector<Secret> codes;         // show once, then drop
  std::vector<std::string> hashes;   // what the store keeps
};
RecoveryCodeSet generateRecoveryCodes(int count = 10);
// SHA-256 of the code upper-cased with spaces and dashes removed.
std::string hashRecoveryCode(std::string_view code);

// Uses one recovery code: Unauthorized if it is not (or no longer) one of the party's codes.
// A login completed this way must get AuthenticationMethod::RecoveryCode (lower session level).
Result<void> redeemRecoveryCode(SecondFactorStore& store, const std::string& partyId, std::string_view code);

}  // namespace erds::identity
