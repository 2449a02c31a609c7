// JSON-lines logger: one mutex-protected write per event, so lines from threads never interleave.
#include "erds/base/log.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>

#include "erds/base/clock.h"

#include <openssl/rand.h>

namespace erds::log {
namespace {

struct State {
  std::mutex mu;
  std::string component = "erds";
  std::atomic<int> minLevel{static_cast<int>(Level::Info)};
  std::string* sink = nullptr;
};

State& state() {
  static State* s = new State();  // never destroyed: logging may happen during static teardown
  return *s;
}

thread_local std::string tlsRequestId;

std::string_view levelName(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
  }
  return "info";
}

void appendQuoted(std::string& out, std::string_view s) {
  out += '"';
  out += jsonEscape(s);
  out += '"';
}

void appendValue(std::string& out, const Value& v) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    appendQuoted(out, *s);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    out += std::to_string(*i);
  } else if (const auto* d = std::get_if<double>(&v)) {
    if (!std::isfinite(*d)) {
      out += "null";  // JSON has no NaN/Infinity
    } else {
      char buf[32];
      int n = std::snprintf(buf, sizeof buf, "%.17g", *d);
      out.append(buf, static_cast<std::size_t>(n));
    }
  } else if (const auto* b = std::get_if<bool>(&v)) {
    out += *b ? "true" : "false";
  }
}

}  // namespace

void init(std::string component, Level minLevel) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.component = std::move(component);
  s.minLevel = static_cast<int>(minLevel);
}

Level parseLevel(std::string_view s, Level fallback) {
  if (s == "debug") return Level::Debug;
  if (s == "info") return Level::Info;
  if (s == "warn" || s == "warning") return Level::Warn;
  if (s == "error") return Level::Error;
  return fallback;
}

void setSinkForTest(std::string* sink) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.sink = sink;
}

void write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  State& s = state();
  if (static_cast<int>(level) < s.minLevel.load(std::memory_order_relaxed)) return;
  // Format outside the lock; only the component name and the output need it.
  std::string line;
  line.reserve(128);
  line += "{\"ts\":\"";
  line += formatRfc3339(SystemClock::instance().now());
  line += "\",\"level\":\"";
  line += levelName(level);
  line += "\",\"component\":";
  std::string body = ",\"event\":";
  appendQuoted(body, event);
  if (!tlsRequestId.empty()) {
    body += ",\"request_id\":";
    appendQuoted(body, tlsRequestId);
  }
  for (const Field& f : fields) {
    // Reserved keys cannot be overwritten by a field (a JSON object with duplicate keys is ambiguous).
    if (f.key == "ts" || f.key == "level" || f.key == "component" || f.key == "event" ||
        f.key == "request_id") {
      body += ",\"field_";
    } else {
      body += ",\"";
    }
    body += jsonEscape(f.key);
    body += "\":";
    appendValue(body, f.value);
  }
  body += "}\n";

  std::lock_guard<std::mutex> lock(s.mu);
  appendQuoted(line, s.component);
  line += body;
  if (s.sink != nullptr) {
    *s.sink += line;
  } else {
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
}

const std::string& currentRequestId() { return tlsRequestId; }

ScopedRequestId::ScopedRequestId(std::string id) : previous_(std::move(tlsRequestId)) {
  tlsRequestId = std::move(id);
}

ScopedRequestId::~ScopedRequestId() { tlsRequestId = std::move(previous_); }

std::string newRequestId() {
  unsigned char raw[8];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    // Request ids are correlation handles, not secrets; fall back rather than fail a request.
    static std::atomic<uint64_t> counter{0};
    uint64_t v = ++counter ^ static_cast<uint64_t>(SystemClock::instance().now().time_since_epoch().count());
    for (int i = 0; i < 8; ++i) raw[i] = static_cast<unsigned char>(v >> (8 * i));
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(16);
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

namespace {

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 if it is not well-formed.
std::size_t utf8SequenceLength(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    if (i + k >= s.size()) return false;
    const auto b = static_cast<unsigned char>(s[i + k]);
    return b >= lo && b <= hi;
  };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
  if (b0 == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (b0 == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (b0 == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xF1 && b0 <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

}  // namespace

std::string jsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // Well-formed UTF-8 passes through; anything else becomes U+FFFD so the output is always
      // valid JSON (RFC 8259 section 8.1), whatever bytes a client sent.
      const std::size_t n = utf8SequenceLength(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  return out;
}

}  // namespace erds::log
