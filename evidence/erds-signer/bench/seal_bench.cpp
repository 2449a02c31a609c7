// A full seal (XAdES-B-B + RFC 3161 SignatureTimeStamp, both signatures made by the key-holding
// process) through the REAL erds-signer binary on a Unix socket, against the >= 2,500 evidence/s
// target. erds-signer runs as a child (development mode, file keys from a throwaway PKI, log
// audit to /dev/null); the benchmark process is the client: SignerClient + EvidenceSealer +
// built-in time-stamping unit whose key is the signer's "tsu". Run (Release build):
//   build-bench/evidence/erds-signer/erds_signer_seal_bench --benchmark_min_time=2
// Counters: evidence_per_cpu_s = evidence per CPU second of client + erds-signer together
// (getrusage of this process + /proc/<pid>/stat of the child), the figure to compare with the
// target on a loaded machine; items_per_second is wall-clock.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "erds/evidence/signer_client.h"
#include "xades_test_util.h"

namespace erds::evidence {
namespace {

double selfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// utime + stime of `pid` from /proc (clock ticks).
double childCpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; fields >> f; ++i)
    if (i == 14 || i == 15) ticks += std::stod(f);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

struct SignerProcess {
  testing::TestPki pki{"erds DEVELOPMENT seal-bench root"};
  std::string dir = testing::makeTempDir("erds-seal-bench");
  pid_t pid = -1;
  std::shared_ptr<SignerClient> client;
  std::shared_ptr<Rfc3161Tsu> tsa;
  std::unique_ptr<EvidenceSealer> sealer;

  SignerProcess() {
    testing::TestCertOptions seal;
    seal.commonName = "erds DEVELOPMENT evidence seal";
    testing::writeKeyFiles(dir, "seal", pki.issue(seal));
    testing::TestCertOptions t;
    t.commonName = "erds DEVELOPMENT TSU";
    t.timeStamping = true;
    testing::writeKeyFiles(dir, "tsu", pki.issue(t));
    testing::writeFile(dir + "/root-ca.pem", pki.root().certPem);
    const std::string socket = dir + "/signer.sock";
    testing::writeFile(dir + "/erds.conf",
                       "[service]\nmode = development\n[log]\nlevel = error\n[signer]\nsocket = " + socket +
                           "\nkey_dir = " + dir + "\nbackend = file\nmax_signatures_per_second = 10000000\n");
    pid = fork();
    ERDS_CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
      // Its log (audit lines are written at level info, so error level keeps this small).
      if (freopen((dir + "/signer.log").c_str(), "w", stderr) == nullptr ||
          freopen("/dev/null", "w", stdout) == nullptr)
        _exit(126);
      execl(ERDS_SIGNER_BINARY, "erds-signer", "--config", (dir + "/erds.conf").c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 200 && !std::filesystem::exists(socket); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!std::filesystem::exists(socket)) {
      std::ifstream log(dir + "/signer.log");
      std::cerr << "erds-signer log:\n" << log.rdbuf() << "\n";
    }
    ERDS_CHECK(std::filesystem::exists(socket), "erds-signer did not create its socket");
    auto c = SignerClient::create({socket, std::chrono::milliseconds(5000), 16});
    ERDS_CHECK(c.has_value(), "SignerClient::create failed");
    client = std::move(*c);
    Rfc3161TsuOptions o;
    o.policyOid = "1.3.6.1.4.1.55555.1.1";
    o.requireSyncedClock = false;
    o.clockSyncCheck = [] { return Result<void>{}; };
    auto u = Rfc3161Tsu::create(client, o, SystemClock::instance());
    ERDS_CHECK(u.has_value(), "Rfc3161Tsu::create through erds-signer failed");
    tsa = std::move(*u);
    auto s = EvidenceSealer::create(client, tsa, SystemClock::instance());
    ERDS_CHECK(s.has_value(), "EvidenceSealer::create failed");
    sealer = std::move(*s);
  }
  ~SignerProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::filesystem::remove_all(dir);
  }
};

SignerProcess& signerProcess() {
  static SignerProcess p;
  return p;
}

const EvidenceXml& submissionAcceptance() {
  static const EvidenceXml xml = testing::evidenceNow(Event::SubmissionAcceptance);
  return xml;
}

void BM_SealThroughErdsSigner(benchmark::State& state) {
  auto& p = signerProcess();
  const EvidenceXml& xml = submissionAcceptance();
  double cpu0 = 0, child0 = 0;
  if (state.thread_index() == 0) {
    cpu0 = selfCpuSeconds();
    child0 = childCpuSeconds(p.pid);
  }
  for (auto _ : state) {
    auto sealed = p.sealer->seal(xml, "seal");
    if (!sealed) state.SkipWithError(sealed.error().message.c_str());
    benchmark::DoNotOptimize(sealed);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const double client = selfCpuSeconds() - cpu0;
    const double signer = childCpuSeconds(p.pid) - child0;
    const double items = static_cast<double>(state.iterations()) * state.threads();
    state.counters["client_cpu_us"] = client * 1e6 / items;
    state.counters["signer_cpu_us"] = signer * 1e6 / items;
    state.counters["evidence_per_cpu_s"] = client + signer > 0 ? items / (client + signer) : 0;
  }
}
BENCHMARK(BM_SealThroughErdsSigner)->UseRealTime()->Threads(1)->Threads(2)->Threads(4);

}  // namespace
}  // namespace erds::evidence

BENCHMARK_MAIN();
