// Benchmarks for identity: the cost of one Argon2id hash/verify with the default parameters
// (target 50-250 ms per login), a session check in the in-memory store and against PostgreSQL,
// the production request path (HttpAuthenticator over CachingSessionStore over PostgreSQL; target
// < 50 us median), and a TOTP verification. The PostgreSQL ones need the PG* environment of a
// superuser, like ./erds test; without it they stop the program with exit code 2 and a message.
#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "erds/identity/http_auth.h"
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
// A migrated database with kBenchParties parties ("bench-N"), or exit 2 when PostgreSQL is not
// configured: a benchmark that silently measures nothing would be worse than none.
constexpr int kBenchParties = 100;
struct BenchDatabase {
  std::unique_ptr<testing::MigratedDatabase> db;
  std::unique_ptr<PostgresAccountStore> accounts;
};
BenchDatabase benchDatabase() {
  if (std::getenv("PGHOST") == nullptr) {
    std::fprintf(stderr, "erds_identity_bench: PGHOST is unset: the PostgreSQL benchmarks need the PG* environment "
                         "of a superuser (run through ./erds test, or start-test-pg.sh)\n");
    std::exit(2);
  }
  auto db = testing::MigratedDatabase::create();
  if (!db) {
    std::fprintf(stderr, "erds_identity_bench: cannot create a migrated test database\n");
    std::exit(2);
  }
  auto accounts = std::make_unique<PostgresAccountStore>(*db->pool);
  for (int p = 0; p < kBenchParties; ++p) {
    Party party;
    party.id = "bench-" + std::to_string(p);
    party.createdAt = SystemClock::instance().now();
    if (!accounts->createAccount(party, "mailto:bench" + std::to_string(p) + "@example.test", "$argon2id$x")) {
      std::fprintf(stderr, "erds_identity_bench: createAccount failed\n");
      std::exit(2);
    }
  }
  return {std::move(db), std::move(accounts)};
}

// `count` sessions spread over the bench parties, created through `sessions`.
std::vector<std::string> benchSessions(SessionManager& sessions, int count) {
  std::vector<std::string> tokens;
  tokens.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto s = sessions.create("bench-" + std::to_string(i % kBenchParties),
                             {LevelOfAssurance::Substantial, {AuthenticationMethod::PasswordTotp}, {}});
    tokens.emplace_back(s.value().token.reveal());
  }
  return tokens;
}

double threadCpuMicros() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

void reportPercentiles(benchmark::State& state, std::vector<double>& wall, std::vector<double>& cpu) {
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  state.counters["p50_us"] = wall[wall.size() / 2];
  state.counters["p90_us"] = wall[wall.size() * 9 / 10];
  state.counters["p99_us"] = wall[wall.size() * 99 / 100];
  state.counters["p50_cpu_us"] = cpu[cpu.size() / 2];
}

void BM_SessionCheckPostgres(benchmark::State& state) {
  auto [db, accountStore] = benchDatabase();
  PostgresAccountStore& accounts = *accountStore;
  PostgresSessionStore pgStore(*db->pool, std::chrono::minutes(30));
  CachingSessionStore cached(pgStore, SystemClock::instance());
  SessionStore& store = state.range(0) == 1 ? static_cast<SessionStore&>(cached) : pgStore;
  SessionManager sessions(store, SystemClock::instance());
  std::vector<std::string> tokens = benchSessions(sessions, 10000);
  // A working set small enough to stay cached, as on a node serving active users.
  std::size_t i = 0;
  std::vector<double> micros;
  std::vector<double> cpuMicros;
  micros.reserve(static_cast<std::size_t>(state.max_iterations));
  cpuMicros.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    const double cpu0 = threadCpuMicros();
    const auto start = std::chrono::steady_clock::now();
    auto r = sessions.check(tokens[i++ % 1000]);
    bool disabled = false;
    auto p = accounts.findParty(r.value().partyId, &disabled);
    benchmark::DoNotOptimize(p);
    micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    cpuMicros.push_back(threadCpuMicros() - cpu0);
  }
  // The budget is on the median of single checks, so report the distribution, not just the mean.
  reportPercentiles(state, micros, cpuMicros);
}
BENCHMARK(BM_SessionCheckPostgres)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->Iterations(20000);

// The production request path, as erdsd runs it: HttpAuthenticator (Bearer header, per-account
// rate limit, party row for current roles) over SessionManager over CachingSessionStore (5 s)
// over PostgresSessionStore, as the daemon role over the Unix socket. Only the measured call is
// timed (manual time); counters give the median and tail of single calls, wall and thread CPU.
//   Arg 0, cache miss: every call presents a token this node has never seen (the session was
//     created through the database directly, as by another node), so the session row comes from
//     PostgreSQL; the party row always does.
//   Arg 1, cache hit: the token was checked once just before (untimed), so the session row comes
//     from the cache; the party row still comes from PostgreSQL.
void BM_HttpAuthenticatePostgres(benchmark::State& state) {
  const bool hit = state.range(0) == 1;
  auto [db, accounts] = benchDatabase();
  PostgresSessionStore pgStore(*db->pool, std::chrono::minutes(30));
  CachingSessionStore cache(pgStore, SystemClock::instance());
  SessionManager sessions(cache, SystemClock::instance());
  HttpAuthenticator authenticator(sessions, *accounts);
  SessionManager otherNode(pgStore, SystemClock::instance());
  const auto iterations = static_cast<int>(state.max_iterations);
  std::vector<std::string> tokens = benchSessions(otherNode, hit ? 1000 : iterations);
  std::vector<http::Request> requests(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) requests[i].headers = {{"Authorization", "Bearer " + tokens[i]}};
  std::vector<double> wall;
  std::vector<double> cpu;
  wall.reserve(tokens.size());
  cpu.reserve(tokens.size());
  std::size_t i = 0;
  for (auto _ : state) {
    const http::Request& req = requests[i++ % requests.size()];
    if (hit && !authenticator.authenticate(req)) {
      state.SkipWithError("authentication failed while warming the cache");
      break;
    }
    const double cpu0 = threadCpuMicros();
    const auto start = std::chrono::steady_clock::now();
    auto who = authenticator.authenticate(req);
    const auto end = std::chrono::steady_clock::now();
    cpu.push_back(threadCpuMicros() - cpu0);
    if (!who) {
      state.SkipWithError(("authentication failed: " + who.error().message).c_str());
      break;
    }
    benchmark::DoNotOptimize(who);
    const double us = std::chrono::duration<double, std::micro>(end - start).count();
    wall.push_back(us);
    state.SetIterationTime(us / 1e6);
  }
  if (!wall.empty()) reportPercentiles(state, wall, cpu);
}
BENCHMARK(BM_HttpAuthenticatePostgres)
    ->ArgName("cache_hit")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMicrosecond)
    ->Iterations(5000)
    ->UseManualTime();

void BM_TotpCode(benchmark::State& state) {
  Secret seed = generateTotpSeed();
  int64_t step = 1;
  for (auto _ : state) benchmark::DoNotOptimize(totpCode(seed, step++));
}
BENCHMARK(BM_TotpCode)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace erds::identity
