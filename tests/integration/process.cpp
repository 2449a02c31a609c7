// fork/exec with pipes for the integration tests.
#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

extern char** environ;

namespace erds::itest {

ChildProcess::ChildProcess(std::vector<std::string> argv,
                           const std::map<std::string, std::string>& extraEnv) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "ERDS_", 5) != 0) env.emplace_back(*e);
  }
  for (const auto& [k, v] : extraEnv)
    env.push_back(k + "=" + v);
  std::vector<char*> cargv;
  for (auto& a : argv)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (auto& e : env)
    cenv.push_back(e.data());
  cenv.push_back(nullptr);

  int errPipe[2];
  int outPipe[2];
  if (::pipe2(errPipe, O_CLOEXEC) != 0) return;
  if (::pipe2(outPipe, O_CLOEXEC) != 0) {
    ::close(errPipe[0]);
    ::close(errPipe[1]);
    return;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(outPipe[1], 1);
    ::dup2(errPipe[1], 2);
    // The test runner may have blocked signals; the child starts with a clean mask.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(cargv[0], cargv.data(), cenv.data());
    ::_exit(127);
  }
  ::close(errPipe[1]);
  ::close(outPipe[1]);
  if (pid < 0) {
    ::close(errPipe[0]);
    ::close(outPipe[0]);
    return;
  }
  pid_ = pid;
  errReader_ = std::thread([this, fd = errPipe[0]] { readLoop(fd, true); });
  outReader_ = std::thread([this, fd = outPipe[0]] { readLoop(fd, false); });
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exitCode_) {
    ::kill(pid_, SIGKILL);
    wait(std::chrono::milliseconds(10000));
  }
  if (errReader_.joinable()) errReader_.join();
  if (outReader_.joinable()) outReader_.join();
}

void ChildProcess::readLoop(int fd, bool isStderr) {
  std::string partial;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    std::lock_guard lock(mu_);
    if (!isStderr) {
      out_.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      errLines_.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
    cv_.notify_all();
  }
  ::close(fd);
  std::lock_guard lock(mu_);
  if (isStderr) {
    if (!partial.empty()) errLines_.push_back(partial);
    errClosed_ = true;
  }
  cv_.notify_all();
}

std::optional<std::string> ChildProcess::waitForLine(
    const std::function<bool(const std::string&)>& pred, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  std::size_t checked = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    for (; checked < errLines_.size(); ++checked) {
      if (pred(errLines_[checked])) return errLines_[checked];
    }
    if (errClosed_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; checked < errLines_.size(); ++checked) {
        if (pred(errLines_[checked])) return errLines_[checked];
      }
      return std::nullopt;
    }
  }
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && !exitCode_) ::kill(pid_, sig);
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (exitCode_) return *exitCode_;
  if (pid_ <= 0) return -1;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return *exitCode_;
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void ChildProcess::drain() {
  if (errReader_.joinable()) errReader_.join();
  if (outReader_.joinable()) outReader_.join();
}

std::vector<std::string> ChildProcess::stderrLines() {
  std::lock_guard lock(mu_);
  return errLines_;
}

std::string ChildProcess::stdoutText() {
  std::lock_guard lock(mu_);
  return out_;
}

RunResult runToCompletion(std::vector<std::string> argv,
                          const std::map<std::string, std::string>& extraEnv) {
  RunResult r;
  {
    ChildProcess p(std::move(argv), extraEnv);
    if (!p.started()) return r;
    r.exitCode = p.wait(std::chrono::milliseconds(60000));
    p.drain();
    r.out = p.stdoutText();
    r.err = p.stderrLines();
  }
  return r;
}

}  // namespace erds::itest
