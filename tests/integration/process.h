// Test helper: runs a child process with a chosen environment, capturing stderr line by line
// (erdsd logs JSON lines there) and stdout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace erds::itest {

class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`, the parent's environment minus ERDS_* variables, plus `extraEnv`.
  ChildProcess(std::vector<std::string> argv, const std::map<std::string, std::string>& extraEnv);
  ~ChildProcess();  // SIGKILL + reap if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  // Waits until a stderr line satisfies `pred`; returns it, or nullopt on timeout / exit.
  std::optional<std::string> waitForLine(const std::function<bool(const std::string&)>& pred,
                                         std::chrono::milliseconds timeout);
  // Sends `sig` (e.g. SIGTERM).
  void signal(int sig);
  // Waits for exit; returns the exit code (128+signal if killed), or -1 on timeout.
  int wait(std::chrono::milliseconds timeout);
  // After exit: waits until both pipes are closed and read completely.
  void drain();
  std::vector<std::string> stderrLines();
  std::string stdoutText();

 private:
  void readLoop(int fd, bool isStderr);
  pid_t pid_ = -1;
  std::thread errReader_;
  std::thread outReader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> errLines_;
  std::string out_;
  bool errClosed_ = false;
  std::optional<int> exitCode_;
};

// Runs to completion (timeout 60 s); returns {exit code, stdout, stderr lines}.
struct RunResult {
  int exitCode = -1;
  std::string out;
  std::vector<std::string> err;
};
RunResult runToCompletion(std::vector<std::string> argv,
                          const std::map<std::string, std::string>& extraEnv = {});

}  // namespace erds::itest
