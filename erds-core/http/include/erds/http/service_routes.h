// The operational routes every erdsd serves: GET /healthz, /readyz, /metrics and
// /api/v1/openapi.json, plus the database pool and job queue gauges.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "erds/base/metrics.h"
#include "erds/base/migrations.h"
#include "erds/base/pg.h"
#include "erds/base/result.h"
#include "erds/http/router.h"

namespace erds::http {

struct ServiceRoutesOptions {
  pg::Pool* pool = nullptr;                      // required; must outlive ServiceRoutes
  std::vector<pg::Migration> migrations;         // the versions this binary knows
  metrics::Registry* registry = nullptr;         // required; must outlive ServiceRoutes
  std::chrono::milliseconds readyTimeout{2000};  // /readyz never waits longer than this
  ApiInfo api;
};

// Owns a background thread that runs readiness checks (one at a time; concurrent /readyz calls
// share the running check), so /readyz answers within readyTimeout even if the database hangs.
class ServiceRoutes : public RouteProvider {
 public:
  explicit ServiceRoutes(ServiceRoutesOptions options);
  ~ServiceRoutes() override;  // joins the checker thread (waits for a running check to finish)
  ServiceRoutes(const ServiceRoutes&) = delete;
  ServiceRoutes& operator=(const ServiceRoutes&) = delete;

  // Adds GET /healthz, /readyz, /metrics and /api/v1/openapi.json (which documents `router`
  // itself, all routes included) and registers the erds_db_pool_* and erds_job_queue_depth
  // gauges. `router` must outlive every request served. Call once. The gauges call back into this
  // object and the pool: do not render the registry after ServiceRoutes is destroyed (stop the
  // server first).
  Result<void> registerRoutes(Router& router) override;

  // Sets the source of erds_job_queue_depth (0 until set). Thread-safe; the core calls this once
  // it owns a job table.
  void setJobQueueDepthSource(std::function<int64_t()> source);

  struct Readiness {
    bool ready = false;
    std::string detail;  // why not ready ("database unavailable", "migrations pending: 0 of 3")
  };
  // Runs (or joins) a readiness check, waiting at most readyTimeout. Thread-safe.
  Readiness checkReady();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace erds::http
