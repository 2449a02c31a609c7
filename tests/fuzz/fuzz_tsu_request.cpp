// Fuzz target: the built-in time-stamping unit answering a raw DER TimeStampReq
// (erds::evidence::Rfc3161Tsu::respond, the parser behind an optional POST /tsa). The unit signs
// with a throwaway test PKI generated at start-up and a fixed fake clock.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "erds/evidence/file_key_signer.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "fake_clock.h"
#include "fuzz_support.h"
#include "test_pki.h"

namespace {
std::unique_ptr<erds::testing::FakeClock> g_clock;
std::unique_ptr<erds::evidence::Rfc3161Tsu> g_tsu;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace erds::evidence;
  erds::fuzz::quietLogs();
  testing::TestPki pki;
  testing::TestCertOptions tsuOptions;
  tsuOptions.commonName = "erds fuzz TSU DEVELOPMENT";
  tsuOptions.timeStamping = true;
  const std::string dir = testing::makeTempDir("erds-fuzz-tsu");
  testing::writeKeyFiles(dir, "tsu", pki.issue(tsuOptions), pki.root().certPem);
  auto signer = FileKeySigner::fromDirectory(dir, {"tsu"});
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);  // keys are loaded; nothing is read again
  if (!signer) erds::fuzz::fail("FileKeySigner::fromDirectory: " + signer.error().message);

  g_clock = std::make_unique<erds::testing::FakeClock>(
      erds::TimePoint(std::chrono::seconds(1767225600)));  // 2026-01-01T00:00:00Z
  Rfc3161TsuOptions options;
  options.policyOid = "1.3.6.1.4.1.55555.1.1";
  options.clockSyncCheck = [] { return erds::ok(); };
  auto tsu = Rfc3161Tsu::create(std::shared_ptr<Signer>(std::move(*signer)), options, *g_clock);
  if (!tsu) erds::fuzz::fail("Rfc3161Tsu::create: " + tsu.error().message);
  g_tsu = std::move(*tsu);
  // Destroy the unit before OpenSSL's own atexit cleanup (registered earlier, so it runs later):
  // freeing the forwarding key after OPENSSL_cleanup would skip its ex_data free callback.
  std::atexit([] { g_tsu.reset(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  erds::fuzz::clearLogs();
  auto response = g_tsu->respond(erds::fuzz::asView(data, size));
  if (response && response->empty()) erds::fuzz::fail("respond() returned an empty response");
  return 0;
}
