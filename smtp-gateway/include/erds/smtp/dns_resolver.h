// DnsResolver: the port through which the gateway asks DNS for TXT, A, AAAA and MX records (SPF,
// DKIM and DMARC checks on the inbound MX listener). ResDnsResolver is the libresolv implementation
// (res_nquery, short timeouts, a small positive/negative cache); a fake lives in testing/.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "erds/base/result.h"

namespace erds::smtp {

struct MxRecord {
  int preference = 0;
  std::string host;  // without the trailing dot
};

class DnsResolver {
 public:
  virtual ~DnsResolver() = default;

  // Each call returns the records of `name` (without the trailing dot). A name that does not exist
  // (NXDOMAIN) or has no record of the type (NODATA) gives an empty vector: that is an answer, not
  // an error. Errors: Unavailable (timeout, SERVFAIL, malformed answer: a temporary error for SPF,
  // DKIM and DMARC). Thread-safe.
  // TXT: each record's character-strings concatenated (RFC 7208 3.3, RFC 6376 3.6.2.2).
  virtual Result<std::vector<std::string>> txt(const std::string& name) = 0;
  // A / AAAA: addresses in text form ("192.0.2.1", "2001:db8::1").
  virtual Result<std::vector<std::string>> a(const std::string& name) = 0;
  virtual Result<std::vector<std::string>> aaaa(const std::string& name) = 0;
  virtual Result<std::vector<MxRecord>> mx(const std::string& name) = 0;
};

struct ResDnsOptions {
  std::chrono::seconds timeout{2};  // per try (res retrans)
  int attempts = 2;                 // res retry
  std::chrono::seconds cacheTtl{60};  // answers (also empty ones) kept this long; 0 = no cache
  std::size_t cacheEntries = 10000;
};

// The system resolver (/etc/resolv.conf) through res_nquery, one resolver state per call.
std::unique_ptr<DnsResolver> makeResDnsResolver(ResDnsOptions options = {});

}  // namespace erds::smtp
