// TimestampAuthority: obtains an RFC 3161 time-stamp token over a SHA-256 digest. Implementations:
// the built-in time-stamping unit (Rfc3161Tsu) and a client of external TSAs (HttpTsaClient).
#pragma once

#include <string>
#include <string_view>

#include "erds/base/clock.h"
#include "erds/base/result.h"

namespace erds::evidence {

struct TimestampToken {
  std::string der;        // the TimeStampToken (CMS ContentInfo, DER), as embedded in XAdES
  TimePoint genTime;      // TSTInfo.genTime
  std::string serialHex;  // TSTInfo.serialNumber
};

class TimestampAuthority {
 public:
  virtual ~TimestampAuthority() = default;
  // Returns a token over `sha256Digest` (32 bytes). Unavailable when no token can be had (TSA
  // down, clock not synchronised, token not qualified where required): callers then seal nothing.
  // Thread-safe.
  virtual Result<TimestampToken> timestamp(std::string_view sha256Digest) = 0;
};

}  // namespace erds::evidence
