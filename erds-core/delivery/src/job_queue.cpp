// JobQueue over the jobs table (0002_core.sql). Times come from the injected Clock, never from the
// server's now(), so tests with a FakeClock are deterministic and all nodes agree on one source.
#include "erds/core/job_queue.h"

#include "sql_util.h"

namespace erds::core {

using internal::micros;
using internal::timeParam;

namespace {

// A PostgreSQL text[] literal.
std::string textArray(const std::vector<std::string>& v) {
  std::string out = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

JobQueue::JobQueue(pg::Pool& pool, const Clock& clock, JobQueueOptions options)
    : pool_(pool), clock_(clock), options_(options) {}

Result<int64_t> JobQueue::enqueue(pg::Connection& conn, const JobSpec& job) const {
  if (job.kind.empty()) return Error::invalidInput("job kind is empty");
  if (job.maxAttempts < 1) return Error::invalidInput("job maxAttempts must be >= 1");
  const TimePoint now = clock_.now();
  const TimePoint runAt = job.runAt == TimePoint{} ? now : job.runAt;
  auto r = conn.execPrepared(
      "erds_core_job_enqueue",
      "INSERT INTO jobs (kind, payload, dedupe_key, run_at, max_attempts, created_at) "
      "VALUES ($1, $2::jsonb, $3, $4, $5, $6) ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id",
      {pg::Param::text(job.kind), pg::Param::text(job.payloadJson),
       job.dedupeKey.empty() ? pg::Param::null() : pg::Param::text(job.dedupeKey), timeParam(runAt),
       pg::Param::integer(job.maxAttempts), timeParam(now)});
  if (!r) return std::move(r).error();
  return r->rows() == 0 ? int64_t{0} : r->getInt(0, 0);
}

Result<std::vector<Job>> JobQueue::claim(const std::string& workerId, int limit,
                                         const std::vector<std::string>& kinds) const {
  if (workerId.empty()) return Error::invalidInput("worker id is empty");
  if (limit < 1) return Error::invalidInput("claim limit must be >= 1");
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  pg::Connection& c = **lease;
  const TimePoint now = clock_.now();
  const TimePoint until = now + std::chrono::duration_cast<std::chrono::microseconds>(options_.lease);
  // A job whose worker died on its last attempt would otherwise wait forever. The scan is not
  // needed on every claim (it used to dominate the database time under load with many delayed
  // expiry jobs): at most every lease/4 per process; a claimed job has run_at <= its claim time,
  // so "run_at <= now" is implied and lets the partial index jobs_ready_idx narrow the scan.
  const int64_t nowMicros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const int64_t buryEvery = std::chrono::duration_cast<std::chrono::microseconds>(options_.lease).count() / 4;
  int64_t last = lastBuryMicros_.load();
  if (last == INT64_MIN || nowMicros - last >= buryEvery || nowMicros < last) {
    if (lastBuryMicros_.compare_exchange_strong(last, nowMicros)) {
      auto dead = c.execPrepared(
          "erds_core_job_bury",
          "UPDATE jobs SET state = 'dead', locked_by = NULL, locked_until = NULL, "
          "last_error = coalesce(last_error || '; ', '') || 'lease expired on the last attempt' "
          "WHERE state = 'pending' AND run_at <= $1 AND attempts >= max_attempts AND locked_until IS NOT NULL "
          "AND locked_until <= $1",
          {timeParam(now)});
      if (!dead) return std::move(dead).error();
    }
  }
  auto r = c.execPrepared(
      "erds_core_job_claim",
      "WITH c AS (SELECT id FROM jobs WHERE state = 'pending' AND run_at <= $2 "
      "  AND (locked_until IS NULL OR locked_until <= $2) AND attempts < max_attempts "
      "  AND ($4::text[] IS NULL OR kind = ANY ($4::text[])) "
      "  ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) "
      "UPDATE jobs j SET locked_by = $1, locked_until = $5, attempts = j.attempts + 1 FROM c WHERE j.id = c.id "
      "RETURNING j.id, j.kind, j.payload::text, j.attempts, j.max_attempts, " + micros("j.locked_until"),
      {pg::Param::text(workerId), timeParam(now), pg::Param::integer(limit),
       kinds.empty() ? pg::Param::null() : pg::Param::text(textArray(kinds)), timeParam(until)});
  if (!r) return std::move(r).error();
  std::vector<Job> out;
  out.reserve(static_cast<std::size_t>(r->rows()));
  for (int i = 0; i < r->rows(); ++i) {
    Job j;
    j.id = r->getInt(i, 0);
    j.kind = r->get(i, 1);
    j.payloadJson = r->get(i, 2);
    j.attempts = static_cast<int>(r->getInt(i, 3));
    j.maxAttempts = static_cast<int>(r->getInt(i, 4));
    j.lockedUntil = internal::fromMicros(r->getInt(i, 5));
    out.push_back(std::move(j));
  }
  return out;
}

Result<void> JobQueue::complete(int64_t jobId, const std::string& workerId) const {
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared("erds_core_job_complete", "DELETE FROM jobs WHERE id = $1 AND locked_by = $2",
                                  {pg::Param::integer(jobId), pg::Param::text(workerId)});
  if (!r) return std::move(r).error();
  if (r->affectedRows() != 1) return Error::conflict("job " + std::to_string(jobId) + " is not leased by this worker");
  return ok();
}

Result<void> JobQueue::fail(int64_t jobId, const std::string& workerId, const std::string& error) const {
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared(
      "erds_core_job_fail",
      "UPDATE jobs SET locked_by = NULL, locked_until = NULL, last_error = $3, "
      "  state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END, "
      "  run_at = $4::timestamptz + make_interval(secs => least($5::double precision * "
      "    power(2, greatest(attempts - 1, 0)), $6::double precision)) "
      "WHERE id = $1 AND locked_by = $2",
      {pg::Param::integer(jobId), pg::Param::text(workerId), pg::Param::text(error.substr(0, 2000)),
       timeParam(clock_.now()), pg::Param::integer(options_.backoffBase.count()),
       pg::Param::integer(options_.backoffMax.count())});
  if (!r) return std::move(r).error();
  if (r->affectedRows() != 1) return Error::conflict("job " + std::to_string(jobId) + " is not leased by this worker");
  return ok();
}

Result<JobDepth> JobQueue::depth() const {
  auto lease = pool_.acquire();
  if (!lease) return std::move(lease).error();
  auto r = (*lease)->execPrepared(
      "erds_core_job_depth",
      "SELECT count(*) FILTER (WHERE state = 'pending' AND run_at <= $1 AND (locked_until IS NULL OR locked_until <= $1)), "
      "  count(*) FILTER (WHERE state = 'pending' AND run_at > $1 AND (locked_until IS NULL OR locked_until <= $1)), "
      "  count(*) FILTER (WHERE state = 'pending' AND locked_until > $1), "
      "  count(*) FILTER (WHERE state = 'dead') FROM jobs",
      {timeParam(clock_.now())});
  if (!r) return std::move(r).error();
  return JobDepth{r->getInt(0, 0), r->getInt(0, 1), r->getInt(0, 2), r->getInt(0, 3)};
}

}  // namespace erds::core
