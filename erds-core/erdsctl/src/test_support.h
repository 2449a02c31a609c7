// Test-only helpers for erds_ctl_tests: a self-deleting temp directory, file utilities and a runner
// for the built erdsctl binary (ERDSCTL_PATH).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace erds::ctl::testsupport {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "erdsctl-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void writeFile(const std::string& path, const std::string& data, mode_t mode) {
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << data; }
  ::chmod(path.c_str(), mode);
}

// Permission bits of `path`, or -1 if it cannot be stat-ed.
inline int fileMode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

struct CliRun {
  int rc = -1;
  std::string out;
  std::string err;
};

inline std::string shellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

// Runs `program` with `args` through the shell (stdin /dev/null) and captures its exit code,
// stdout and stderr; `env` is a prefix of NAME=value assignments.
inline CliRun runProgram(const std::string& program, const std::vector<std::string>& args,
                         const std::string& env = {}) {
  TempDir io;
  std::string cmd = env + (env.empty() ? "" : " ") + shellQuote(program);
  for (const auto& a : args)
    cmd += " " + shellQuote(a);
  cmd += " >" + shellQuote(io.file("out")) + " 2>" + shellQuote(io.file("err")) + " </dev/null";
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = readFile(io.file("out"));
  r.err = readFile(io.file("err"));
  return r;
}

}  // namespace erds::ctl::testsupport
