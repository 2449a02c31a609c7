// MessageData: memory first, then an unlinked-on-destruction spool file.
#include "erds/smtp/message_data.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace erds::smtp {

namespace {
Result<void> writeFully(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::unavailable(std::string("spool write failed: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok();
}
}  // namespace

MessageData::MessageData(std::size_t memoryLimit, std::string spoolDir)
    : memoryLimit_(memoryLimit), spoolDir_(std::move(spoolDir)) {}

MessageData::~MessageData() {
  if (fd_ >= 0) ::close(fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
}

Result<void> MessageData::append(std::string_view bytes) {
  if (failed_) return Error::unavailable("spool already failed");
  if (fd_ < 0 && memory_.size() + bytes.size() <= memoryLimit_) {
    memory_.append(bytes);
    size_ += bytes.size();
    return ok();
  }
  if (fd_ < 0) {
    std::string dir = spoolDir_;
    if (dir.empty()) {
      const char* t = std::getenv("TMPDIR");
      dir = (t != nullptr && *t != '\0') ? t : "/tmp";
    }
    std::string tmpl = dir + "/erds-smtp-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = ::mkstemp(buf.data());
    if (fd < 0) {
      failed_ = true;
      return Error::unavailable(std::string("cannot create spool file: ") + std::strerror(errno));
    }
    fd_ = fd;
    path_ = buf.data();
    ::fchmod(fd_, 0600);
    auto r = writeFully(fd_, memory_);
    if (!r) {
      failed_ = true;
      return r;
    }
    memory_.clear();
    memory_.shrink_to_fit();
  }
  auto r = writeFully(fd_, bytes);
  if (!r) {
    failed_ = true;
    return r;
  }
  size_ += bytes.size();
  return ok();
}

Result<void> MessageData::finish() {
  if (failed_) return Error::unavailable("spool failed");
  if (fd_ >= 0 && ::fsync(fd_) != 0) return Error::unavailable("spool fsync failed");
  return ok();
}

Result<std::string> MessageData::readAll(std::size_t maxBytes) const {
  if (size_ > maxBytes) return Error::invalidInput("message larger than the read limit");
  if (fd_ < 0) return memory_;
  std::string out(size_, '\0');
  std::size_t off = 0;
  while (off < size_) {
    ssize_t n = ::pread(fd_, out.data() + off, size_ - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::unavailable("spool read failed");
    off += static_cast<std::size_t>(n);
  }
  return out;
}

Result<void> MessageData::writeTo(const std::string& path, unsigned mode) const {
  int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (out < 0) return Error::unavailable("cannot create " + path + ": " + std::strerror(errno));
  Result<void> r = ok();
  if (fd_ < 0) {
    r = writeFully(out, memory_);
  } else {
    std::string buf(64 * 1024, '\0');
    std::size_t off = 0;
    while (off < size_ && r) {
      ssize_t n = ::pread(fd_, buf.data(), buf.size(), static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        r = Error::unavailable("spool read failed");
        break;
      }
      r = writeFully(out, std::string_view(buf.data(), static_cast<std::size_t>(n)));
      off += static_cast<std::size_t>(n);
    }
  }
  if (r && ::fsync(out) != 0) r = Error::unavailable("fsync failed on " + path);
  ::close(out);
  if (!r) ::unlink(path.c_str());
  return r;
}

}  // namespace erds::smtp
