// Prometheus text exposition (format 0.0.4): families sorted by name, HELP/TYPE first, label
// values escaped, histograms as cumulative _bucket series plus _sum and _count.
#include "erds/base/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "erds/base/result.h"

namespace erds::metrics {
namespace {

const std::vector<double> kDefaultBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

bool validMetricName(const std::string& n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool validLabelName(const std::string& n) {
  if (n.empty() || n.rfind("__", 0) == 0) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string escapeLabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // Shortest of %.15g / %.17g that reads back as the same double.
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string renderLabels(const Labels& labels, const std::string* extraKey = nullptr,
                         const std::string* extraValue = nullptr) {
  if (labels.empty() && extraKey == nullptr) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k + "=\"" + escapeLabelValue(v) + "\"";
  }
  if (extraKey != nullptr) {
    if (!first) out += ',';
    out += *extraKey + "=\"" + escapeLabelValue(*extraValue) + "\"";
  }
  out += '}';
  return out;
}

void checkLabels(const Labels& labels) {
  for (const auto& [k, v] : labels) {
    ERDS_CHECK(validLabelName(k) && k != "le", "invalid Prometheus label name '" + k + "'");
  }
}

struct Histogram {
  std::vector<uint64_t> counts;  // per bucket, not cumulative
  uint64_t count = 0;
  double sum = 0;
};

struct Family {
  std::string type;  // counter | gauge | histogram | "" (undescribed so far)
  std::string help;
  std::map<Labels, double> values;
  std::map<Labels, std::function<double()>> callbacks;
  std::map<Labels, Histogram> histograms;
};

}  // namespace

struct Registry::Impl {
  std::mutex mu;
  std::map<std::string, Family> families;

  Family& family(const std::string& name, const char* type) {
    ERDS_CHECK(validMetricName(name), "invalid Prometheus metric name '" + name + "'");
    Family& f = families[name];
    if (f.type.empty()) f.type = type;
    ERDS_CHECK(f.type == type, "metric '" + name + "' used as " + type + " but it is a " + f.type);
    return f;
  }
};

std::shared_ptr<Registry::Impl> Registry::impl() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!impl_) impl_ = std::make_shared<Impl>();
  return impl_;
}

void Registry::inc(const std::string& name, const Labels& labels, double delta) {
  checkLabels(labels);
  auto im = impl();
  std::lock_guard<std::mutex> lock(im->mu);
  im->family(name, "counter").values[labels] += delta;
}

void Registry::setGauge(const std::string& name, const Labels& labels, double value) {
  checkLabels(labels);
  auto im = impl();
  std::lock_guard<std::mutex> lock(im->mu);
  im->family(name, "gauge").values[labels] = value;
}

void Registry::observe(const std::string& name, const Labels& labels, double value) {
  checkLabels(labels);
  auto im = impl();
  std::lock_guard<std::mutex> lock(im->mu);
  Histogram& h = im->family(name, "histogram").histograms[labels];
  if (h.counts.empty()) h.counts.assign(kDefaultBuckets.size(), 0);
  for (std::size_t i = 0; i < kDefaultBuckets.size(); ++i) {
    if (value <= kDefaultBuckets[i]) {
      ++h.counts[i];
      break;
    }
  }
  ++h.count;
  h.sum += value;
}

void Registry::gaugeCallback(const std::string& name, const Labels& labels, std::function<double()> fn) {
  checkLabels(labels);
  auto im = impl();
  std::lock_guard<std::mutex> lock(im->mu);
  im->family(name, "gauge").callbacks[labels] = std::move(fn);
}

void Registry::describe(const std::string& name, const std::string& type, const std::string& help) {
  ERDS_CHECK(type == "counter" || type == "gauge" || type == "histogram", "unknown metric type '" + type + "'");
  auto im = impl();
  std::lock_guard<std::mutex> lock(im->mu);
  im->family(name, type.c_str()).help = help;
}

std::string Registry::render() const {
  auto im = impl();
  // Callbacks may take other locks (pool stats); evaluate them without holding ours.
  std::map<std::string, std::map<Labels, std::function<double()>>> callbacks;
  {
    std::lock_guard<std::mutex> lock(im->mu);
    for (const auto& [name, f] : im->families)
      if (!f.callbacks.empty()) callbacks[name] = f.callbacks;
  }
  std::map<std::string, std::map<Labels, double>> computed;
  for (const auto& [name, cbs] : callbacks)
    for (const auto& [labels, fn] : cbs) computed[name][labels] = fn ? fn() : 0.0;

  std::lock_guard<std::mutex> lock(im->mu);
  std::string out;
  for (const auto& [name, f] : im->families) {
    if (!f.help.empty()) out += "# HELP " + name + " " + escapeHelp(f.help) + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    if (f.type == "histogram") {
      for (const auto& [labels, h] : f.histograms) {
        uint64_t cumulative = 0;
        static const std::string kLe = "le";
        for (std::size_t i = 0; i < kDefaultBuckets.size(); ++i) {
          cumulative += h.counts[i];
          std::string le = formatValue(kDefaultBuckets[i]);
          out += name + "_bucket" + renderLabels(labels, &kLe, &le) + " " + std::to_string(cumulative) + "\n";
        }
        std::string inf = "+Inf";
        out += name + "_bucket" + renderLabels(labels, &kLe, &inf) + " " + std::to_string(h.count) + "\n";
        out += name + "_sum" + renderLabels(labels) + " " + formatValue(h.sum) + "\n";
        out += name + "_count" + renderLabels(labels) + " " + std::to_string(h.count) + "\n";
      }
      continue;
    }
    std::map<Labels, double> all = f.values;
    if (auto it = computed.find(name); it != computed.end())
      for (const auto& [labels, v] : it->second) all[labels] = v;
    for (const auto& [labels, v] : all) out += name + renderLabels(labels) + " " + formatValue(v) + "\n";
  }
  return out;
}

Registry& Registry::global() {
  static Registry* r = new Registry();  // never destroyed: worker threads may outlive main's statics
  return *r;
}

}  // namespace erds::metrics
