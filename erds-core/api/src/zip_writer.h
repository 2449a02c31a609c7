// A minimal ZIP writer (PKWARE APPNOTE 6.3, "stored" entries, no compression, no ZIP64) for the
// evidence bundle: the entries are small XML and text files. Output is deterministic for a given
// list of entries and timestamp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "erds/base/clock.h"
#include "erds/base/result.h"

namespace erds::api::internal {

// CRC-32 (ISO 3309, as ZIP uses).
uint32_t crc32(std::string_view data);

class ZipWriter {
 public:
  // `modified` is the DOS timestamp of every entry (UTC, 2-second resolution).
  explicit ZipWriter(TimePoint modified);
  // Adds a file. InvalidInput for an empty or absolute name, "..", a backslash, more than 65535
  // entries or a total size beyond 4 GiB (no ZIP64).
  Result<void> add(std::string_view name, std::string_view data);
  // The archive (local headers + data, central directory, end record).
  std::string finish() const;

 private:
  struct Entry {
    std::string name;
    uint32_t crc = 0;
    uint32_t size = 0;
    uint32_t offset = 0;
  };
  std::string body_;
  std::vector<Entry> entries_;
  uint16_t dosTime_ = 0;
  uint16_t dosDate_ = 0;
};

}  // namespace erds::api::internal
