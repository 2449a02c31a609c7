#include "multipart.h"

#include <algorithm>
#include <cctype>

namespace erds::api::internal {
namespace {

std::string lower(std::string_view s) {
  std::string o(s);
  std::transform(o.begin(), o.end(), o.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return o;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isTokenChar(unsigned char c) {
  if (c <= 0x20 || c >= 0x7f) return false;
  return std::string_view("()<>@,;:\\\"/[]?={}").find(static_cast<char>(c)) == std::string_view::npos;
}

// Parses `; a=b; c="d"` parameters. nullopt on malformed syntax.
std::optional<std::vector<std::pair<std::string, std::string>>> parseParams(std::string_view s) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    if (i == s.size()) break;
    if (s[i] != ';') return std::nullopt;
    ++i;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t k = i;
    while (i < s.size() && isTokenChar(static_cast<unsigned char>(s[i]))) ++i;
    if (i == k || i >= s.size() || s[i] != '=') return std::nullopt;
    std::string name = lower(s.substr(k, i - k));
    ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < s.size()) c = s[i++];
        value += c;
      }
      if (!closed) return std::nullopt;
    } else {
      std::size_t v = i;
      while (i < s.size() && isTokenChar(static_cast<unsigned char>(s[i]))) ++i;
      if (i == v) return std::nullopt;
      value = std::string(s.substr(v, i - v));
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

const std::string* findParam(const std::vector<std::pair<std::string, std::string>>& ps, std::string_view n) {
  for (const auto& [k, v] : ps)
    if (k == n) return &v;
  return nullptr;
}

// Decodes one UTF-8 sequence at s[i]; returns its length (0 if invalid) and the code point.
std::size_t utf8At(std::string_view s, std::size_t i, uint32_t& cp) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  std::size_t n;
  if ((c & 0xe0) == 0xc0) {
    n = 2;
    cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3;
    cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

Result<std::string> multipartBoundary(std::string_view contentType) {
  const std::size_t semi = contentType.find(';');
  if (lower(trim(contentType.substr(0, semi))) != "multipart/form-data")
    return Error::invalidInput("expected multipart/form-data");
  if (semi == std::string_view::npos) return Error::invalidInput("multipart/form-data without a boundary");
  auto params = parseParams(contentType.substr(semi));
  if (!params) return Error::invalidInput("malformed Content-Type parameters");
  const std::string* b = findParam(*params, "boundary");
  if (b == nullptr) return Error::invalidInput("multipart/form-data without a boundary");
  if (b->empty() || b->size() > 70 || b->back() == ' ')
    return Error::invalidInput("multipart boundary must be 1..70 characters");
  for (unsigned char c : *b) {
    if (!(std::isalnum(c) || std::string_view("'()+_,-./:=? ").find(static_cast<char>(c)) != std::string_view::npos))
      return Error::invalidInput("multipart boundary has a character outside RFC 2046 bchars");
  }
  return *b;
}

Result<std::vector<FormPart>> parseMultipart(std::string_view body, std::string_view boundary,
                                             const MultipartLimits& limits) {
  const std::string delim = "--" + std::string(boundary);
  const std::string innerDelim = "\r\n" + delim;
  // The body starts with the first delimiter (a preamble is allowed by RFC 2046 but form-data
  // clients do not send one; we refuse it to keep one parse of the input).
  if (body.substr(0, delim.size()) != delim) return Error::invalidInput("malformed multipart: no opening boundary");
  std::size_t pos = delim.size();
  std::vector<FormPart> parts;
  for (;;) {
    // After a delimiter: "--" (close) or CRLF (a part follows).
    if (body.substr(pos, 2) == "--") {
      pos += 2;
      std::string_view epilogue = body.substr(pos);
      if (!epilogue.empty() && epilogue != "\r\n")
        return Error::invalidInput("malformed multipart: data after the closing boundary");
      break;
    }
    // Transport padding (LWSP) before CRLF is allowed.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;
    if (body.substr(pos, 2) != "\r\n") return Error::invalidInput("malformed multipart: boundary not followed by CRLF");
    pos += 2;
    if (parts.size() >= limits.maxParts) return Error::invalidInput("too many multipart parts");

    const std::size_t headEnd = body.find("\r\n\r\n", pos);
    // A part may have no header at all: then the blank line follows immediately.
    std::string_view head;
    std::size_t dataStart;
    if (body.substr(pos, 2) == "\r\n") {
      head = {};
      dataStart = pos + 2;
    } else {
      if (headEnd == std::string_view::npos) return Error::invalidInput("malformed multipart: part headers not terminated");
      head = body.substr(pos, headEnd - pos);
      dataStart = headEnd + 4;
    }
    if (head.size() > limits.maxPartHeaderBytes) return Error::invalidInput("multipart part headers too large");

    FormPart part;
    bool haveDisposition = false;
    std::size_t h = 0;
    while (h < head.size()) {
      std::size_t eol = head.find("\r\n", h);
      std::string_view line = head.substr(h, eol == std::string_view::npos ? std::string_view::npos : eol - h);
      h = eol == std::string_view::npos ? head.size() : eol + 2;
      for (unsigned char c : line)
        if ((c < 0x20 && c != '\t') || c == 0x7f) return Error::invalidInput("control character in a part header");
      if (line.find('\n') != std::string_view::npos || line.find('\r') != std::string_view::npos)
        return Error::invalidInput("malformed multipart header line");
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) return Error::invalidInput("malformed multipart header line");
      const std::string name = lower(trim(line.substr(0, colon)));
      const std::string_view value = trim(line.substr(colon + 1));
      if (name == "content-disposition") {
        if (haveDisposition) return Error::invalidInput("duplicate Content-Disposition in a part");
        haveDisposition = true;
        const std::size_t semi = value.find(';');
        if (lower(trim(value.substr(0, semi))) != "form-data")
          return Error::invalidInput("part Content-Disposition is not form-data");
        if (semi == std::string_view::npos) return Error::invalidInput("part without a name");
        auto ps = parseParams(value.substr(semi));
        if (!ps) return Error::invalidInput("malformed Content-Disposition parameters");
        const std::string* n = findParam(*ps, "name");
        if (n == nullptr || n->empty()) return Error::invalidInput("part without a name");
        part.name = *n;
        if (findParam(*ps, "filename*") != nullptr)
          return Error::invalidInput("filename* is not supported; send filename as UTF-8");
        if (const std::string* f = findParam(*ps, "filename")) part.filename = *f;
      } else if (name == "content-type") {
        part.contentType = std::string(value);
      } else if (name == "content-transfer-encoding") {
        // RFC 7578 4.7: deprecated; we only take bytes as sent.
        const std::string v = lower(value);
        if (v != "binary" && v != "8bit" && v != "7bit")
          return Error::invalidInput("Content-Transfer-Encoding " + std::string(value) + " is not supported");
      }
    }
    if (!haveDisposition) return Error::invalidInput("part without Content-Disposition");

    const std::size_t next = body.find(innerDelim, dataStart);
    if (next == std::string_view::npos) return Error::invalidInput("malformed multipart: no closing boundary");
    part.data = body.substr(dataStart, next - dataStart);
    parts.push_back(std::move(part));
    pos = next + innerDelim.size();
  }
  return parts;
}

Result<void> checkFilename(std::string_view name, std::size_t maxBytes) {
  if (name.empty()) return Error::invalidInput("attachment name is empty");
  if (name.size() > maxBytes) return Error::invalidInput("attachment name longer than " + std::to_string(maxBytes) + " bytes");
  if (name.front() == ' ' || name.back() == ' ') return Error::invalidInput("attachment name starts or ends with a space");
  if (name.find_first_not_of('.') == std::string_view::npos) return Error::invalidInput("attachment name is only dots");
  for (std::size_t i = 0; i < name.size();) {
    uint32_t cp = 0;
    const std::size_t n = utf8At(name, i, cp);
    if (n == 0) return Error::invalidInput("attachment name is not valid UTF-8");
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029 ||
        (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
      return Error::invalidInput("attachment name contains a control character");
    if (cp == '/' || cp == '\\' || cp == ':') return Error::invalidInput("attachment name contains a path separator");
    i += n;
  }
  return ok();
}

Result<std::string> checkMediaType(std::string_view mediaType) {
  if (mediaType.size() > 255) return Error::invalidInput("media type too long");
  const std::size_t semi = mediaType.find(';');
  const std::string_view t = trim(mediaType.substr(0, semi));
  const std::size_t slash = t.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == t.size())
    return Error::invalidInput("media type must be type/subtype");
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i == slash) continue;
    if (!isTokenChar(static_cast<unsigned char>(t[i]))) return Error::invalidInput("media type has an invalid character");
  }
  if (semi != std::string_view::npos && !parseParams(mediaType.substr(semi)))
    return Error::invalidInput("malformed media type parameters");
  for (unsigned char c : mediaType)
    if (c < 0x20 || c >= 0x7f) return Error::invalidInput("media type has an invalid character");
  return lower(t) + (semi == std::string_view::npos ? std::string() : std::string(mediaType.substr(semi)));
}

MultipartStream::MultipartStream(std::string boundary, MultipartLimits limits)
    : delim_("--" + boundary), innerDelim_("\r\n--" + boundary), limits_(limits) {}

Result<void> MultipartStream::feed(std::string_view bytes, Sink& sink) {
  if (state_ == State::Dead) return Error::invalidInput("malformed multipart");
  if (state_ == State::End) return ok();  // the epilogue is ignored
  buf_.append(bytes);
  for (;;) {
    bool progressed = false;
    auto r = step(sink, progressed);
    if (!r) {
      state_ = State::Dead;
      buf_.clear();
      return r;
    }
    if (!progressed || state_ == State::End) break;
  }
  if (state_ == State::End) buf_.clear();
  return ok();
}

Result<void> MultipartStream::step(Sink& sink, bool& progressed) {
  switch (state_) {
    case State::Start:
      if (buf_.size() < delim_.size()) {
        if (delim_.compare(0, buf_.size(), buf_) != 0)
          return Error::invalidInput("malformed multipart: no opening boundary");
        return ok();
      }
      if (buf_.compare(0, delim_.size(), delim_) != 0)
        return Error::invalidInput("malformed multipart: no opening boundary");
      buf_.erase(0, delim_.size());
      state_ = State::AfterDelimiter;
      progressed = true;
      return ok();
    case State::AfterDelimiter: {
      std::size_t i = 0;
      if (buf_.size() >= 2 && buf_.compare(0, 2, "--") == 0) {
        state_ = State::End;
        progressed = true;
        return ok();
      }
      while (i < buf_.size() && (buf_[i] == ' ' || buf_[i] == '\t')) ++i;
      if (i > 256) return Error::invalidInput("malformed multipart: boundary not followed by CRLF");
      if (buf_.size() < i + 2) return ok();
      if (buf_.compare(i, 2, "\r\n") != 0)
        return Error::invalidInput("malformed multipart: boundary not followed by CRLF");
      if (parts_ >= limits_.maxParts) return Error::invalidInput("too many multipart parts");
      buf_.erase(0, i + 2);
      state_ = State::Headers;
      progressed = true;
      return ok();
    }
    case State::Headers: {
      std::size_t headEnd;
      std::size_t dataStart;
      if (buf_.size() >= 2 && buf_.compare(0, 2, "\r\n") == 0) {
        headEnd = 0;
        dataStart = 2;
      } else {
        headEnd = buf_.find("\r\n\r\n");
        if (headEnd == std::string::npos) {
          if (buf_.size() > limits_.maxPartHeaderBytes + 4) return Error::invalidInput("multipart part headers too large");
          return ok();
        }
        dataStart = headEnd + 4;
      }
      if (headEnd > limits_.maxPartHeaderBytes) return Error::invalidInput("multipart part headers too large");
      // One grammar: the head is checked by the buffered parser on a one-part body.
      const std::string one = delim_ + "\r\n" + buf_.substr(0, headEnd) + (headEnd == 0 ? "" : "\r\n") + "\r\n" +
                              innerDelim_ + "--";
      auto parsed = parseMultipart(one, delim_.substr(2), limits_);
      if (!parsed) return std::move(parsed).error();
      if (parsed->size() != 1) return Error::invalidInput("malformed multipart part");
      FormPart part = (*parsed)[0];
      part.data = {};
      ++parts_;
      buf_.erase(0, dataStart);
      state_ = State::Body;
      progressed = true;
      return sink.onPartBegin(part);
    }
    case State::Body: {
      const std::size_t at = buf_.find(innerDelim_);
      if (at != std::string::npos) {
        if (at > 0) ERDS_RETURN_IF_ERROR(sink.onData(std::string_view(buf_).substr(0, at)));
        buf_.erase(0, at + innerDelim_.size());
        state_ = State::AfterDelimiter;
        progressed = true;
        return sink.onPartEnd();
      }
      // Keep a tail that could be the start of the delimiter.
      if (buf_.size() >= innerDelim_.size()) {
        const std::size_t emit = buf_.size() - (innerDelim_.size() - 1);
        ERDS_RETURN_IF_ERROR(sink.onData(std::string_view(buf_).substr(0, emit)));
        buf_.erase(0, emit);
      }
      return ok();
    }
    case State::End:
    case State::Dead:
      return ok();
  }
  return ok();
}

Result<void> MultipartStream::finish() {
  if (state_ != State::End) return Error::invalidInput("malformed multipart: no closing boundary");
  return ok();
}

}  // namespace erds::api::internal
