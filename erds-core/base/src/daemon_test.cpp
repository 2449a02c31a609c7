#include "erds/base/daemon.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

namespace erds::daemon {
namespace {

namespace fs = std::filesystem;

// argv as the C runtime passes it (mutable char*), from string literals.
struct Argv {
  explicit Argv(std::vector<std::string> a) : args(std::move(a)) {
    for (auto& s : args) ptrs.push_back(s.data());
  }
  int argc() const { return static_cast<int>(ptrs.size()); }
  char** argv() { return ptrs.data(); }
  std::vector<std::string> args;
  std::vector<char*> ptrs;
};

std::variant<DaemonArgs, int> parse(std::vector<std::string> a) {
  Argv v(std::move(a));
  return parseArgs(v.argc(), v.argv(), "erdsd", "1.2.3", "usage: erdsd --config FILE\n", {"--print-routes"});
}

TEST(DaemonArgsTest, ParsesConfigCheckAndExtraFlags) {
  auto a = parse({"erdsd", "--config", "/etc/erds.conf", "--check-config", "--print-routes"});
  ASSERT_TRUE(std::holds_alternative<DaemonArgs>(a));
  const auto& d = std::get<DaemonArgs>(a);
  EXPECT_EQ(d.configPath, "/etc/erds.conf");
  EXPECT_TRUE(d.checkConfig);
  EXPECT_EQ(d.flags.count("--print-routes"), 1u);

  auto b = parse({"erdsd", "--config=/x.conf"});
  ASSERT_TRUE(std::holds_alternative<DaemonArgs>(b));
  EXPECT_EQ(std::get<DaemonArgs>(b).configPath, "/x.conf");
  EXPECT_FALSE(std::get<DaemonArgs>(b).checkConfig);
  EXPECT_TRUE(std::get<DaemonArgs>(b).flags.empty());
}

TEST(DaemonArgsTest, HelpVersionAndUsageErrorsGiveExitCodes) {
  const std::vector<std::pair<std::vector<std::string>, int>> cases = {
      {{"erdsd", "--help"}, kExitOk},
      {{"erdsd", "-h"}, kExitOk},
      {{"erdsd", "--version"}, kExitOk},
      {{"erdsd"}, kExitUsage},                               // --config missing
      {{"erdsd", "--config"}, kExitUsage},                   // without its value
      {{"erdsd", "--config", "/x", "--bogus"}, kExitUsage},  // unknown argument
      {{"erdsd", "--config", "/x", "--print-routes=1"}, kExitUsage},
  };
  for (const auto& [args, code] : cases) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    auto r = parse(args);
    const std::string out = ::testing::internal::GetCapturedStdout();
    const std::string err = ::testing::internal::GetCapturedStderr();
    ASSERT_TRUE(std::holds_alternative<int>(r)) << args.back();
    EXPECT_EQ(std::get<int>(r), code) << args.back();
    if (args.back() == "--version") {
      EXPECT_EQ(out, "erdsd 1.2.3\n");
    }
    if (code == kExitUsage) {
      EXPECT_EQ(err.rfind("erdsd: ", 0), 0u) << err;
    }
  }
}

class PoolOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/erds-daemon-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& content, mode_t mode) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p, std::ios::trunc) << content;
    ::chmod(p.c_str(), mode);
    return p;
  }
  std::string dir_;
};

TEST_F(PoolOptionsTest, ReadsDatabaseKeysAndThePasswordFile) {
  const std::string pw = write("pw", "db-secret", 0600);
  const std::string conf = write("erds.conf",
                                 "[database]\nconninfo = host=/tmp dbname=erds\npassword_file = " + pw +
                                     "\npool_size = 5\nacquire_timeout = 3s\n",
                                 0644);
  auto c = Config::load(conf, {});
  ASSERT_TRUE(c.has_value()) << c.error().message;
  auto o = poolOptionsFromConfig(*c);
  ASSERT_TRUE(o.has_value()) << o.error().message;
  EXPECT_EQ(o->conninfo, "host=/tmp dbname=erds");
  EXPECT_EQ(o->password, "db-secret");
  EXPECT_EQ(o->size, 5);
  EXPECT_EQ(o->acquireTimeout, std::chrono::milliseconds(3000));
  auto fixed = poolOptionsFromConfig(*c, 2);
  ASSERT_TRUE(fixed.has_value());
  EXPECT_EQ(fixed->size, 2);
}

TEST_F(PoolOptionsTest, RefusesAPoolSizeOutOfRangeNamingTheKey) {
  // (0 and negative sizes are already refused by the configuration schema.)
  for (const char* size : {"1001", "5000"}) {
    auto c = Config::load("", {{"ERDS_DATABASE_POOL_SIZE", size}});
    ASSERT_TRUE(c.has_value()) << c.error().message;
    auto o = poolOptionsFromConfig(*c);
    ASSERT_FALSE(o.has_value()) << size;
    EXPECT_TRUE(o.error().is(ErrorCode::InvalidInput));
    EXPECT_NE(o.error().message.find("database.pool_size ("), std::string::npos) << o.error().message;
    // A fixed size (erds-signer) ignores the key.
    EXPECT_TRUE(poolOptionsFromConfig(*c, 2).has_value());
  }
}

TEST_F(PoolOptionsTest, UnreadablePasswordFileIsAnErrorWithoutTheSecret) {
  const std::string pw = write("pw", "db-secret", 0644);  // readable by others: refused
  const std::string conf = write("erds.conf", "[database]\npassword_file = " + pw + "\n", 0644);
  auto c2 = Config::load(conf, {});
  ASSERT_TRUE(c2.has_value()) << c2.error().message;
  auto o = poolOptionsFromConfig(*c2);
  ASSERT_FALSE(o.has_value());
  EXPECT_EQ(o.error().message.find("db-secret"), std::string::npos);
}

TEST(StopSignalsTest, TakesSigtermSynchronously) {
  sigset_t before;
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, nullptr, &before), 0);
  StopSignals signals;
  // Thread-directed, so no other test thread (with SIGTERM unblocked) can take it.
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGTERM), 0);  // blocked: pending until wait()
  EXPECT_EQ(signals.wait(), SIGTERM);
  EXPECT_EQ(StopSignals::name(SIGTERM), "SIGTERM");
  EXPECT_EQ(StopSignals::name(SIGINT), "SIGINT");
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);  // later tests (and their children) unaffected
  ::signal(SIGPIPE, SIG_DFL);
}

}  // namespace
}  // namespace erds::daemon
