#include "form.h"

#include <cctype>

#include "erds/http/message.h"

namespace erds::portal::internal {

std::string Form::get(const std::string& name) const {
  auto it = fields.find(name);
  return it == fields.end() ? std::string() : it->second;
}

Result<Form> parseUrlEncoded(std::string_view body, std::size_t maxFields) {
  Form f;
  std::size_t count = 0;
  while (!body.empty()) {
    std::size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    if (++count > maxFields) return Error::invalidInput("too many form fields");
    std::size_t eq = pair.find('=');
    auto name = http::percentDecode(pair.substr(0, eq), true);
    auto value = http::percentDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
    if (!name || !value) return Error::invalidInput("malformed form encoding");
    f.fields.emplace(std::move(*name), std::move(*value));
  }
  return f;
}

namespace {

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A parameter (name="value" or name=token) of a header value such as Content-Disposition.
std::optional<std::string> headerParam(std::string_view v, std::string_view want) {
  std::size_t pos = v.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = trim(v.substr(pos + 1));
    std::size_t eq = rest.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string name = lower(trim(rest.substr(0, eq)));
    rest = trim(rest.substr(eq + 1));
    std::string value;
    std::size_t consumed = 0;
    if (!rest.empty() && rest.front() == '"') {
      std::size_t i = 1;
      for (; i < rest.size() && rest[i] != '"'; ++i) {
        if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
        value += rest[i];
      }
      if (i >= rest.size()) return std::nullopt;
      consumed = i + 1;
    } else {
      consumed = rest.find(';');
      if (consumed == std::string_view::npos) consumed = rest.size();
      value = std::string(trim(rest.substr(0, consumed)));
    }
    if (name == want) return value;
    std::string_view after = rest.substr(consumed);
    std::size_t next = after.find(';');
    if (next == std::string_view::npos) return std::nullopt;
    pos = static_cast<std::size_t>(after.data() - v.data()) + next;
  }
  return std::nullopt;
}

}  // namespace

Result<Form> parseMultipartForm(std::string_view contentType, std::string_view body, std::size_t maxParts) {
  std::string type = lower(trim(contentType.substr(0, contentType.find(';'))));
  if (type != "multipart/form-data") return Error::invalidInput("expected multipart/form-data");
  auto boundary = headerParam(contentType, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70) return Error::invalidInput("bad multipart boundary");
  const std::string delim = "--" + *boundary;
  if (body.substr(0, delim.size()) != delim) return Error::invalidInput("missing opening multipart delimiter");
  std::size_t pos = delim.size();
  Form f;
  std::size_t parts = 0;
  for (;;) {
    if (body.substr(pos, 2) == "--") return f;  // closing delimiter
    if (body.substr(pos, 2) != "\r\n") return Error::invalidInput("malformed multipart delimiter line");
    pos += 2;
    if (++parts > maxParts) return Error::invalidInput("too many multipart parts");
    std::size_t headerEnd = body.find("\r\n\r\n", pos);
    if (headerEnd == std::string_view::npos) return Error::invalidInput("unterminated part header");
    std::string_view headers = body.substr(pos, headerEnd - pos);
    std::size_t dataStart = headerEnd + 4;
    std::size_t next = body.find("\r\n" + delim, dataStart);
    if (next == std::string_view::npos) return Error::invalidInput("missing closing multipart delimiter");
    std::string_view data = body.substr(dataStart, next - dataStart);
    pos = next + 2 + delim.size();

    std::optional<std::string> name, filename;
    std::string mediaType;
    while (!headers.empty()) {
      std::size_t eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
      std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) return Error::invalidInput("malformed part header");
      std::string hname = lower(trim(line.substr(0, colon)));
      std::string_view hvalue = trim(line.substr(colon + 1));
      if (hname == "content-disposition") {
        if (lower(trim(hvalue.substr(0, hvalue.find(';')))) != "form-data")
          return Error::invalidInput("part is not form-data");
        name = headerParam(hvalue, "name");
        filename = headerParam(hvalue, "filename");
      } else if (hname == "content-type") {
        mediaType = std::string(hvalue);
      }
    }
    if (!name) return Error::invalidInput("part without a name");
    if (filename) {
      if (filename->empty() && data.empty()) continue;  // an empty file input
      f.files.push_back(UploadedFile{*name, *filename, mediaType, std::string(data)});
    } else {
      f.fields.emplace(*name, std::string(data));
    }
  }
}

}  // namespace erds::portal::internal
