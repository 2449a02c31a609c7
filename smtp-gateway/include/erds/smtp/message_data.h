// MessageData: the raw bytes of one received message (after SMTP dot-unstuffing, CRLF line ends,
// ending with CRLF), exactly as the client sent them: the input to digests and to the REM
// "original". Small messages stay in memory; larger ones are spooled to a private temp file.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "erds/base/result.h"

namespace erds::smtp {

class MessageData {
 public:
  // `memoryLimit`: bytes kept in memory before switching to a file created (mode 0600, removed on
  // destruction) in `spoolDir` ("" = $TMPDIR or /tmp).
  MessageData(std::size_t memoryLimit, std::string spoolDir);
  ~MessageData();
  MessageData(const MessageData&) = delete;
  MessageData& operator=(const MessageData&) = delete;

  // Appends bytes. Errors: Unavailable (the spool file could not be written). After an error the
  // object is unusable (size() stays what was stored).
  Result<void> append(std::string_view bytes);
  // Flushes the spool file, if any. Call once after the last append.
  Result<void> finish();

  std::size_t size() const { return size_; }
  bool inMemory() const { return fd_ < 0; }
  // Precondition: inMemory().
  const std::string& memory() const { return memory_; }
  // Path of the spool file, "" while in memory.
  const std::string& filePath() const { return path_; }
  // Reads everything into a string. InvalidInput if size() > maxBytes; Unavailable on I/O errors.
  Result<std::string> readAll(std::size_t maxBytes) const;
  // Copies the bytes to `path` (created with `mode`). Unavailable on I/O errors.
  Result<void> writeTo(const std::string& path, unsigned mode = 0600) const;

 private:
  std::size_t memoryLimit_;
  std::string spoolDir_;
  std::string memory_;
  std::string path_;
  int fd_ = -1;
  std::size_t size_ = 0;
  bool failed_ = false;
};

}  // namespace erds::smtp
