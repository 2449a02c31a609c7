// /healthz, /readyz, /metrics, /api/v1/openapi.json and the pool/job-queue gauges.
#include "erds/http/service_routes.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "erds/base/log.h"
#include "erds/http/problem.h"

namespace erds::http {

struct ServiceRoutes::Impl {
  ServiceRoutesOptions options;

  std::mutex jobMu;
  std::function<int64_t()> jobQueueDepth;

  // Readiness checker: one thread, one check at a time; callers wait for the generation they asked
  // for (or a later one) with a timeout.
  std::mutex mu;
  std::condition_variable cv;
  uint64_t requested = 0;
  uint64_t completed = 0;
  Readiness last;
  bool quit = false;
  std::thread worker;

  Readiness runCheck() {
    Readiness r;
    auto lease = options.pool->acquire();
    if (!lease) {
      r.detail = "database unavailable";
      log::warn("http.readyz.database", {{"error", lease.error().toString()}});
      return r;
    }
    auto status = pg::schemaStatus(**lease, options.migrations);
    if (!status) {
      r.detail = status.error().is(ErrorCode::Conflict)
                     ? "database schema is newer than this binary"
                     : "database unavailable";
      log::warn("http.readyz.schema", {{"error", status.error().toString()}});
      return r;
    }
    if (!status->upToDate()) {
      r.detail = "migrations pending: schema version " + std::to_string(status->current) + " of " +
                 std::to_string(status->latest);
      return r;
    }
    r.ready = true;
    return r;
  }

  void loop() {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return quit || requested > completed; });
      if (quit) return;
      uint64_t target = requested;
      lock.unlock();
      Readiness r;
      try {
        r = runCheck();
      } catch (const std::exception& e) {
        r = Readiness{false, "readiness check failed"};
        log::error("http.readyz.exception", {{"what", e.what()}});
      }
      lock.lock();
      last = std::move(r);
      completed = target;
      cv.notify_all();
    }
  }
};

ServiceRoutes::ServiceRoutes(ServiceRoutesOptions options) : impl_(std::make_unique<Impl>()) {
  ERDS_CHECK(options.pool != nullptr, "ServiceRoutes needs a pool");
  ERDS_CHECK(options.registry != nullptr, "ServiceRoutes needs a metrics registry");
  impl_->options = std::move(options);
  impl_->worker = std::thread([this] { impl_->loop(); });
}

ServiceRoutes::~ServiceRoutes() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->quit = true;
  }
  impl_->cv.notify_all();
  impl_->worker.join();
}

void ServiceRoutes::setJobQueueDepthSource(std::function<int64_t()> source) {
  std::lock_guard lock(impl_->jobMu);
  impl_->jobQueueDepth = std::move(source);
}

ServiceRoutes::Readiness ServiceRoutes::checkReady() {
  std::unique_lock lock(impl_->mu);
  // A check that started before this call may predate a recovery; ask for a new one.
  uint64_t want = impl_->completed + 1;
  if (impl_->requested < want) impl_->requested = want;
  impl_->cv.notify_all();
  if (!impl_->cv.wait_for(lock, impl_->options.readyTimeout,
                          [&] { return impl_->completed >= want; })) {
    return Readiness{false, "database check timed out"};
  }
  return impl_->last;
}

Result<void> ServiceRoutes::registerRoutes(Router& router) {
  metrics::Registry& reg = *impl_->options.registry;
  pg::Pool* pool = impl_->options.pool;
  struct PoolGauge {
    const char* name;
    const char* help;
    double (*get)(const pg::PoolStats&);
  };
  static const PoolGauge kGauges[] = {
      {"erds_db_pool_open", "Open database connections.",
       [](const pg::PoolStats& s) { return double(s.open); }},
      {"erds_db_pool_idle", "Idle database connections.",
       [](const pg::PoolStats& s) { return double(s.idle); }},
      {"erds_db_pool_in_use", "Borrowed database connections.",
       [](const pg::PoolStats& s) { return double(s.inUse); }},
      {"erds_db_pool_waiting", "Threads waiting for a database connection.",
       [](const pg::PoolStats& s) { return double(s.waiting); }},
      {"erds_db_pool_acquired", "Total successful connection acquisitions.",
       [](const pg::PoolStats& s) { return double(s.acquired); }},
      {"erds_db_pool_connect_failures", "Total failed connection attempts.",
       [](const pg::PoolStats& s) { return double(s.connectFailures); }},
      {"erds_db_pool_timeouts", "Total acquisitions that timed out.",
       [](const pg::PoolStats& s) { return double(s.timeouts); }},
  };
  for (const auto& g : kGauges) {
    reg.describe(g.name, "gauge", g.help);
    auto get = g.get;
    reg.gaugeCallback(g.name, {}, [pool, get] { return get(pool->stats()); });
  }
  reg.describe("erds_job_queue_depth", "gauge", "Jobs waiting in the job queue.");
  Impl* impl = impl_.get();
  reg.gaugeCallback("erds_job_queue_depth", {}, [impl] {
    std::lock_guard lock(impl->jobMu);
    return impl->jobQueueDepth ? static_cast<double>(impl->jobQueueDepth()) : 0.0;
  });

  ERDS_RETURN_IF_ERROR(router.addSchema(
      "Health",
      R"({"type":"object","properties":{"status":{"type":"string"}},"required":["status"]})"));

  RouteSpec healthz;
  healthz.method = "GET";
  healthz.path = "/healthz";
  healthz.operationId = "getHealth";
  healthz.summary = "Liveness: the process is serving requests";
  healthz.tags = {"operations"};
  healthz.responses = {{200, "Alive", "application/json", "Health"}};
  ERDS_RETURN_IF_ERROR(router.add(healthz, [](const Request&) -> Result<Response> {
    return Response::json(200, R"({"status":"alive"})");
  }));

  RouteSpec readyz;
  readyz.method = "GET";
  readyz.path = "/readyz";
  readyz.operationId = "getReadiness";
  readyz.summary = "Readiness: database reachable and migrations current";
  readyz.description =
      "Answers 503 application/problem+json naming what is missing; never waits more than ~2 s.";
  readyz.tags = {"operations"};
  readyz.responses = {{200, "Ready", "application/json", "Health"},
                      {503, "Not ready", std::string(kProblemContentType), "Problem"}};
  ERDS_RETURN_IF_ERROR(router.add(readyz, [this](const Request& req) -> Result<Response> {
    Readiness r = checkReady();
    if (!r.ready) {
      // Not an Error: the generic 503 detail would hide which check failed, and saying that is
      // the point of /readyz.
      return Response::text(
          503,
          renderProblem(problemType(ErrorCode::Unavailable), r.detail, req.path, req.requestId),
          std::string(kProblemContentType));
    }
    return Response::json(200, R"({"status":"ready"})");
  }));

  RouteSpec metricsRoute;
  metricsRoute.method = "GET";
  metricsRoute.path = "/metrics";
  metricsRoute.operationId = "getMetrics";
  metricsRoute.summary = "Prometheus metrics (text exposition format 0.0.4)";
  metricsRoute.tags = {"operations"};
  metricsRoute.responses = {{200, "Metrics", "text/plain; version=0.0.4", ""}};
  metrics::Registry* regPtr = &reg;
  ERDS_RETURN_IF_ERROR(router.add(metricsRoute, [regPtr](const Request&) -> Result<Response> {
    return Response::text(200, regPtr->render(), "text/plain; version=0.0.4; charset=utf-8");
  }));

  RouteSpec openapi;
  openapi.method = "GET";
  openapi.path = "/api/v1/openapi.json";
  openapi.operationId = "getOpenApi";
  openapi.summary = "This OpenAPI 3.1 document, generated from the registered routes";
  openapi.tags = {"operations"};
  openapi.responses = {{200, "OpenAPI document", "application/json", ""}};
  const Router* routerPtr = &router;
  ApiInfo info = impl_->options.api;
  auto cache = std::make_shared<std::pair<std::once_flag, std::string>>();
  ERDS_RETURN_IF_ERROR(
      router.add(openapi, [routerPtr, info, cache](const Request&) -> Result<Response> {
        // The router is frozen once the server runs, so the document is built once.
        std::call_once(cache->first, [&] { cache->second = routerPtr->openApiDocument(info); });
        return Response::json(200, cache->second);
      }));
  return ok();
}

}  // namespace erds::http
