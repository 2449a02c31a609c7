// Fuzz target: RFC 3161 time-stamp tokens (erds::evidence::TimestampVerifier::inspect and verify
// against a trust store, certificateHasQtstStatement). Trust anchor: the TSA root of the AgID
// samples, so the sample tokens (the seeds) pass the signature and chain checks.
// Invariant: a token that verifies can also be inspected, with the same genTime and serial.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "erds/evidence/timestamp_verify.h"
#include "fuzz_support.h"
#include "test_pki.h"

namespace {
std::shared_ptr<const erds::evidence::TimestampVerifier> g_verifier;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace erds::evidence;
  erds::fuzz::quietLogs();
  const std::string path =
      erds::fuzz::agidDir() + "/certificates/TSA-ROOT-CA.extracted-from-sample-tokens.pem";
  std::string pem = erds::fuzz::readFile(path);
  if (pem.empty()) {
    std::fprintf(stderr, "fuzz_timestamp_verify: cannot read %s; using a test root\n", path.c_str());
    pem = testing::TestPki().root().certPem;
  }
  auto verifier = TimestampVerifier::fromPem(pem);
  if (!verifier) erds::fuzz::fail("TimestampVerifier::fromPem: " + verifier.error().message);
  g_verifier = *verifier;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace erds::evidence;
  erds::fuzz::clearLogs();
  const std::string_view token = erds::fuzz::asView(data, size);
  (void)certificateHasQtstStatement(token);

  auto inspected = TimestampVerifier::inspect(token);
  TimestampVerifyOptions options;
  options.asOfGenTime = true;  // the sample TSA certificates have expired
  auto verified = g_verifier->verify(token, "", options);
  if (verified) {
    if (!inspected) erds::fuzz::fail("verify accepted a token inspect refuses");
    if (verified->genTime != inspected->genTime || verified->serialHex != inspected->serialHex) {
      erds::fuzz::fail("verify and inspect disagree on genTime/serial");
    }
    // With the token's own imprint the imprint check must pass too.
    const std::size_t n = verified->imprint.size();
    if (n == 32 || n == 48 || n == 64) {
      auto again = g_verifier->verify(token, verified->imprint, options);
      if (!again) {
        erds::fuzz::fail("token verifies without digest but not with its own imprint: " +
                         again.error().message);
      }
    }
  } else if (inspected) {
    // Still exercise the imprint and option paths on parseable tokens.
    TimestampVerifyOptions strict;
    strict.expectedNonce = std::string("\x01\x02", 2);
    strict.expectedPolicyOid = "1.2.3.4";
    strict.requireQualified = true;
    (void)g_verifier->verify(token, inspected->imprint, strict);
  }
  return 0;
}
