// Helpers shared by the tests that run the real erds-smtpd (smtp_integration_test.cpp,
// smtp_qualified_test.cpp): a private temp directory, small file helpers, the password part of a
// conninfo, and the ports erds-smtpd writes to its --port-file.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "erds/base/pg.h"

namespace erds::itest {

// A directory under /tmp (mode 0755: a daemon started as another user must reach its socket
// directory inside), removed with everything in it.
struct TempDir {
  explicit TempDir(const char* prefix = "erds-smtp-test") {
    std::string tmpl = std::string("/tmp/") + prefix + ".XXXXXX";
    const char* p = ::mkdtemp(tmpl.data());
    path = p ? p : "";
    if (!path.empty()) ::chmod(path.c_str(), 0755);
  }
  ~TempDir() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

inline void writeFile(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The lines, each followed by "\n".
inline std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// "host=... password=secret" -> {"host=...", "secret"} (quotes around the password removed).
inline std::pair<std::string, std::string> splitPassword(const std::string& conninfo) {
  std::size_t at = conninfo.find(" password=");
  if (at == std::string::npos) return {conninfo, ""};
  std::string pw = conninfo.substr(at + 10);
  if (pw.size() >= 2 && pw.front() == '\'' && pw.back() == '\'') pw = pw.substr(1, pw.size() - 2);
  return {conninfo.substr(0, at), pw};
}

// The first column of the first row of `sql` over a fresh connection ("" when there is no row; the
// error text when the connection fails), for assertions on what the daemons stored.
inline std::string scalarQuery(const std::string& conninfo, const std::string& sql) {
  auto c = pg::Connection::connect(conninfo);
  if (!c) return "connect: " + c.error().toString();
  auto q = (*c)->execParams(sql, {});
  if (!q || q->rows() == 0) return "";
  return q->get(0, 0);
}

struct Ports {
  uint16_t submission = 0, mx = 0;
};

// The ports from erds-smtpd's --port-file ("submission=N", "mx=N"), waiting up to `timeout`.
inline std::optional<Ports> readPorts(const std::string& file, std::chrono::seconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    std::ifstream in(file);
    std::string l;
    Ports p;
    while (std::getline(in, l)) {
      if (l.rfind("submission=", 0) == 0) p.submission = static_cast<uint16_t>(std::stoi(l.substr(11)));
      if (l.rfind("mx=", 0) == 0) p.mx = static_cast<uint16_t>(std::stoi(l.substr(3)));
    }
    if (p.submission && p.mx) return p;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::nullopt;
}

}  // namespace erds::itest
