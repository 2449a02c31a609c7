// Small helpers of the message API: a JSON object writer (escaped strings, no DOM) and RFC 3339
// parsing. Private to erds::api.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "erds/base/clock.h"

namespace erds::api::internal {

// Appends members to a JSON object or array text; the caller closes it. Not thread-safe.
class JsonWriter {
 public:
  JsonWriter& beginObject();
  JsonWriter& endObject();
  JsonWriter& beginArray();
  JsonWriter& endArray();
  JsonWriter& key(std::string_view k);
  JsonWriter& string(std::string_view v);
  JsonWriter& number(int64_t v);
  JsonWriter& boolean(bool v);
  JsonWriter& null();
  JsonWriter& time(TimePoint t);  // RFC 3339 string
  JsonWriter& field(std::string_view k, std::string_view v) { return key(k).string(v); }
  JsonWriter& field(std::string_view k, const char* v) { return key(k).string(v); }
  JsonWriter& field(std::string_view k, const std::string& v) { return key(k).string(v); }
  JsonWriter& field(std::string_view k, int64_t v) { return key(k).number(v); }
  JsonWriter& field(std::string_view k, int v) { return key(k).number(v); }
  JsonWriter& field(std::string_view k, bool v) { return key(k).boolean(v); }
  const std::string& str() const { return out_; }

 private:
  void separate();
  std::string out_;
  bool needComma_ = false;
};

// "2026-11-27T10:00:00Z", with optional fraction and a Z or +hh:mm offset. nullopt otherwise.
std::optional<TimePoint> parseRfc3339(std::string_view s);

}  // namespace erds::api::internal
