// JobQueue: durable work items in PostgreSQL for the lifecycle workers. Jobs are enqueued inside
// the caller's transaction (so they commit with the state change that needs them) and claimed with
// FOR UPDATE SKIP LOCKED under a time-limited lease, so any number of worker processes can share one
// database and no job is handed to two workers while its lease runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"

namespace erds::core {

struct JobSpec {
  std::string kind;                  // e.g. kJobConsign (lifecycle.h)
  std::string payloadJson = "{}";    // a JSON object
  TimePoint runAt{};                 // not before this time (epoch = at once)
  std::string dedupeKey;             // "" = none; otherwise a second enqueue with it is a no-op
  int maxAttempts = 10;
};

struct Job {
  int64_t id = 0;
  std::string kind;
  std::string payloadJson;
  int attempts = 0;                  // including the current one
  int maxAttempts = 0;
  TimePoint lockedUntil{};
};

struct JobDepth {
  int64_t ready = 0;     // pending, due, not leased
  int64_t delayed = 0;   // pending, run_at in the future
  int64_t leased = 0;    // held by a worker whose lease has not run out
  int64_t dead = 0;      // out of attempts
};

struct JobQueueOptions {
  std::chrono::seconds lease{60};
  std::chrono::seconds backoffBase{5};    // delay after the first failure; doubles each attempt
  std::chrono::seconds backoffMax{3600};
};

// Thread-safe (state lives in the database; the pool is thread-safe).
class JobQueue {
 public:
  JobQueue(pg::Pool& pool, const Clock& clock, JobQueueOptions options = {});

  // Inserts the job using `conn`, inside its open transaction if there is one. Returns the job id,
  // or 0 if dedupeKey matched an existing job. Errors as pg::Connection.
  Result<int64_t> enqueue(pg::Connection& conn, const JobSpec& job) const;

  // Claims up to `limit` due jobs (optionally only of `kinds`) for `workerId`, leasing them until
  // now + lease and counting an attempt. Jobs whose lease ran out are claimable again. Two
  // concurrent claimers never receive the same job. Unavailable if the database is down.
  Result<std::vector<Job>> claim(const std::string& workerId, int limit,
                                 const std::vector<std::string>& kinds = {}) const;

  // Deletes a finished job. Conflict if `workerId` no longer holds its lease (the job may have been
  // claimed by someone else after the lease ran out); the caller must then treat its work as
  // possibly repeated (lifecycle steps are idempotent).
  Result<void> complete(int64_t jobId, const std::string& workerId) const;

  // Releases the job for a later retry (exponential backoff from the attempt count), or marks it
  // dead once maxAttempts is reached. `error` is stored (never put secrets in it). Conflict as for
  // complete().
  Result<void> fail(int64_t jobId, const std::string& workerId, const std::string& error) const;

  // Counts for metrics (erds_jobs{state=...}).
  Result<JobDepth> depth() const;

 private:
  pg::Pool& pool_;
  const Clock& clock_;
  JobQueueOptions options_;
  // When claim() last buried jobs whose final lease ran out (microseconds since the epoch of the
  // injected clock): the scan runs at most every lease/4 per JobQueue, not on every claim.
  mutable std::atomic<int64_t> lastBuryMicros_{INT64_MIN};
};

}  // namespace erds::core
