// Rfc3161Tsu: the built-in RFC 3161 time-stamping unit (timestamp(): tokens written directly as DER,
// proven identical to OpenSSL's TS_RESP_CTX output by the tests; respond(): TS_RESP_CTX). Its key is used
// through a Signer (forwarding EVP_PKEY), so it may live in erds-signer or an HSM. Also builds
// TimeStampReq DER and answers raw requests (for an optional POST /tsa).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/evidence/signer.h"
#include "erds/evidence/timestamp_authority.h"

namespace erds::evidence {

// Ok when the kernel reports the clock synchronised (adjtimex(): neither TIME_ERROR nor
// STA_UNSYNC); Unavailable otherwise.
Result<void> checkSystemClockSynchronised();

struct Rfc3161TsuOptions {
  std::string keyLabel = "tsu";  // Signer key; its certificate must carry EKU timeStamping
  std::string policyOid;         // TSA policy (required), e.g. from config
  std::chrono::microseconds accuracy = std::chrono::seconds(1);  // TSTInfo.accuracy (> 0)
  int clockPrecisionDigits = 0;  // fractional digits of genTime (0..6)
  bool includeTsaName = true;    // TSTInfo.tsa = the TSU certificate subject
  // When true (basic, qualified), time stamps are refused (Unavailable) while the clock is not
  // synchronised. When false (development), a warning is logged once and tokens are issued.
  bool requireSyncedClock = true;
  // The synchronisation check; defaults to checkSystemClockSynchronised. Injectable for tests.
  std::function<Result<void>()> clockSyncCheck;
  std::size_t maxRequestBytes = 16 * 1024;  // for respond()
};

class Rfc3161Tsu final : public TimestampAuthority {
 public:
  // Checks the TSU certificate (EKU timeStamping, key usable through a forwarding key) and
  // prepares the unit. `clock` must outlive the unit and supplies genTime. Errors: InvalidInput
  // (bad options or certificate), as Signer::keyInfo.
  static Result<std::unique_ptr<Rfc3161Tsu>> create(std::shared_ptr<Signer> signer,
                                                    Rfc3161TsuOptions options, const Clock& clock);
  ~Rfc3161Tsu() override;

  // A token over `sha256Digest` (32 bytes) with a random 64-bit nonce and the certificate included.
  // InvalidInput for a wrong digest size; Unavailable when the clock is not synchronised (and
  // required) or the signer is unreachable. Thread-safe.
  Result<TimestampToken> timestamp(std::string_view sha256Digest) override;

  // Answers a DER TimeStampReq with a DER TimeStampResp: granted, or a rejection naming the reason
  // (badAlg, badDataFormat, timeNotAvailable, unacceptedPolicy, ...). SHA-256/384/512 imprints are
  // accepted. Errors (no response at all): InvalidInput when the request exceeds maxRequestBytes,
  // Internal on a library failure. Thread-safe.
  Result<std::string> respond(std::string_view derRequest);

  // The TSU certificate (DER).
  const std::string& certificateDer() const;

  struct State;  // opaque; defined in rfc3161_tsu.cpp

 private:
  explicit Rfc3161Tsu(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// A DER TimeStampReq (version 1) for a SHA-256 digest. `nonce` (raw bytes, may be empty = none)
// and `policyOid` ("" = none) are optional; certReq asks the TSA to include its certificate.
// InvalidInput for a digest that is not 32 bytes or a bad OID.
Result<std::string> buildTimestampRequest(std::string_view sha256Digest,
                                          std::string_view nonce = {}, bool certReq = true,
                                          std::string_view policyOid = {});

}  // namespace erds::evidence
