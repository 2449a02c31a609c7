// Request/Response helpers.
#include "erds/http/message.h"

#include <cctype>

namespace erds::http {

Result<std::string> BodyReader::readAll() {
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    auto n = read(buf, sizeof buf);
    if (!n) return std::move(n).error();
    if (*n == 0) return out;
    out.append(buf, *n);
  }
}

bool headerNameEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

namespace {
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> percentDecode(std::string_view s, bool plusAsSpace) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hexValue(s[i + 1]);
      int lo = hexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') return std::nullopt;
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && plusAsSpace) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

const std::string* Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (headerNameEquals(k, name)) return &v;
  }
  return nullptr;
}

const std::string& Request::param(const std::string& name) const {
  static const std::string kEmpty;
  auto it = pathParams.find(name);
  return it == pathParams.end() ? kEmpty : it->second;
}

std::optional<std::string> Request::queryParam(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    std::size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    std::size_t eq = pair.find('=');
    auto key = percentDecode(pair.substr(0, eq), true);
    if (!key || *key != name) continue;
    if (eq == std::string_view::npos) return std::string();
    return percentDecode(pair.substr(eq + 1), true);
  }
  return std::nullopt;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.contentType = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::text(int status, std::string body, std::string contentType) {
  Response r;
  r.status = status;
  r.contentType = std::move(contentType);
  r.body = std::move(body);
  return r;
}

Response Response::noContent() {
  Response r;
  r.status = 204;
  return r;
}

}  // namespace erds::http
