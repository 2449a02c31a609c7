// Argon2id password hashing (libargon2) in PHC string format, with constant-time verification and
// detection of hashes made with weaker parameters than the current ones (rehash on next login).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "erds/base/result.h"

namespace erds::identity {

// Argon2id cost parameters. The defaults (t=3, 64 MiB, p=1) cost about 140 ms of CPU per hash
// (200-460 ms wall-clock while the 2-vCPU reference machine was shared by ~7 builds), measured with
// erds_identity_bench: inside the 50-250 ms budget for one login. t=2/64 MiB measured 98 ms,
// t=2/19 MiB (OWASP's floor) 18 ms. See identity/README.md.
struct Argon2Params {
  uint32_t timeCost = 3;          // iterations (t)
  uint32_t memoryKiB = 65536;     // m, in KiB
  uint32_t parallelism = 1;       // lanes (p); >1 uses threads
  uint32_t saltBytes = 16;
  uint32_t hashBytes = 32;

  // InvalidInput unless t >= 1, 8*p <= m <= 4 GiB, 1 <= p <= 16, salt >= 16, hash 16..64.
  Result<void> validate() const;
};

// Thread-safe (no mutable state). Every call with a password longer than kMaxPasswordBytes is
// refused before Argon2 runs (a long password must not be a denial-of-service lever).
class PasswordHasher {
 public:
  static constexpr std::size_t kMaxPasswordBytes = 1024;
  // Hard ceiling for parameters read back from a stored hash (defends against a tampered row).
  static constexpr uint32_t kMaxStoredMemoryKiB = 1u << 21;  // 2 GiB
  static constexpr uint32_t kMaxStoredTimeCost = 20;

  // InvalidInput if `params` fails validate().
  static Result<PasswordHasher> create(Argon2Params params);

  // "$argon2id$v=19$m=65536,t=3,p=1$<salt b64>$<hash b64>" with a fresh random salt.
  // InvalidInput: empty or too long password. Internal: libargon2 failure.
  Result<std::string> hash(std::string_view password) const;

  // True iff `phc` is an Argon2id hash of `password`. The comparison is constant-time (libargon2).
  // A malformed/unsupported `phc` or a too-long password yields false (never an error: callers must
  // not be able to tell why a login failed).
  bool verify(std::string_view password, std::string_view phc) const;

  // Spends the same work as verify() against an internal dummy hash and returns false. Call it when
  // the identifier is unknown so that timing does not reveal which accounts exist.
  bool verifyDummy(std::string_view password) const;

  // True if `phc` is not Argon2id v19 or any of its parameters differ from the current ones
  // (including malformed strings): the caller re-hashes after a successful verify().
  bool needsRehash(std::string_view phc) const;

  const Argon2Params& params() const { return params_; }

 private:
  explicit PasswordHasher(Argon2Params p) : params_(p) {}
  Argon2Params params_;
  std::string dummy_;  // a hash of a random password with params_
};

}  // namespace erds::identity
