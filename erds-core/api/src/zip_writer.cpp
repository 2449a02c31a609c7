#include "zip_writer.h"

#include <array>
#include <ctime>

namespace erds::api::internal {
namespace {

const std::array<uint32_t, 256>& crcTable() {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return kTable;
}

void le16(std::string& o, uint32_t v) {
  o += static_cast<char>(v & 0xff);
  o += static_cast<char>((v >> 8) & 0xff);
}
void le32(std::string& o, uint32_t v) {
  le16(o, v & 0xffff);
  le16(o, v >> 16);
}

constexpr uint16_t kVersion = 20;  // 2.0: stored entries, directories
constexpr uint16_t kUtf8Flag = 1 << 11;

}  // namespace

uint32_t crc32(std::string_view data) {
  const auto& t = crcTable();
  uint32_t c = 0xffffffffu;
  for (unsigned char b : data) c = t[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

ZipWriter::ZipWriter(TimePoint modified) {
  const std::time_t secs = std::chrono::duration_cast<std::chrono::seconds>(modified.time_since_epoch()).count();
  std::tm tm{};
  gmtime_r(&secs, &tm);
  const int year = tm.tm_year + 1900 < 1980 ? 1980 : tm.tm_year + 1900;
  dosTime_ = static_cast<uint16_t>((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
  dosDate_ = static_cast<uint16_t>(((year - 1980) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
}

Result<void> ZipWriter::add(std::string_view name, std::string_view data) {
  if (name.empty() || name.front() == '/' || name.find('\\') != std::string_view::npos ||
      name.find("..") != std::string_view::npos || name.size() > 0xffff)
    return Error::invalidInput("bad ZIP entry name");
  if (entries_.size() >= 0xffff) return Error::invalidInput("too many ZIP entries");
  if (body_.size() + data.size() + name.size() + 64 > 0xffffffffULL) return Error::invalidInput("ZIP too large");
  Entry e;
  e.name = std::string(name);
  e.crc = crc32(data);
  e.size = static_cast<uint32_t>(data.size());
  e.offset = static_cast<uint32_t>(body_.size());
  le32(body_, 0x04034b50);
  le16(body_, kVersion);
  le16(body_, kUtf8Flag);
  le16(body_, 0);  // stored
  le16(body_, dosTime_);
  le16(body_, dosDate_);
  le32(body_, e.crc);
  le32(body_, e.size);
  le32(body_, e.size);
  le16(body_, static_cast<uint32_t>(name.size()));
  le16(body_, 0);
  body_ += name;
  body_ += data;
  entries_.push_back(std::move(e));
  return ok();
}

std::string ZipWriter::finish() const {
  std::string out = body_;
  const uint32_t cdOffset = static_cast<uint32_t>(out.size());
  for (const Entry& e : entries_) {
    le32(out, 0x02014b50);
    le16(out, kVersion);  // made by (MS-DOS attributes)
    le16(out, kVersion);
    le16(out, kUtf8Flag);
    le16(out, 0);
    le16(out, dosTime_);
    le16(out, dosDate_);
    le32(out, e.crc);
    le32(out, e.size);
    le32(out, e.size);
    le16(out, static_cast<uint32_t>(e.name.size()));
    le16(out, 0);  // extra
    le16(out, 0);  // comment
    le16(out, 0);  // disk
    le16(out, 0);  // internal attributes
    le32(out, 0);  // external attributes
    le32(out, e.offset);
    out += e.name;
  }
  const uint32_t cdSize = static_cast<uint32_t>(out.size()) - cdOffset;
  le32(out, 0x06054b50);
  le16(out, 0);
  le16(out, 0);
  le16(out, static_cast<uint32_t>(entries_.size()));
  le16(out, static_cast<uint32_t>(entries_.size()));
  le32(out, cdSize);
  le32(out, cdOffset);
  le16(out, 0);
  return out;
}

}  // namespace erds::api::internal
