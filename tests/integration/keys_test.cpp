// Integration: key lock-down (issue 8, item 5) and audit anchoring end to end (item 4). The real
// erds-signer holds the seal/TSU keys in a private directory; the real erdsd and erds-smtpd
// (signer.mode=socket) get signatures through the signer's Unix socket only. When the test runs
// as root, erdsd and erds-smtpd run as `nobody` (runuser) while the key directory is mode 0700
// owned by root, as in production where erds-signer has a user of its own.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "erds/base/audit.h"
#include "erds/base/pg.h"

#include "harness.h"

#if defined(ERDSCTL_PATH) && defined(ERDS_SIGNER_PATH)
constexpr bool kHaveTools = true;
#else
constexpr bool kHaveTools = false;  // the suite fails in set-up with a clear message
#ifndef ERDSCTL_PATH
#define ERDSCTL_PATH "erdsctl-not-built"
#endif
#ifndef ERDS_SIGNER_PATH
#define ERDS_SIGNER_PATH "erds-signer-not-built"
#endif
#endif

namespace erds::itest {
namespace {

// erds-smtpd: ERDS_SMTPD_PATH when the build defines it, else beside erdsd (every executable
// lands in the build directory's root).
std::string smtpdPath() {
#ifdef ERDS_SMTPD_PATH
  return ERDS_SMTPD_PATH;
#else
  return (std::filesystem::path(ERDSD_PATH).parent_path() / "erds-smtpd").string();
#endif
}

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// The pid of the running process whose executable is `exe` and whose command line mentions
// `needle` (erdsd may run below runuser, whose command line mentions the same config).
pid_t findProcess(const std::string& exe, const std::string& needle) {
  std::error_code ec;
  const auto want = fs::weakly_canonical(exe, ec);
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code ec2;
    auto target = fs::read_symlink(e.path() / "exe", ec2);
    if (ec2 || target != want) continue;
    std::string cmdline = readFile(e.path().string() + "/cmdline");
    if (cmdline.find(needle) != std::string::npos) return static_cast<pid_t>(std::stol(name));
  }
  return -1;
}

// Uid line of /proc/<pid>/status: "real effective saved fs".
std::string procUids(pid_t pid) {
  std::istringstream in(readFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("Uid:", 0) == 0) return l.substr(4);
  }
  return "";
}

// Tries, as uid/gid `uid`, to list `dir` and to open `file`; returns errno values (0 = success).
std::pair<int, int> accessAs(uid_t uid, gid_t gid, const std::string& dir, const std::string& file) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return {-1, -1};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipefd[0]);
    int res[2] = {-1, -1};
    if (::setgroups(0, nullptr) == 0 && ::setgid(gid) == 0 && ::setuid(uid) == 0) {
      DIR* d = ::opendir(dir.c_str());
      res[0] = d ? 0 : errno;
      if (d) ::closedir(d);
      int fd = ::open(file.c_str(), O_RDONLY);
      res[1] = fd >= 0 ? 0 : errno;
      if (fd >= 0) ::close(fd);
    }
    (void)!::write(pipefd[1], res, sizeof res);
    ::_exit(0);
  }
  ::close(pipefd[1]);
  int res[2] = {-1, -1};
  (void)!::read(pipefd[0], res, sizeof res);
  ::close(pipefd[0]);
  ::waitpid(pid, nullptr, 0);
  return {res[0], res[1]};
}

class KeyLockdownTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    asRoot_ = ::geteuid() == 0;
    dir_ = new TempDir("erds-keys");
    ASSERT_FALSE(dir_->path.empty());
    ::chmod(dir_->path.c_str(), 0711);
    const std::string pki = dir_->path + "/pki";
    keyDir_ = dir_->path + "/signer-keys";
    ASSERT_TRUE(kHaveTools) << "keys_test needs erdsctl and erds-signer; build those targets";
    auto init = runToCompletion({ERDSCTL_PATH, "pki", "init", "--dir", pki});
    ASSERT_EQ(init.exitCode, 0) << init.out << joined(init.err);
    // The signing keys go to the signer's directory; erdsd keeps only the TLS pair; the CA key
    // leaves both (offline).
    ASSERT_EQ(::mkdir(keyDir_.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((dir_->path + "/offline-ca").c_str(), 0700), 0);
    for (const char* f : {"seal.pem", "seal.key", "tsu.pem", "tsu.key"}) fs::rename(pki + "/" + f, keyDir_ + "/" + f);
    fs::copy_file(pki + "/root-ca.pem", keyDir_ + "/root-ca.pem");
    fs::rename(pki + "/root-ca.key", dir_->path + "/offline-ca/root-ca.key");
    ::chmod(pki.c_str(), 0755);
    if (asRoot_) {
      ASSERT_EQ(::chown((pki + "/tls.key").c_str(), kNobody, kNogroup), 0);
    }

    auto db = startMigratedDatabase(/*durable=*/false, "erds_keys");
    ASSERT_TRUE(db) << db.error().toString();
    pg_ = db->pg.release();
    db->owner.reset();
    if (asRoot_) ::chmod(pg_->socketDir().c_str(), 0711);  // nobody reaches the socket, not the data
    roles_ = db->roles;
    writeFile(dir_->path + "/app.password", roles_.appPassword + "\n", 0600);
    writeFile(dir_->path + "/owner.password", roles_.ownerPassword + "\n", 0600);
    if (asRoot_) {
      ASSERT_EQ(::chown((dir_->path + "/app.password").c_str(), kNobody, kNogroup), 0);
    }

    const std::string run = dir_->path + "/run";
    ASSERT_EQ(::mkdir(run.c_str(), 0755), 0);
    socket_ = run + "/signer.sock";
    signerConfig_ = dir_->path + "/signer.ini";
    writeFile(signerConfig_,
              "[service]\nmode = development\n[log]\nlevel = info\n[signer]\nkey_dir = " + keyDir_ +
                  "\nsocket = " + socket_ + "\n" + (asRoot_ ? "socket_group = nogroup\n" : ""),
              0644);
    signer_ = new ChildProcess({ERDS_SIGNER_PATH, "--config", signerConfig_}, {});
    ASSERT_TRUE(signer_->started());
    auto ready = signer_->waitForLine(
        [](const std::string& l) { return l.find("\"signer.listening\"") != std::string::npos; }, 30s);
    ASSERT_TRUE(ready) << "erds-signer did not start:\n" << joined(signer_->stderrLines());

    erdsdConfig_ = dir_->path + "/erdsd.ini";
    writeFile(erdsdConfig_,
              "[service]\nmode = development\n[log]\nlevel = info\n"
              "[http]\naddress = 127.0.0.1\nport = 0\ntls_certificate = " +
                  pki + "/tls.pem\ntls_key = " + pki + "/tls.key\n" +
                  "[database]\nconninfo = " + roles_.appConninfoNoPassword + "\npassword_file = " + dir_->path +
                  "/app.password\n[signer]\nmode = socket\nsocket = " + socket_ +
                  "\n[audit]\nanchor_interval = 1s\n",
              0644);
    std::vector<std::string> argv = {ERDSD_PATH, "--config", erdsdConfig_};
    if (asRoot_) argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "nobody", "--"});
    erdsd_ = new ChildProcess(argv, {});
    ASSERT_TRUE(erdsd_->started());
    auto port = waitForPort(*erdsd_, 30s);
    ASSERT_TRUE(port) << "erdsd did not start; stderr:\n" << joined(erdsd_->stderrLines());
    erdsdPid_ = findProcess(ERDSD_PATH, erdsdConfig_);
    signerPid_ = findProcess(ERDS_SIGNER_PATH, signerConfig_);

    // erds-smtpd: the same database and signer socket; its only private key is its TLS key
    // (smtp.tls_key, a copy of erdsd's), which is allowed: it holds no sealing or TSU key.
    ASSERT_TRUE(fs::exists(smtpdPath())) << smtpdPath() << " not found: build the erds-smtpd target";
    const std::string smtpRun = dir_->path + "/smtpd-run";
    ASSERT_EQ(::mkdir(smtpRun.c_str(), 0700), 0);
    writeFile(dir_->path + "/kek", std::string(64, 'a') + "\n", 0600);
    if (asRoot_) {
      ASSERT_EQ(::chown(smtpRun.c_str(), kNobody, kNogroup), 0);
      ASSERT_EQ(::chown((dir_->path + "/kek").c_str(), kNobody, kNogroup), 0);
    }
    smtpdConfig_ = dir_->path + "/smtpd.ini";
    writeFile(smtpdConfig_,
              "[service]\nmode = development\ndomains = example.test\n[log]\nlevel = info\n"
              "[smtp]\naddress = 127.0.0.1\nsubmission_port = 0\nmx_port = 0\ntls_certificate = " +
                  pki + "/tls.pem\ntls_key = " + pki + "/tls.key\nspool_dir = " + smtpRun +
                  "\n[database]\nconninfo = " + roles_.appConninfoNoPassword + "\npassword_file = " + dir_->path +
                  "/app.password\n[secrets]\nkek_file = " + dir_->path + "/kek\n[signer]\nmode = socket\nsocket = " +
                  socket_ + "\n",
              0644);
    std::vector<std::string> smtpArgv = {smtpdPath(), "--config", smtpdConfig_, "--port-file", smtpRun + "/ports"};
    if (asRoot_) smtpArgv.insert(smtpArgv.begin(), {"/usr/sbin/runuser", "-u", "nobody", "--"});
    smtpd_ = new ChildProcess(smtpArgv, {});
    ASSERT_TRUE(smtpd_->started());
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline && readFile(smtpRun + "/ports").empty())
      std::this_thread::sleep_for(100ms);
    ASSERT_FALSE(readFile(smtpRun + "/ports").empty())
        << "erds-smtpd did not start:\n" << joined(smtpd_->stderrLines());
    smtpdPid_ = findProcess(smtpdPath(), smtpdConfig_);
  }

  static void TearDownTestSuite() {
    if (smtpd_) {
      stopGracefully(*smtpd_);
      delete smtpd_;
      smtpd_ = nullptr;
    }
    if (erdsd_) {
      stopGracefully(*erdsd_);
      delete erdsd_;
      erdsd_ = nullptr;
    }
    if (signer_) {
      stopGracefully(*signer_);
      delete signer_;
      signer_ = nullptr;
    }
    delete pg_;
    pg_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_GT(erdsdPid_, 0) << "erdsd process not found (suite set-up failed?)";
    ASSERT_GT(signerPid_, 0) << "erds-signer process not found (suite set-up failed?)";
  }

  static inline bool asRoot_ = false;
  static inline TempDir* dir_ = nullptr;
  static inline erds::testing::PrivatePostgres* pg_ = nullptr;
  static inline erds::testing::PrivatePostgres::Roles roles_;
  static inline ChildProcess* signer_ = nullptr;
  static inline ChildProcess* erdsd_ = nullptr;
  static inline ChildProcess* smtpd_ = nullptr;
  static inline std::string keyDir_, socket_, signerConfig_, erdsdConfig_, smtpdConfig_;
  static inline pid_t erdsdPid_ = -1, signerPid_ = -1, smtpdPid_ = -1;
};

// The keys of a config file's "name = value" lines whose name mentions "key".
std::vector<std::string> keyLinesOf(const std::string& text) {
  std::smatch m;
  std::string rest = text;
  std::vector<std::string> keyLines;
  static const std::regex keyLine("(^|\n)([a-z_]*key[a-z_]*) = ([^\n]*)");
  while (std::regex_search(rest, m, keyLine)) {
    keyLines.push_back(m[2]);
    rest = m.suffix();
  }
  return keyLines;
}

// Every descriptor of `pid` and its memory maps: nothing under the key directory.
void expectNothingOfTheKeyDirectoryOpen(pid_t pid, const std::string& keyDir, const std::string& who) {
  const std::string fdDir = "/proc/" + std::to_string(pid) + "/fd";
  int fds = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fdDir, ec)) {
    std::error_code ec2;
    auto target = fs::read_symlink(e.path(), ec2).string();
    if (ec2) continue;
    ++fds;
    EXPECT_EQ(target.rfind(keyDir, 0), std::string::npos) << who << " has " << target << " open";
    for (const char* name : {"seal.key", "tsu.key", "root-ca.key"})
      EXPECT_EQ(target.find(name), std::string::npos) << who << " has " << target << " open";
  }
  ASSERT_FALSE(ec) << fdDir << ": " << ec.message();
  EXPECT_GE(fds, 4) << "could not inspect " << who << "'s descriptors";
  const std::string maps = readFile("/proc/" + std::to_string(pid) + "/maps");
  EXPECT_FALSE(maps.empty()) << "could not read " << who << "'s maps";
  EXPECT_EQ(maps.find(keyDir), std::string::npos);
}

// A daemon's configuration `text`: no path under the key directory, none of `needles`, the signer
// reached through its socket, and the TLS key as the only key it is given.
void expectConfigurationNamesNoSigningKey(const std::string& text, const std::string& keyDir,
                                          std::initializer_list<const char*> needles) {
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.find(keyDir), std::string::npos) << text;
  for (const char* needle : needles) EXPECT_EQ(text.find(needle), std::string::npos) << needle << " in\n" << text;
  EXPECT_NE(text.find("mode = socket"), std::string::npos);
  EXPECT_EQ(keyLinesOf(text), std::vector<std::string>{"tls_key"});
}

TEST_F(KeyLockdownTest, ErdsdConfigurationNamesNoSigningKey) {
  // The only private key erdsd is given is its TLS key.
  expectConfigurationNamesNoSigningKey(readFile(erdsdConfig_), keyDir_,
                                       {"key_dir", "seal.key", "tsu.key", "root-ca.key", "pkcs11", "pin"});
}

TEST_F(KeyLockdownTest, ErdsdHasNoFileOfTheKeyDirectoryOpen) {
  expectNothingOfTheKeyDirectoryOpen(erdsdPid_, keyDir_, "erdsd");  // >= 4: stdio + listening socket
  std::error_code ec;
  // Control: the same inspection sees the signer's socket in erds-signer's descriptors, so a
  // descriptor under the key directory would have been seen too.
  bool signerHasSocket = false;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(signerPid_) + "/fd", ec)) {
    std::error_code ec2;
    if (fs::read_symlink(e.path(), ec2).string().rfind("socket:", 0) == 0) signerHasSocket = true;
  }
  EXPECT_TRUE(signerHasSocket);
}

TEST_F(KeyLockdownTest, ErdsdUserCannotReadTheKeyDirectory) {
  struct stat st {};
  ASSERT_EQ(::stat(keyDir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(st.st_uid, ::geteuid()) << "the key directory belongs to the signer's user";
  ASSERT_TRUE(asRoot_) << "this test runs erdsd as nobody and probes the key directory as that user, "
                          "which needs root: run it through ./erds test as root";
  EXPECT_EQ(procUids(erdsdPid_), "\t65534\t65534\t65534\t65534") << "erdsd runs as nobody";
  auto [dirErr, fileErr] = accessAs(kNobody, kNogroup, keyDir_, keyDir_ + "/seal.key");
  EXPECT_EQ(dirErr, EACCES);
  EXPECT_EQ(fileErr, EACCES);
  // Control: the same probe as nobody can read erdsd's own TLS key (so EACCES is not an artefact).
  auto [pkiErr, tlsErr] = accessAs(kNobody, kNogroup, dir_->path + "/pki", dir_->path + "/pki/tls.key");
  EXPECT_EQ(pkiErr, 0);
  EXPECT_EQ(tlsErr, 0);
}

TEST_F(KeyLockdownTest, SmtpdConfigurationNamesNoSigningKey) {
  ASSERT_GT(smtpdPid_, 0) << "erds-smtpd process not found";
  // Its only private key is the STARTTLS key (smtp.tls_key).
  expectConfigurationNamesNoSigningKey(readFile(smtpdConfig_), keyDir_,
                                       {"key_dir", "seal.key", "tsu.key", "root-ca.key", "pkcs11", "pin", "inprocess"});
}

TEST_F(KeyLockdownTest, SmtpdHasNoFileOfTheKeyDirectoryOpen) {
  ASSERT_GT(smtpdPid_, 0) << "erds-smtpd process not found";
  expectNothingOfTheKeyDirectoryOpen(smtpdPid_, keyDir_, "erds-smtpd");
}

TEST_F(KeyLockdownTest, SmtpdUserCannotReadTheKeyDirectory) {
  ASSERT_GT(smtpdPid_, 0) << "erds-smtpd process not found";
  ASSERT_TRUE(asRoot_) << "this test runs erds-smtpd as nobody and probes the key directory as that "
                          "user, which needs root: run it through ./erds test as root";
  EXPECT_EQ(procUids(smtpdPid_), "\t65534\t65534\t65534\t65534") << "erds-smtpd runs as nobody";
  auto [dirErr, fileErr] = accessAs(kNobody, kNogroup, keyDir_, keyDir_ + "/seal.key");
  EXPECT_EQ(dirErr, EACCES);
  EXPECT_EQ(fileErr, EACCES);
  auto [tsuDirErr, tsuErr] = accessAs(kNobody, kNogroup, keyDir_, keyDir_ + "/tsu.key");
  EXPECT_EQ(tsuErr, EACCES);
  // Control: the same user reads the files erds-smtpd does need.
  auto [runErr, kekErr] = accessAs(kNobody, kNogroup, dir_->path + "/smtpd-run", dir_->path + "/kek");
  EXPECT_EQ(runErr, 0);
  EXPECT_EQ(kekErr, 0);
}

TEST_F(KeyLockdownTest, SignerIsLockedDown) {
  const std::string limits = readFile("/proc/" + std::to_string(signerPid_) + "/limits");
  static const std::regex core("Max core file size +0 +0 ");
  EXPECT_TRUE(std::regex_search(limits, core)) << limits;
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  if (asRoot_) {
    EXPECT_EQ(st.st_gid, kNogroup);
  }
}

// Rewrites the row (writer, seq) and recomputes the rest of the chain, as the database owner can.
void rewriteConsistently(pg::Connection& owner, const std::string& writer, int64_t seq) {
  auto rows = owner.execParams(
      "SELECT id, seq, (extract(epoch FROM at) * 1000000)::bigint, actor, action, object, outcome,"
      " coalesce(request_id, ''), details::text, prev_hash FROM audit_log WHERE writer_id = $1 ORDER BY seq",
      {pg::Param::text(writer)});
  ASSERT_TRUE(rows) << rows.error().toString();
  std::string prev;
  for (int i = 0; i < rows->rows(); ++i) {
    AuditRecord r;
    r.writerId = writer;
    r.seq = rows->getInt(i, 1);
    r.at = TimePoint(std::chrono::microseconds(rows->getInt(i, 2)));
    r.event = AuditEvent{rows->get(i, 3), rows->get(i, 4), rows->get(i, 5), rows->get(i, 6), rows->get(i, 7), rows->get(i, 8)};
    r.prevHash = rows->getBytea(i, 9);
    if (r.seq < seq) {
      prev = AuditLog::computeHash(r);
      continue;
    }
    if (r.seq == seq) r.event.outcome = "success";
    r.prevHash = prev;
    std::string hash = AuditLog::computeHash(r);
    auto u = owner.execParams("UPDATE audit_log SET outcome = $1, prev_hash = $2, hash = $3 WHERE id = $4",
                              {pg::Param::text(r.event.outcome), pg::Param::bytes(r.prevHash), pg::Param::bytes(hash),
                               pg::Param::integer(rows->getInt(i, 0))});
    ASSERT_TRUE(u) << u.error().toString();
    prev = hash;
  }
}

// erdsd anchors the audit chains with tokens from the time-stamping unit in erds-signer; erdsctl
// verifies them against the root CA and names a history rewritten by the owner.
TEST_F(KeyLockdownTest, AuditAnchorsTimeStampedThroughTheSignerCatchAnOwnerRewrite) {
  auto app = pg::Connection::connect(roles_.appConninfo);
  ASSERT_TRUE(app) << app.error().toString();
  AuditLog audit(SystemClock::instance());
  // One transaction, so that no anchor sees only part of the four rows.
  ASSERT_TRUE((*app)->begin());
  for (const char* outcome : {"success", "failure", "denied", "success"}) {
    ASSERT_TRUE(audit.append(**app, AuditEvent{"party:7", "auth.login", "", outcome, "kt", "{}"}));
  }
  ASSERT_TRUE((*app)->commit());
  const std::string writer = (*app)->id();
  auto owner = pg::Connection::connect(roles_.ownerConninfo);
  ASSERT_TRUE(owner) << owner.error().toString();
  bool anchored = false;
  for (int i = 0; i < 100 && !anchored; ++i) {
    auto n = (*owner)->execParams("SELECT count(*) FROM audit_anchor_head WHERE writer_id = $1", {pg::Param::text(writer)});
    ASSERT_TRUE(n) << n.error().toString();
    anchored = n->getInt(0, 0) > 0;
    if (!anchored) std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(anchored) << "erdsd wrote no anchor over the new rows; stderr:\n" << joined(erdsd_->stderrLines());

  const std::string ctlConfig = dir_->path + "/erdsctl.ini";
  writeFile(ctlConfig,
            "[database]\nconninfo = " + roles_.ownerConninfoNoPassword + "\npassword_file = " + dir_->path +
                "/owner.password\nowner_conninfo = " + roles_.ownerConninfoNoPassword +
                "\nowner_password_file = " + dir_->path + "/owner.password\n",
            0600);
  auto good = runToCompletion({ERDSCTL_PATH, "audit", "verify", "--config", ctlConfig, "--trust", keyDir_ + "/root-ca.pem"});
  EXPECT_EQ(good.exitCode, 0) << good.out << joined(good.err);
  EXPECT_NE(good.out.find("signature verified against --trust"), std::string::npos) << good.out;

  // A wrong trust anchor: the token signature no longer verifies.
  auto other = runToCompletion({ERDSCTL_PATH, "pki", "init", "--dir", dir_->path + "/other-pki"});
  ASSERT_EQ(other.exitCode, 0);
  auto wrongTrust = runToCompletion(
      {ERDSCTL_PATH, "audit", "verify", "--config", ctlConfig, "--trust", dir_->path + "/other-pki/root-ca.pem"});
  EXPECT_EQ(wrongTrust.exitCode, 1) << wrongTrust.out;
  EXPECT_NE(wrongTrust.out.find("time-stamp token does not cover the anchored heads"), std::string::npos)
      << wrongTrust.out;

  // The owner turns the failed login (seq 2) into a success and recomputes the chain.
  rewriteConsistently(**owner, writer, 2);
  auto bad = runToCompletion({ERDSCTL_PATH, "audit", "verify", "--config", ctlConfig, "--trust", keyDir_ + "/root-ca.pem"});
  EXPECT_EQ(bad.exitCode, 1) << bad.out;
  EXPECT_NE(bad.out.find("PROBLEM: writer " + writer + ": rows seq 1..4 rewritten after anchor #"), std::string::npos)
      << bad.out << joined(bad.err);
  EXPECT_EQ(bad.out.find("changed: hash mismatch"), std::string::npos) << "the chain itself is consistent";
}

}  // namespace
}  // namespace erds::itest
