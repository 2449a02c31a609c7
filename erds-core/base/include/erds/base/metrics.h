// Prometheus metrics: counters, gauges and histograms rendered in the text exposition format.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace erds::metrics {

using Labels = std::map<std::string, std::string>;

// All operations are thread-safe. Metric objects live as long as the registry.
class Registry {
 public:
  // Adds `delta` to counter `name` with `labels` (created on first use).
  void inc(const std::string& name, const Labels& labels = {}, double delta = 1.0);
  void setGauge(const std::string& name, const Labels& labels, double value);
  // Observes `value` (seconds) in histogram `name` (default latency buckets 1ms..10s).
  void observe(const std::string& name, const Labels& labels, double value);
  // A gauge computed at scrape time (pool stats, job queue depth).
  void gaugeCallback(const std::string& name, const Labels& labels, std::function<double()> fn);
  void describe(const std::string& name, const std::string& type, const std::string& help);

  // Text exposition format 0.0.4.
  std::string render() const;

  static Registry& global();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl() const;
  mutable std::mutex mu_;
  mutable std::shared_ptr<Impl> impl_;
};

}  // namespace erds::metrics
