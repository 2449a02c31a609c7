// Benchmarks for identity: the cost of one Argon2id hash/verify with the default parameters
// (target 50-250 ms per login), a session check in the in-memory store (target < 50 us median),
// and a TOTP verification.
#include <benchmark/benchmark.h>

#include "erds/identity/password_hasher.h"
#include "erds/identity/session.h"
#include "erds/identity/testing/in_memory_session_store.h"
#include "erds/identity/totp.h"

namespace erds::identity {
namespace {

void BM_Argon2idVerifyDefault(benchmark::State& state) {
  auto hasher = PasswordHasher::create(Argon2Params{}).value();
  std::string phc = hasher.hash("correct horse battery staple").value();
  for (auto _ : state) benchmark::DoNotOptimize(hasher.verify("correct horse battery staple", phc));
}
BENCHMARK(BM_Argon2idVerifyDefault)->Unit(benchmark::kMillisecond)->Iterations(10)->MeasureProcessCPUTime()->UseRealTime();

// t_cost x m_cost sweep used to choose the defaults.
void BM_Argon2idHashSweep(benchmark::State& state) {
  Argon2Params p;
  p.timeCost = static_cast<uint32_t>(state.range(0));
  p.memoryKiB = static_cast<uint32_t>(state.range(1));
  auto hasher = PasswordHasher::create(p).value();
  for (auto _ : state) benchmark::DoNotOptimize(hasher.hash("correct horse battery staple"));
}
BENCHMARK(BM_Argon2idHashSweep)
    ->Args({2, 19456})
    ->Args({2, 65536})
    ->Args({3, 65536})
    ->Args({4, 65536})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

void BM_SessionCheckInMemory(benchmark::State& state) {
  testing::InMemorySessionStore store;
  SessionManager sessions(store, SystemClock::instance());
  std::vector<std::string> tokens;
  for (int i = 0; i < 10000; ++i) {
    auto s = sessions.create("party-" + std::to_string(i), {LevelOfAssurance::Substantial,
                                                             {AuthenticationMethod::PasswordTotp}, {}});
    tokens.emplace_back(s.value().token.reveal());
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = sessions.check(tokens[i++ % tokens.size()]);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SessionCheckInMemory)->Unit(benchmark::kMicrosecond);

void BM_TotpCode(benchmark::State& state) {
  Secret seed = generateTotpSeed();
  int64_t step = 1;
  for (auto _ : state) benchmark::DoNotOptimize(totpCode(seed, step++));
}
BENCHMARK(BM_TotpCode)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace erds::identity
