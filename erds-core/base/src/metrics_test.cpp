#include "erds/base/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace erds::metrics {
namespace {

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

TEST(MetricsTest, CountersAndGaugesWithHelpAndType) {
  Registry r;
  r.describe("erds_requests_total", "counter", "HTTP requests.\nBy route.");
  r.inc("erds_requests_total", {{"route", "/api/v1/messages"}, {"code", "200"}});
  r.inc("erds_requests_total", {{"route", "/api/v1/messages"}, {"code", "200"}}, 2);
  r.inc("erds_requests_total", {{"code", "500"}, {"route", "/x"}});
  r.setGauge("erds_queue_depth", {}, 7);
  r.setGauge("erds_queue_depth", {}, 3.25);
  const std::string out = r.render();
  EXPECT_TRUE(contains(out, "# HELP erds_requests_total HTTP requests.\\nBy route.\n")) << out;
  EXPECT_TRUE(contains(out, "# TYPE erds_requests_total counter\n"));
  EXPECT_TRUE(contains(out, "erds_requests_total{code=\"200\",route=\"/api/v1/messages\"} 3\n")) << out;
  EXPECT_TRUE(contains(out, "erds_requests_total{code=\"500\",route=\"/x\"} 1\n"));
  EXPECT_TRUE(contains(out, "# TYPE erds_queue_depth gauge\nerds_queue_depth 3.25\n")) << out;
  // Families sorted by name, TYPE before samples.
  EXPECT_LT(out.find("erds_queue_depth"), out.find("erds_requests_total"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Registry r;
  r.inc("x_total", {{"v", "a\"b\\c\nd"}});
  EXPECT_TRUE(contains(r.render(), "x_total{v=\"a\\\"b\\\\c\\nd\"} 1\n")) << r.render();
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Registry r;
  r.describe("erds_latency_seconds", "histogram", "Latency.");
  r.observe("erds_latency_seconds", {{"op", "seal"}}, 0.0005);
  r.observe("erds_latency_seconds", {{"op", "seal"}}, 0.003);
  r.observe("erds_latency_seconds", {{"op", "seal"}}, 0.003);
  r.observe("erds_latency_seconds", {{"op", "seal"}}, 42);
  const std::string out = r.render();
  EXPECT_TRUE(contains(out, "# TYPE erds_latency_seconds histogram\n"));
  EXPECT_TRUE(contains(out, "erds_latency_seconds_bucket{op=\"seal\",le=\"0.001\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "erds_latency_seconds_bucket{op=\"seal\",le=\"0.0025\"} 1\n"));
  EXPECT_TRUE(contains(out, "erds_latency_seconds_bucket{op=\"seal\",le=\"0.005\"} 3\n"));
  EXPECT_TRUE(contains(out, "erds_latency_seconds_bucket{op=\"seal\",le=\"10\"} 3\n"));
  EXPECT_TRUE(contains(out, "erds_latency_seconds_bucket{op=\"seal\",le=\"+Inf\"} 4\n"));
  EXPECT_TRUE(contains(out, "erds_latency_seconds_sum{op=\"seal\"} 42.0065\n")) << out;
  EXPECT_TRUE(contains(out, "erds_latency_seconds_count{op=\"seal\"} 4\n"));
}

TEST(MetricsTest, GaugeCallbacksEvaluatedAtScrape) {
  Registry r;
  double v = 1;
  r.gaugeCallback("erds_pool_open", {{"pool", "main"}}, [&v] { return v; });
  EXPECT_TRUE(contains(r.render(), "erds_pool_open{pool=\"main\"} 1\n"));
  v = 5;
  EXPECT_TRUE(contains(r.render(), "erds_pool_open{pool=\"main\"} 5\n"));
}

TEST(MetricsTest, ConcurrentIncrements) {
  Registry r;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&r] {
      for (int i = 0; i < 1000; ++i) r.inc("c_total");
    });
  for (auto& t : ts) t.join();
  EXPECT_TRUE(contains(r.render(), "c_total 4000\n"));
}

TEST(MetricsTest, GlobalIsOneInstance) { EXPECT_EQ(&Registry::global(), &Registry::global()); }

TEST(MetricsDeathTest, MisuseIsABug) {
  Registry r;
  r.inc("a_total");
  EXPECT_DEATH(r.setGauge("a_total", {}, 1), "used as gauge");
  EXPECT_DEATH(r.inc("bad-name"), "invalid Prometheus metric name");
  EXPECT_DEATH(r.inc("ok_total", {{"le", "1"}}), "invalid Prometheus label name");
}

}  // namespace
}  // namespace erds::metrics
