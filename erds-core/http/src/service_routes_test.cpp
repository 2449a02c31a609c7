// Operational routes without a database: readiness must answer 503 quickly when PostgreSQL is
// unreachable (the 200 path runs in tests/integration against a real server).
#include "erds/http/service_routes.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <gtest/gtest.h>

#include <chrono>

#include "erds/base/log.h"

namespace erds::http {
namespace {

class ServiceRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::init("test", log::Level::Error);
    pg::PoolOptions po;
    po.conninfo = "host=/nonexistent-erds-socket-dir port=1 dbname=x user=x";
    po.size = 2;
    po.acquireTimeout = std::chrono::milliseconds(500);
    pool = std::make_unique<pg::Pool>(po);
    ServiceRoutesOptions o;
    o.pool = pool.get();
    o.registry = &registry;
    o.api = ApiInfo{"erds API", "9.9.9", ""};
    routes = std::make_unique<ServiceRoutes>(std::move(o));
    ASSERT_TRUE(routes->registerRoutes(router));
  }

  Result<Response> call(const std::string& method, const std::string& path) {
    auto m = router.match(method, path);
    EXPECT_EQ(m.status, Router::MatchStatus::Found) << path;
    if (m.status != Router::MatchStatus::Found) return Error::notFound(path);
    Request r;
    r.method = method;
    r.path = path;
    r.requestId = "rid-7";
    return (*m.handler)(r);
  }

  metrics::Registry registry;
  std::unique_ptr<pg::Pool> pool;
  Router router;
  std::unique_ptr<ServiceRoutes> routes;
};

TEST_F(ServiceRoutesTest, RegistersTheOperationalRoutes) {
  EXPECT_EQ(router.routeList(),
            (std::vector<std::string>{"GET /api/v1/openapi.json", "GET /healthz", "GET /metrics",
                                      "GET /readyz"}));
}

TEST_F(ServiceRoutesTest, HealthzIsAlive) {
  auto r = call("GET", "/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"status":"alive"})");
}

TEST_F(ServiceRoutesTest, ReadyzIs503ProblemWhenDatabaseIsDownAndAnswersQuickly) {
  auto start = std::chrono::steady_clock::now();
  auto r = call("GET", "/readyz");
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->contentType, "application/problem+json");
  Poco::JSON::Parser p;
  auto obj = p.parse(r->body).extract<Poco::JSON::Object::Ptr>();
  EXPECT_EQ(obj->getValue<int>("status"), 503);
  std::string detail = obj->getValue<std::string>("detail");
  EXPECT_TRUE(detail == "database unavailable" || detail == "database check timed out") << detail;
  EXPECT_EQ(obj->getValue<std::string>("request_id"), "rid-7");
  EXPECT_LT(elapsed, std::chrono::milliseconds(2600));
}

TEST_F(ServiceRoutesTest, MetricsExposePoolAndJobQueueGauges) {
  auto before = call("GET", "/metrics");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->contentType.rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_NE(before->body.find("erds_db_pool_open"), std::string::npos) << before->body;
  EXPECT_NE(before->body.find("erds_db_pool_in_use"), std::string::npos);
  EXPECT_NE(before->body.find("erds_job_queue_depth 0"), std::string::npos) << before->body;
  routes->setJobQueueDepthSource([] { return int64_t{17}; });
  auto after = call("GET", "/metrics");
  EXPECT_NE(after->body.find("erds_job_queue_depth 17"), std::string::npos) << after->body;
}

TEST_F(ServiceRoutesTest, OpenApiDocumentsEveryRouteIncludingItself) {
  auto r = call("GET", "/api/v1/openapi.json");
  ASSERT_TRUE(r);
  Poco::JSON::Parser p;
  auto doc = p.parse(r->body).extract<Poco::JSON::Object::Ptr>();
  EXPECT_EQ(doc->getValue<std::string>("openapi"), "3.1.0");
  EXPECT_EQ(doc->getObject("info")->getValue<std::string>("version"), "9.9.9");
  auto paths = doc->getObject("paths");
  for (const char* path : {"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"}) {
    EXPECT_TRUE(paths->has(path)) << path;
  }
}

}  // namespace
}  // namespace erds::http
