// Signatures/s through erds-signer (SignerServer on a Unix socket, SignerClient, LogSignatureAudit
// audit lines) vs the same FileKeySigner in-process. Run:
//   build/evidence/erds-signer/erds_signer_bench 2>/dev/null
// (stderr carries the per-signature audit lines, as in production.)
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "erds/base/aead.h"
#include "erds/base/log.h"
#include "erds/evidence/file_key_signer.h"
#include "erds/evidence/signer_client.h"

#include "signature_audit.h"
#include "signer_server.h"
#include "test_pki.h"

namespace {

using namespace erds;

struct Setup {
  std::string dir;
  std::shared_ptr<evidence::FileKeySigner> signer;
  signer::LogSignatureAudit audit;
  std::unique_ptr<signer::SignerServer> server;
  std::thread thread;
  std::shared_ptr<evidence::SignerClient> client;

  Setup() {
    log::init("erds-signer-bench", log::Level::Info);
    evidence::testing::TestPki pki;
    dir = evidence::testing::makeTempDir("erds-signer-bench");
    evidence::testing::TestCertOptions o;
    o.commonName = "erds DEVELOPMENT seal";
    evidence::testing::writeKeyFiles(dir, "seal", pki.issue(o));
    auto s = evidence::FileKeySigner::fromDirectory(dir, {"seal"});
    ERDS_CHECK(s.has_value(), "keys");
    signer = std::move(*s);
    signer::SignerServerOptions so;
    so.socketPath = dir + "/signer.sock";
    so.maxSignaturesPerSecond = 1e7;
    auto srv = signer::SignerServer::listen(so, *signer, audit, SystemClock::instance());
    ERDS_CHECK(srv.has_value(), "listen");
    server = std::move(*srv);
    thread = std::thread([this] { server->serve(); });
    auto c = evidence::SignerClient::create({so.socketPath, std::chrono::milliseconds(5000), 16});
    ERDS_CHECK(c.has_value(), "client");
    client = std::move(*c);
  }
  ~Setup() {
    server->stop();
    thread.join();
    server.reset();
    std::filesystem::remove_all(dir);
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void BM_InProcessFileKey(benchmark::State& state) {
  auto& s = setup();
  const std::string digest = crypto::sha256("evidence");
  for (auto _ : state) {
    auto sig = s.signer->signDigest("seal", digest);
    if (!sig) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InProcessFileKey)->UseRealTime()->Threads(1)->Threads(2);

void BM_ThroughErdsSigner(benchmark::State& state) {
  auto& s = setup();
  const std::string digest = crypto::sha256("evidence");
  for (auto _ : state) {
    auto sig = s.client->signDigest("seal", digest);
    if (!sig) state.SkipWithError("sign failed");
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ThroughErdsSigner)->UseRealTime()->Threads(1)->Threads(2)->Threads(4);

}  // namespace

BENCHMARK_MAIN();
