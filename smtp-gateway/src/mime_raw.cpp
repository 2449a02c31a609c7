#include "mime_raw.h"

#include <algorithm>
#include <cctype>

namespace erds::smtp::internal {

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

std::optional<std::string> RawEntity::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::vector<std::string> RawEntity::headers_named(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& h : headers) {
    if (iequals(h.name, name)) out.push_back(h.value);
  }
  return out;
}

Result<RawEntity> parseEntity(std::string_view raw, std::size_t maxHeaders) {
  RawEntity e;
  std::size_t pos = 0;
  while (true) {
    if (pos >= raw.size()) {  // header-only entity without the empty line
      e.headerBlock = raw;
      e.body = std::string_view();
      break;
    }
    std::size_t lf = raw.find('\n', pos);
    std::size_t end = lf == std::string_view::npos ? raw.size() : lf + 1;
    std::string_view line = raw.substr(pos, end - pos);
    std::string_view content = line;
    if (lf != std::string_view::npos) {
      if (line.size() < 2 || line[line.size() - 2] != '\r') return Error::invalidInput("bare LF in header");
      content = line.substr(0, line.size() - 2);
    }
    if (content.find('\r') != std::string_view::npos) return Error::invalidInput("bare CR in header");
    if (content.empty() && lf != std::string_view::npos) {
      e.headerBlock = raw.substr(0, pos);
      e.body = raw.substr(end);
      break;
    }
    if (content.front() == ' ' || content.front() == '\t') {
      if (e.headers.empty()) return Error::invalidInput("header continuation without a field");
      std::string& v = e.headers.back().value;
      v += ' ';
      v += trim(content);
    } else {
      std::size_t colon = content.find(':');
      if (colon == std::string_view::npos || colon == 0)
        return Error::invalidInput("malformed header line");
      std::string_view name = content.substr(0, colon);
      // obs-syntax allows WSP before the colon; field names are printable ASCII otherwise.
      std::string_view tname = trim(name);
      if (tname.empty()) return Error::invalidInput("malformed header name");
      for (char c : tname) {
        auto u = static_cast<unsigned char>(c);
        if (u < 33 || u > 126) return Error::invalidInput("invalid character in header name");
      }
      if (e.headers.size() >= maxHeaders) return Error::invalidInput("too many header fields");
      e.headers.push_back({std::string(tname), std::string(trim(content.substr(colon + 1)))});
    }
    pos = end;
  }
  return e;
}

std::map<std::string, std::string> parseParams(std::string_view value, std::string* first) {
  std::map<std::string, std::string> params;
  // Strip RFC 822 comments outside quoted strings.
  std::string v;
  bool quoted = false;
  int depth = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (quoted) {
      v += c;
      if (c == '\\' && i + 1 < value.size()) v += value[++i];
      else if (c == '"') quoted = false;
      continue;
    }
    if (depth > 0) {
      if (c == '(') ++depth;
      else if (c == ')') --depth;
      continue;
    }
    if (c == '(') { ++depth; continue; }
    if (c == '"') quoted = true;
    v += c;
  }
  std::size_t semi = v.find(';');
  if (first != nullptr) *first = std::string(trim(std::string_view(v).substr(0, semi)));
  std::size_t pos = semi;
  while (pos != std::string::npos && pos < v.size()) {
    ++pos;  // skip ';'
    std::size_t eq = v.find('=', pos);
    std::size_t nextSemi = v.find(';', pos);
    if (eq == std::string::npos || (nextSemi != std::string::npos && nextSemi < eq)) {
      pos = nextSemi;
      continue;
    }
    std::string name = toLower(trim(std::string_view(v).substr(pos, eq - pos)));
    std::size_t i = eq + 1;
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
    std::string val;
    if (i < v.size() && v[i] == '"') {
      ++i;
      while (i < v.size() && v[i] != '"') {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        val += v[i++];
      }
      if (i < v.size()) ++i;
      pos = v.find(';', i);
    } else {
      std::size_t e = v.find(';', i);
      val = std::string(trim(std::string_view(v).substr(i, e == std::string::npos ? std::string::npos : e - i)));
      pos = e;
    }
    if (!name.empty() && params.find(name) == params.end()) params[name] = val;
  }
  return params;
}

std::string ContentType::param(std::string_view name) const {
  auto it = params.find(toLower(name));
  return it == params.end() ? std::string() : it->second;
}

Result<ContentType> parseContentType(std::string_view value) {
  ContentType ct;
  std::string first;
  ct.params = parseParams(value, &first);
  std::size_t slash = first.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= first.size())
    return Error::invalidInput("malformed Content-Type");
  ct.type = toLower(trim(std::string_view(first).substr(0, slash)));
  ct.subtype = toLower(trim(std::string_view(first).substr(slash + 1)));
  return ct;
}

Result<Multipart> splitMultipart(std::string_view body, std::string_view boundary) {
  if (boundary.empty() || boundary.size() > 70) return Error::invalidInput("invalid multipart boundary");
  std::string delim = "--" + std::string(boundary);
  Multipart mp;
  // Find delimiter lines: at the body start or after CRLF.
  std::vector<std::pair<std::size_t, std::size_t>> lines;  // (start of "--", start of next line)
  std::vector<bool> closing;
  std::size_t pos = 0;
  while (pos <= body.size()) {
    std::size_t found = body.find(delim, pos);
    if (found == std::string_view::npos) break;
    bool atLineStart = found == 0 || (found >= 2 && body[found - 1] == '\n' && body[found - 2] == '\r');
    if (!atLineStart) {
      pos = found + 1;
      continue;
    }
    std::size_t after = found + delim.size();
    bool isClose = body.substr(after, 2) == "--";
    std::size_t p = after + (isClose ? 2 : 0);
    while (p < body.size() && (body[p] == ' ' || body[p] == '\t')) ++p;
    std::size_t next;
    if (p == body.size()) {
      next = p;
    } else if (body.substr(p, 2) == "\r\n") {
      next = p + 2;
    } else {
      pos = found + 1;  // "--boundaryX": not our delimiter
      continue;
    }
    lines.emplace_back(found, next);
    closing.push_back(isClose);
    if (isClose) break;
    pos = next;
  }
  if (lines.empty()) return Error::invalidInput("multipart without any delimiter");
  mp.preamble = body.substr(0, lines[0].first >= 2 ? lines[0].first - 2 : 0);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (closing[i]) break;
    std::size_t start = lines[i].second;
    std::size_t end = i + 1 < lines.size() ? lines[i + 1].first - 2 : body.size();
    if (end < start) end = start;
    mp.parts.push_back(body.substr(start, end - start));
  }
  mp.closed = closing.back();
  return mp;
}

namespace {
Result<void> checkEntity(std::string_view raw, int depth, bool top) {
  if (depth > 20) return Error::invalidInput("MIME nesting too deep");
  auto e = parseEntity(raw);
  if (!e) return e.error();
  if (top && !e->header("From")) return Error::invalidInput("no From header field");
  if (top && e->headerBlock.empty()) return Error::invalidInput("no header fields");
  auto ctv = e->header("Content-Type");
  if (!ctv) return ok();
  auto ct = parseContentType(*ctv);
  if (!ct) return ct.error();
  if (ct->type == "multipart") {
    std::string boundary = ct->param("boundary");
    if (boundary.empty()) return Error::invalidInput("multipart without boundary");
    auto mp = splitMultipart(e->body, boundary);
    if (!mp) return mp.error();
    if (!mp->closed) return Error::invalidInput("multipart without closing delimiter");
    if (mp->parts.empty()) return Error::invalidInput("multipart without parts");
    for (auto part : mp->parts) ERDS_RETURN_IF_ERROR(checkEntity(part, depth + 1, false));
  } else if (ct->type == "message" && ct->subtype == "rfc822") {
    ERDS_RETURN_IF_ERROR(checkEntity(e->body, depth + 1, false));
  }
  return ok();
}
}  // namespace

Result<void> checkMessageSyntax(std::string_view raw) { return checkEntity(raw, 0, true); }

}  // namespace erds::smtp::internal
