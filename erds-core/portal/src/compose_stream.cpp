#include "compose_stream.h"

#include <algorithm>

namespace erds::portal::internal {

namespace {

std::string lowerAscii(std::string_view s) {
  std::string o(s);
  for (auto& c : o)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return o;
}

// The boundary parameter (quoted or not) of a multipart/form-data Content-Type; "" if absent.
std::string boundaryOf(std::string_view ct) {
  const std::string l = lowerAscii(ct);
  auto p = l.find("boundary=");
  if (p == std::string::npos) return {};
  std::string_view v = ct.substr(p + 9);
  if (!v.empty() && v.front() == '"') {
    auto e = v.find('"', 1);
    return e == std::string_view::npos ? std::string() : std::string(v.substr(1, e - 1));
  }
  auto e = v.find_first_of("; \t");
  return std::string(v.substr(0, e));
}

}  // namespace

Result<std::unique_ptr<ComposeStream>> ComposeStream::open(std::string_view contentType, http::BodyReader& source,
                                                           std::size_t maxFieldBytes) {
  std::string type = lowerAscii(contentType.substr(0, contentType.find(';')));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type != "multipart/form-data") return Error::invalidInput("expected multipart/form-data");
  std::unique_ptr<ComposeStream> s(new ComposeStream(source));
  s->boundary_ = boundaryOf(contentType);
  if (s->boundary_.empty() || s->boundary_.size() > 70) return Error::invalidInput("bad multipart boundary");
  const std::string delim = "--" + s->boundary_;
  const std::string inner = "\r\n" + delim;

  std::string buf;
  std::string chunk(64 * 1024, '\0');
  // Makes buf hold at least `want` bytes or `needle` after `from`; false at the end of the body.
  auto fill = [&](std::size_t want, std::string_view needle, std::size_t from, std::size_t& found) -> Result<bool> {
    for (;;) {
      if (needle.empty() ? buf.size() >= want : (found = buf.find(needle, from)) != std::string::npos) return true;
      if (buf.size() > maxFieldBytes) return Error::invalidInput("the form fields are too large");
      auto n = source.read(chunk.data(), chunk.size());
      if (!n) return std::move(n).error();
      if (*n == 0) return false;
      buf.append(chunk.data(), *n);
    }
  };
  std::size_t found = 0;
  auto have = fill(delim.size() + 2, "", 0, found);
  if (!have) return std::move(have).error();
  if (!*have || buf.compare(0, delim.size(), delim) != 0) return Error::invalidInput("missing opening multipart delimiter");

  std::size_t pos = 0;  // at a delimiter "--boundary"
  std::size_t prefixEnd = 0;
  for (;;) {
    const std::size_t after = pos + delim.size();
    have = fill(after + 2, "", 0, found);
    if (!have) return std::move(have).error();
    if (!*have) return Error::invalidInput("truncated multipart body");
    if (buf.compare(after, 2, "--") == 0) {  // closing delimiter: no files
      prefixEnd = pos;
      break;
    }
    if (buf.compare(after, 2, "\r\n") != 0) return Error::invalidInput("malformed multipart delimiter line");
    have = fill(0, "\r\n\r\n", after + 2, found);
    if (!have) return std::move(have).error();
    if (!*have) return Error::invalidInput("unterminated part header");
    const std::size_t headerEnd = found;
    // Is this a named file? Parse the header alone as a one-part form (the one strict parser).
    const std::string probe = delim + "\r\n" + buf.substr(after + 2, headerEnd - after - 2) + "\r\n\r\n" + inner + "--";
    auto head = parseMultipartForm(contentType, probe);
    if (!head) return std::move(head).error();
    if (!head->files.empty()) {
      if (head->files.front().filename.empty()) return Error::invalidInput("an attachment has no file name");
      s->hasFiles_ = true;
      prefixEnd = pos;
      break;
    }
    have = fill(0, inner, headerEnd + 4, found);
    if (!have) return std::move(have).error();
    if (!*have) return Error::invalidInput("missing closing multipart delimiter");
    pos = found + 2;
  }
  auto fields = parseMultipartForm(contentType, buf.substr(0, prefixEnd) + delim + "--\r\n");
  if (!fields) return std::move(fields).error();
  // A named file among the fields would mean the file input was not last; parseMultipartForm
  // drops only empty ones, and the loop above stops at the first named file.
  if (!fields->files.empty()) return Error::invalidInput("an attachment has no file name");
  s->fields_ = std::move(*fields);
  if (s->hasFiles_) {
    s->rest_ = buf.substr(prefixEnd);
  } else {
    s->sourceDone_ = true;  // the generated body is complete without the browser's remainder
  }
  return s;
}

void ComposeStream::setPrefix(std::string prefix) {
  pending_ = std::move(prefix);
  if (hasFiles_) {
    pending_ += rest_;
  } else {
    pending_ += "--" + boundary_ + "--\r\n";
  }
  rest_.clear();
  rest_.shrink_to_fit();
  pendingPos_ = 0;
}

Result<std::size_t> ComposeStream::read(char* buf, std::size_t n) {
  if (pendingPos_ < pending_.size()) {
    const std::size_t k = std::min(n, pending_.size() - pendingPos_);
    std::copy_n(pending_.data() + pendingPos_, k, buf);
    pendingPos_ += k;
    return k;
  }
  if (sourceDone_) return std::size_t{0};
  return source_.read(buf, n);
}

}  // namespace erds::portal::internal
