// JSON-lines logging: one JSON object per line on stderr (or a file), with the request id of the
// current thread's request. Never log secrets: erds::Secret has no implicit conversion to string.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace erds::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

using Value = std::variant<std::string, int64_t, double, bool>;
struct Field {
  std::string key;
  Value value;
  Field(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  Field(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
  Field(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
  Field(std::string k, int64_t v) : key(std::move(k)), value(v) {}
  Field(std::string k, int v) : key(std::move(k)), value(static_cast<int64_t>(v)) {}
  Field(std::string k, unsigned v) : key(std::move(k)), value(static_cast<int64_t>(v)) {}
  Field(std::string k, long unsigned v) : key(std::move(k)), value(static_cast<int64_t>(v)) {}
  Field(std::string k, double v) : key(std::move(k)), value(v) {}
  Field(std::string k, bool v) : key(std::move(k)), value(v) {}
};

// Process-wide setup. `component` names the process ("erdsd"). Thread-safe after init.
void init(std::string component, Level minLevel);
Level parseLevel(std::string_view s, Level fallback = Level::Info);
// Redirect output (tests). Pass nullptr to restore stderr. Not owned.
void setSinkForTest(std::string* sink);

// Emits {"ts":..., "level":..., "component":..., "event": event, "request_id":..., fields...}.
void write(Level level, std::string_view event, std::initializer_list<Field> fields = {});
inline void debug(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Debug, e, f); }
inline void info(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Info, e, f); }
inline void warn(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Warn, e, f); }
inline void error(std::string_view e, std::initializer_list<Field> f = {}) { write(Level::Error, e, f); }

// The request id of the calling thread ("" when none).
const std::string& currentRequestId();
// Sets the calling thread's request id for its lifetime, restoring the previous one after.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};
// A new random request id (16 hex characters).
std::string newRequestId();

// JSON string escaping (RFC 8259) of the contents only: the surrounding quotes are not added.
std::string jsonEscape(std::string_view s);

}  // namespace erds::log
