// WorkerPool: the lifecycle workers of erdsd. Threads claim jobs from the core's JobQueue
// (FOR UPDATE SKIP LOCKED, so several erdsd processes share one database) and apply the lifecycle
// transitions: notify for acceptance, consign, notify consignment, expire. Every transition is
// idempotent in the core, so a job run twice (lease lost, crash) never issues evidence twice.
// Also collects unsubmitted uploads periodically.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "erds/api/ports.h"
#include "erds/base/clock.h"
#include "erds/base/result.h"
#include "erds/core/content_vault.h"
#include "erds/core/delivery_store.h"
#include "erds/core/job_queue.h"

namespace erds::api {

struct WorkerPoolOptions {
  int threads = 2;
  int batch = 8;                                             // jobs claimed per round
  std::chrono::milliseconds idlePoll{500};                   // sleep when no job is due
  std::chrono::milliseconds gcInterval{std::chrono::minutes(10)};
  std::chrono::seconds uploadRetention{std::chrono::hours(24)};  // unsubmitted uploads kept this long
  std::string workerIdPrefix = "erdsd";
};

// Everything must outlive the pool.
struct WorkerPoolDeps {
  core::JobQueue* jobs = nullptr;
  core::DeliveryStore* store = nullptr;
  core::ContentVault* vault = nullptr;
  DeliveryNotifier* notifier = nullptr;
  const Clock* clock = nullptr;
};

class WorkerPool {
 public:
  WorkerPool(WorkerPoolDeps deps, WorkerPoolOptions options = {});
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts the threads. Call once.
  void start();
  // Asks the threads to finish their current job and joins them. Idempotent.
  void stop();

  // One round on the calling thread: claims up to `batch` due jobs and runs them. Returns how many
  // were handled (completed or released for retry). Unavailable if the claim fails. Thread-safe.
  Result<int> runOnce(const std::string& workerId);
  // One garbage-collection pass (unsubmitted uploads older than uploadRetention).
  Result<int64_t> collectGarbage();

  // Runs one claimed job. Exposed for tests.
  Result<void> handle(const core::Job& job);

 private:
  void loop(int n);
  Result<void> notifyForAcceptance(const std::string& messageId, int index, const core::Job& job);
  Result<void> consign(const std::string& messageId, int index);
  Result<void> notifyConsignment(const std::string& messageId, int index, const core::Job& job);
  Result<void> expire(const std::string& messageId);
  Result<void> apply(const std::string& messageId, int index, core::Event event);

  WorkerPoolDeps deps_;
  WorkerPoolOptions options_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::chrono::steady_clock::time_point lastGc_{};
};

}  // namespace erds::api
