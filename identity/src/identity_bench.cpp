// Benchmarks for identity: the cost of one Argon2id hash/verify with the default parameters
// (target 50-250 ms per login), a session check in the in-memory store and against PostgreSQL
// (target < 50 us median; the PostgreSQL ones need the PG* environment of a superuser, like
// ./erds test, and are skipped with a message otherwise), and a TOTP verification.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>

#include "erds/identity/password_hasher.h"
#include "erds/identity/postgres_stores.h"
#include "erds/identity/session.h"
#include "erds/identity/session_cache.h"
#include "identity_test_db.h"
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

// What HttpAuthenticator does per request: the session check (SELECT by token hash) plus the
// party lookup for current roles, against a migrated database as the daemon role over the Unix
// socket; 10,000 sessions. Arg 0: no cache; arg 1: CachingSessionStore (5 s) in front.
void BM_SessionCheckPostgres(benchmark::State& state) {
  if (std::getenv("PGHOST") == nullptr) {
    state.SkipWithError("PGHOST unset: run with the PG* environment of a superuser (./erds test)");
    return;
  }
  auto db = testing::MigratedDatabase::create();
  if (!db) {
    state.SkipWithError("no PostgreSQL");
    return;
  }
  PostgresAccountStore accounts(*db->pool);
  PostgresSessionStore pgStore(*db->pool, std::chrono::minutes(30));
  CachingSessionStore cached(pgStore, SystemClock::instance());
  SessionStore& store = state.range(0) == 1 ? static_cast<SessionStore&>(cached) : pgStore;
  SessionManager sessions(store, SystemClock::instance());
  std::vector<std::string> tokens;
  constexpr int kParties = 100;
  for (int p = 0; p < kParties; ++p) {
    Party party;
    party.id = "bench-" + std::to_string(p);
    party.createdAt = SystemClock::instance().now();
    if (!accounts.createAccount(party, "mailto:bench" + std::to_string(p) + "@example.test", "$argon2id$x")) {
      state.SkipWithError("createAccount failed");
      return;
    }
  }
  for (int i = 0; i < 10000; ++i) {
    auto s = sessions.create("bench-" + std::to_string(i % kParties),
                             {LevelOfAssurance::Substantial, {AuthenticationMethod::PasswordTotp}, {}});
    tokens.emplace_back(s.value().token.reveal());
  }
  // A working set small enough to stay cached, as on a node serving active users.
  std::size_t i = 0;
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto r = sessions.check(tokens[i++ % 1000]);
    bool disabled = false;
    auto p = accounts.findParty(r.value().partyId, &disabled);
    benchmark::DoNotOptimize(p);
    micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  // The budget is on the median of single checks, so report the distribution, not just the mean.
  std::sort(micros.begin(), micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p90_us"] = micros[micros.size() * 9 / 10];
  state.counters["p99_us"] = micros[micros.size() * 99 / 100];
}
BENCHMARK(BM_SessionCheckPostgres)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->Iterations(20000);

void BM_TotpCode(benchmark::State& state) {
  Secret seed = generateTotpSeed();
  int64_t step = 1;
  for (auto _ : state) benchmark::DoNotOptimize(totpCode(seed, step++));
}
BENCHMARK(BM_TotpCode)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace erds::identity
