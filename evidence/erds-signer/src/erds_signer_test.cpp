// Tests that spawn the real erds-signer binary (ERDS_SIGNER_BINARY) with a throwaway PKI and talk
// to it through SignerClient and raw signer_protocol frames. When the tests run as root the signer
// is started as uid/gid 65534 (nobody), so that the non-dumpable check is observable.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "erds/base/aead.h"
#include "erds/base/audit.h"
#include "erds/base/clock.h"
#include "erds/base/migrations.h"
#include "erds/base/pg.h"
#include "erds/evidence/rfc3161_tsu.h"
#include "erds/evidence/signer_client.h"
#include "erds/evidence/signer_protocol.h"
#include "erds/migrations/migrations.h"

#include "test_database.h"
#include "test_pki.h"

namespace erds::signer {
namespace {

namespace sp = evidence::signer_protocol;
using evidence::testing::TestCertOptions;
using evidence::testing::TestPki;

constexpr uid_t kNobody = 65534;

const TestPki& pki() {
  static const TestPki p;
  return p;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string digestOf(const std::string& s) {
  return crypto::sha256(s);
}

int connectTo(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

bool readExact(int fd, std::size_t n, std::string& out) {
  out.assign(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

// Sends `frame` and returns the Error of the ErrorResponse received (or Internal if the reply is
// not an error frame).
Error exchangeForError(int fd, const std::string& frame) {
  if (::send(fd, frame.data(), frame.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(frame.size()))
    return Error::internal("send failed");
  std::string header, payload;
  if (!readExact(fd, sp::kHeaderBytes, header)) return Error::internal("no reply header");
  auto h = sp::decodeHeader(header, sp::kMaxResponsePayload);
  if (!h) return Error::internal("bad reply header");
  if (!readExact(fd, h->length, payload)) return Error::internal("no reply payload");
  auto r = sp::decodeSignResponse(*h, payload);
  if (r) return Error::internal("unexpected success");
  return r.error();
}

bool verifySignature(const std::string& certDer, const std::string& digest,
                     const std::string& signature) {
  const auto* p = reinterpret_cast<const unsigned char*>(certDer.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(certDer.size()));
  if (cert == nullptr) return false;
  EVP_PKEY* key = X509_get_pubkey(cert);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
  bool ok = ctx != nullptr && EVP_PKEY_verify_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) == 1 &&
            EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(digest.data()),
                            digest.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(key);
  X509_free(cert);
  return ok;
}

// A private directory with keys/ (seal, tsu, root-ca.pem) and a config file.
class SignerFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = evidence::testing::makeTempDir("erds-signer-test");
    const std::string keys = dir_ + "/keys";
    ASSERT_EQ(::mkdir(keys.c_str(), 0700), 0);
    TestCertOptions seal;
    seal.commonName = "erds DEVELOPMENT seal";
    sealCert_ = pki().issue(seal);
    TestCertOptions tsu;
    tsu.commonName = "erds DEVELOPMENT TSU";
    tsu.timeStamping = true;
    tsuCert_ = pki().issue(tsu);
    evidence::testing::writeKeyFiles(keys, "seal", sealCert_);
    evidence::testing::writeKeyFiles(keys, "tsu", tsuCert_);
    evidence::testing::writeFile(keys + "/root-ca.pem", pki().root().certPem);
    socket_ = dir_ + "/signer.sock";
    if (::geteuid() == 0) {
      // The signer runs as nobody: hand it its directory and keys.
      for (const auto& e : std::filesystem::recursive_directory_iterator(dir_))
        ASSERT_EQ(::lchown(e.path().c_str(), kNobody, kNobody), 0);
      ASSERT_EQ(::chown(dir_.c_str(), kNobody, kNobody), 0);
    }
  }

  void TearDown() override {
    stop();
    std::filesystem::remove_all(dir_);
  }

  std::string writeConfig(const std::string& extra = "") {
    const std::string path = dir_ + "/erds.ini";
    evidence::testing::writeFile(path,
                                 "[service]\nmode = " + mode_ + "\n[log]\nlevel = info\n"
                                 "[signer]\nsocket = signer.sock\nkey_dir = keys\n" +
                                     extra);
    return path;
  }

  // Starts erds-signer and returns its pid (its stdout+stderr go to <dir>/signer.log).
  pid_t spawn(const std::vector<std::string>& args, const std::string& logName = "signer.log") {
    const std::string log = dir_ + "/" + logName;
    int logFd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    EXPECT_GE(logFd, 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(logFd, 1);
      ::dup2(logFd, 2);
      if (::geteuid() == 0 && asNobody_) {
        if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)
          ::_exit(99);
      }
      std::vector<char*> argv;
      static std::string binary = ERDS_SIGNER_BINARY;
      argv.push_back(binary.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(98);
    }
    ::close(logFd);
    return pid;
  }

  // Runs erds-signer to completion; returns the exit code and fills `output`.
  int runToExit(const std::vector<std::string>& args, std::string& output) {
    pid_t pid = spawn(args, "run.log");
    int status = 0;
    ::waitpid(pid, &status, 0);
    output = slurp(dir_ + "/run.log");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Starts the daemon and waits until its socket accepts connections.
  void start(const std::string& extraConfig = "") {
    const std::string config = writeConfig(extraConfig);
    pid_ = spawn({"--config", config});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      int fd = connectTo(socket_);
      if (fd >= 0) {
        ::close(fd);
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL() << "erds-signer exited early: " << slurp(dir_ + "/signer.log");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "erds-signer did not open its socket: " << slurp(dir_ + "/signer.log");
  }

  // SIGTERM and wait; returns the exit status (or -1).
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::shared_ptr<evidence::SignerClient> client() {
    auto c = evidence::SignerClient::create({socket_, std::chrono::milliseconds(5000), 4});
    EXPECT_TRUE(c.has_value());
    return std::shared_ptr<evidence::SignerClient>(std::move(*c));
  }

  std::string dir_;
  std::string socket_;
  evidence::testing::TestCert sealCert_;
  evidence::testing::TestCert tsuCert_;
  pid_t pid_ = -1;
  bool asNobody_ = true;  // when the test runs as root
  std::string mode_ = "development";  // service.mode of writeConfig()
};

TEST_F(SignerFixture, SignsThroughTheSocketAndSignaturesVerify) {
  start();
  auto c = client();
  for (const char* label : {"seal", "tsu"}) {
    auto info = c->keyInfo(label);
    ASSERT_TRUE(info.has_value()) << info.error().toString();
    EXPECT_EQ(info->algorithm, evidence::KeyAlgorithm::EcdsaP256);
    EXPECT_EQ(info->certificateDer,
              std::string(label) == "seal" ? sealCert_.certDer : tsuCert_.certDer);
    EXPECT_EQ(info->chainDer, pki().root().certDer);
    const std::string digest = digestOf(std::string("evidence for ") + label);
    auto sig = c->signDigest(label, digest);
    ASSERT_TRUE(sig.has_value()) << sig.error().toString();
    EXPECT_TRUE(verifySignature(info->certificateDer, digest, *sig)) << label;
    EXPECT_FALSE(verifySignature(info->certificateDer, digestOf("other"), *sig)) << label;
  }
  auto missing = c->signDigest("root-ca", digestOf("x"));
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);

  // One audit line per signature (the log sink: no database configured), naming the peer.
  const std::string log = slurp(dir_ + "/signer.log");
  const std::string sealHex = crypto::toHex(digestOf("evidence for seal"));
  const auto line = log.find(sealHex);
  ASSERT_NE(line, std::string::npos) << log;
  const std::string auditLine =
      log.substr(log.rfind('\n', line) + 1, log.find('\n', line) - log.rfind('\n', line) - 1);
  EXPECT_NE(auditLine.find("\"audit\":true"), std::string::npos) << auditLine;
  EXPECT_NE(auditLine.find("\"key_label\":\"seal\""), std::string::npos) << auditLine;
  EXPECT_NE(auditLine.find("\"peer_pid\":" + std::to_string(::getpid())), std::string::npos)
      << auditLine;
  EXPECT_NE(auditLine.find("\"peer_uid\":" + std::to_string(::getuid())), std::string::npos)
      << auditLine;
  EXPECT_NE(log.find("\"result\":\"not_found\""), std::string::npos) << log;
  // Never key material.
  EXPECT_EQ(log.find("PRIVATE KEY"), std::string::npos);
  const std::string keyBody = sealCert_.keyPem.substr(sealCert_.keyPem.find('\n') + 1, 40);
  EXPECT_EQ(log.find(keyBody), std::string::npos);
}

TEST_F(SignerFixture, SocketIsMode0660AndProcessIsLockedDown) {
  start();
  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);

  // RLIMIT_CORE 0, as the kernel reports it.
  const std::string limits = slurp("/proc/" + std::to_string(pid_) + "/limits");
  std::istringstream in(limits);
  std::string lineText;
  bool sawCore = false;
  while (std::getline(in, lineText)) {
    if (lineText.rfind("Max core file size", 0) != 0) continue;
    sawCore = true;
    std::istringstream fields(lineText.substr(std::strlen("Max core file size")));
    std::string soft, hard;
    fields >> soft >> hard;
    EXPECT_EQ(soft, "0") << lineText;
    EXPECT_EQ(hard, "0") << lineText;
  }
  EXPECT_TRUE(sawCore) << limits;

  // PR_SET_DUMPABLE 0: the kernel then makes the process's /proc files owned by root, although
  // the process runs as another user (nobody when the test is root, else the test's own uid).
  const uid_t signerUid = ::geteuid() == 0 ? kNobody : ::getuid();
  ASSERT_NE(signerUid, 0u) << "needs a non-root signer to observe the dumpable flag";
  const std::string status = slurp("/proc/" + std::to_string(pid_) + "/status");
  EXPECT_NE(status.find("Uid:\t" + std::to_string(signerUid) + "\t"), std::string::npos) << status;
  struct stat procSt {};
  ASSERT_EQ(::stat(("/proc/" + std::to_string(pid_) + "/environ").c_str(), &procSt), 0);
  EXPECT_EQ(procSt.st_uid, 0u) << "dumpable process: /proc/<pid>/environ owned by its user";
}

TEST_F(SignerFixture, OversizeFrameIsRefusedAndTheConnectionDropped) {
  start();
  int fd = connectTo(socket_);
  ASSERT_GE(fd, 0);
  std::string frame = sp::encodeSignRequest("seal", digestOf("x"));
  // Rewrite the length field to just above the request limit.
  const std::uint32_t len = sp::kMaxRequestPayload + 1;
  frame[8] = static_cast<char>(len >> 24);
  frame[9] = static_cast<char>(len >> 16);
  frame[10] = static_cast<char>(len >> 8);
  frame[11] = static_cast<char>(len);
  Error e = exchangeForError(fd, frame.substr(0, sp::kHeaderBytes));
  EXPECT_EQ(e.code, ErrorCode::InvalidInput) << e.toString();
  char b;
  EXPECT_EQ(::recv(fd, &b, 1, 0), 0) << "the connection must be closed";
  ::close(fd);

  // Bad magic is dropped the same way.
  fd = connectTo(socket_);
  ASSERT_GE(fd, 0);
  std::string bad = sp::encodeKeyInfoRequest("seal");
  bad[0] = 'X';
  EXPECT_EQ(exchangeForError(fd, bad).code, ErrorCode::InvalidInput);
  // The payload after the bad header was never read, so the close may arrive as a reset.
  EXPECT_LE(::recv(fd, &b, 1, 0), 0);
  ::close(fd);
}

TEST_F(SignerFixture, BadDigestLengthAlgorithmAndLabelAreRejected) {
  start();
  int fd = connectTo(socket_);
  ASSERT_GE(fd, 0);
  struct Case {
    const char* name;
    std::string frame;
  };
  std::string wrongAlg = sp::encodeSignRequest("seal", digestOf("x"));
  wrongAlg[sp::kHeaderBytes + 1 + 4] = 2;  // digest algorithm byte after label-len + "seal"
  const Case kCases[] = {
      {"31-byte digest", sp::encodeSignRequest("seal", digestOf("x").substr(0, 31))},
      {"33-byte digest", sp::encodeSignRequest("seal", digestOf("x") + "!")},
      {"empty digest", sp::encodeSignRequest("seal", "")},
      {"unknown algorithm", wrongAlg},
      {"label with slash", sp::encodeSignRequest("../seal", digestOf("x"))},
      {"empty label", sp::encodeSignRequest("", digestOf("x"))},
  };
  for (const auto& c : kCases)
    EXPECT_EQ(exchangeForError(fd, c.frame).code, ErrorCode::InvalidInput) << c.name;
  ::close(fd);
  // Malformed requests do not break the service.
  auto sig = client()->signDigest("seal", digestOf("still fine"));
  EXPECT_TRUE(sig.has_value()) << sig.error().toString();
}

TEST_F(SignerFixture, RateLimitRefusesWithUnavailable) {
  start("max_signatures_per_second = 5\n");
  auto c = client();
  int granted = 0;
  int refused = 0;
  const auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) {
    auto sig = c->signDigest("seal", digestOf(std::to_string(i)));
    if (sig) {
      ++granted;
    } else {
      EXPECT_EQ(sig.error().code, ErrorCode::Unavailable) << sig.error().toString();
      EXPECT_NE(sig.error().message.find("rate limit"), std::string::npos) << sig.error().message;
      ++refused;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  EXPECT_GE(granted, 5);
  EXPECT_LE(granted, 5 + static_cast<int>(seconds * 5) + 1);
  EXPECT_GT(refused, 0);
  EXPECT_NE(slurp(dir_ + "/signer.log").find("signer.rate_limited"), std::string::npos);
  // Tokens come back with time.
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  EXPECT_TRUE(c->signDigest("seal", digestOf("later")).has_value());
}

TEST_F(SignerFixture, SigtermStopsCleanlyAndRemovesTheSocket) {
  start();
  auto c = client();
  ASSERT_TRUE(c->signDigest("seal", digestOf("x")).has_value());  // keeps an idle connection open
  EXPECT_EQ(stop(), 0);
  struct stat st {};
  EXPECT_NE(::lstat(socket_.c_str(), &st), 0) << "socket left behind";
  EXPECT_NE(slurp(dir_ + "/signer.log").find("\"signal\":\"SIGTERM\""), std::string::npos);
}

TEST_F(SignerFixture, RefusesALiveSocketAndReplacesAStaleOne) {
  start();
  std::string out;
  EXPECT_EQ(runToExit({"--config", dir_ + "/erds.ini"}, out), 1) << out;
  EXPECT_NE(out.find("another process is serving this socket"), std::string::npos) << out;
  EXPECT_TRUE(client()->signDigest("seal", digestOf("first still serves")).has_value());
  ASSERT_EQ(stop(), 0);

  // A stale socket: bound once, nobody listening.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  if (::geteuid() == 0) {
    ASSERT_EQ(::lchown(socket_.c_str(), kNobody, kNobody), 0);
  }
  start();
  EXPECT_TRUE(client()->signDigest("seal", digestOf("after stale")).has_value());

  // Not a socket at all: refused.
  ASSERT_EQ(stop(), 0);
  evidence::testing::writeFile(socket_, "not a socket");
  if (::geteuid() == 0) {
    ASSERT_EQ(::lchown(socket_.c_str(), kNobody, kNobody), 0);
  }
  EXPECT_EQ(runToExit({"--config", writeConfig()}, out), 1) << out;
  EXPECT_NE(out.find("exists and is not a socket"), std::string::npos) << out;
}

TEST_F(SignerFixture, ConfigurationErrorsExit2WithOneLine) {
  struct Case {
    const char* name;
    std::string config;
    const char* want;
  };
  const Case kCases[] = {
      {"unknown key", "[signer]\nsockett = x\n", "signer.sockett"},
      {"bad backend", "[signer]\nkey_dir = keys\nbackend = floppy\n", "signer.backend"},
      {"missing key dir", "[signer]\nsocket = s.sock\n", "signer.key_dir"},
      {"no keys there", "[signer]\nkey_dir = nowhere\n", "signer.key_dir"},
      {"zero rate", "[signer]\nkey_dir = keys\nmax_signatures_per_second = 0\n",
       "signer.max_signatures_per_second"},
      {"unknown group", "[signer]\nkey_dir = keys\nsocket_group = no-such-group-erds\n",
       "signer.socket_group"},
      {"pkcs11 without module", "[signer]\nkey_dir = keys\nbackend = pkcs11\n", "pkcs11.module"},
      {"bad tsa source", "[signer]\nkey_dir = keys\n[tsa]\nsource = sundial\n", "tsa.source"},
  };
  for (const auto& c : kCases) {
    const std::string path = dir_ + "/bad.ini";
    evidence::testing::writeFile(path, c.config);
    std::string out;
    EXPECT_EQ(runToExit({"--config", path}, out), 2) << c.name << ": " << out;
    EXPECT_NE(out.find(c.want), std::string::npos) << c.name << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << c.name << ": " << out;
  }
  std::string out;
  EXPECT_EQ(runToExit({"--config", writeConfig(), "--check-config"}, out), 0) << out;
  EXPECT_NE(out.find("configuration OK"), std::string::npos) << out;
  EXPECT_EQ(runToExit({"--version"}, out), 0);
  EXPECT_EQ(out.rfind("erds-signer ", 0), 0u) << out;
  EXPECT_EQ(runToExit({"--bogus"}, out), 2);
}

// Privilege drop (issue 8, item 5): started as root with signer.user = nobody, the signer reads
// keys only root can read, binds its socket, switches to nobody, then sets the lock-down flags.
// Needs root: the property is the switch away from root, which cannot be observed otherwise.
TEST_F(SignerFixture, StartedAsRootSwitchesToSignerUserAfterLoadingKeys) {
  ASSERT_EQ(::geteuid(), 0u) << "this test checks erds-signer's switch from root to signer.user: "
                                "run it as root (the CI and ./erds test do)";
  asNobody_ = false;  // erds-signer itself starts as root
  // The key files belong to root (0600): nobody could not read them, so signatures after the
  // switch prove the keys were loaded before it. The directory is the signer user's, mode 0700.
  const std::string keys = dir_ + "/keys";
  for (const auto& e : std::filesystem::directory_iterator(keys)) {
    ASSERT_EQ(::chown(e.path().c_str(), 0, 0), 0);
    ASSERT_EQ(::chmod(e.path().c_str(), 0600), 0);
  }
  ASSERT_EQ(::chmod(keys.c_str(), 0700), 0);
  struct group* adm = ::getgrnam("adm");
  ASSERT_NE(adm, nullptr) << "the test uses the group 'adm' as signer.socket_group";
  const gid_t socketGid = adm->gr_gid;
  mode_ = "basic";
  start("socket_group = adm\nuser = nobody\n");
  ASSERT_GT(pid_, 0);

  const std::string status = slurp("/proc/" + std::to_string(pid_) + "/status");
  const std::string n = std::to_string(kNobody);
  EXPECT_NE(status.find("\nUid:\t" + n + "\t" + n + "\t" + n + "\t" + n + "\n"), std::string::npos) << status;
  EXPECT_NE(status.find("\nGid:\t" + n + "\t" + n + "\t" + n + "\t" + n + "\n"), std::string::npos) << status;
  const auto groupsAt = status.find("\nGroups:");
  ASSERT_NE(groupsAt, std::string::npos) << status;
  const std::string groups = status.substr(groupsAt + 8, status.find('\n', groupsAt + 1) - groupsAt - 8);
  EXPECT_EQ(groups.find_first_not_of(" \t"), std::string::npos) << "supplementary groups left: " << groups;
  // Dumpable 0 set after the switch: /proc/<pid>/environ stays root's although the process is nobody's.
  struct stat procSt {};
  ASSERT_EQ(::stat(("/proc/" + std::to_string(pid_) + "/environ").c_str(), &procSt), 0);
  EXPECT_EQ(procSt.st_uid, 0u);

  struct stat st {};
  ASSERT_EQ(::lstat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, socketGid);
  EXPECT_EQ(st.st_uid, kNobody);

  auto c = client();
  auto info = c->keyInfo("seal");
  ASSERT_TRUE(info.has_value()) << info.error().toString();
  const std::string digest = digestOf("signed after the switch");
  auto sig = c->signDigest("seal", digest);
  ASSERT_TRUE(sig.has_value()) << sig.error().toString();
  EXPECT_TRUE(verifySignature(info->certificateDer, digest, *sig));
  EXPECT_NE(slurp(dir_ + "/signer.log").find("signer.user_switched"), std::string::npos);
}

// As root in basic/qualified mode without signer.user, and with a key directory others can read,
// the signer refuses to start (exit 2, one line naming the key).
TEST_F(SignerFixture, RootWithoutSignerUserAndOpenKeyDirectoryAreRefusedInProduction) {
  ASSERT_EQ(::geteuid(), 0u) << "this test starts erds-signer as root: run it as root";
  asNobody_ = false;
  std::string out;
  const std::string noUser = dir_ + "/no-user.ini";
  evidence::testing::writeFile(noUser, "[service]\nmode = basic\n[signer]\nsocket = s.sock\nkey_dir = keys\n");
  EXPECT_EQ(runToExit({"--config", noUser}, out), 2) << out;
  EXPECT_NE(out.find("signer.user"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;

  ASSERT_EQ(::chmod((dir_ + "/keys").c_str(), 0750), 0);
  const std::string openDir = dir_ + "/open-dir.ini";
  evidence::testing::writeFile(openDir, "[service]\nmode = basic\n[signer]\nsocket = s.sock\nkey_dir = keys\nuser = nobody\n");
  EXPECT_EQ(runToExit({"--config", openDir}, out), 2) << out;
  EXPECT_NE(out.find("signer.key_dir"), std::string::npos) << out;
  EXPECT_NE(out.find("0700"), std::string::npos) << out;

  ASSERT_EQ(::chmod((dir_ + "/keys").c_str(), 0700), 0);
  ASSERT_EQ(::chown((dir_ + "/keys").c_str(), 0, 0), 0);
  EXPECT_EQ(runToExit({"--config", openDir}, out), 2) << out;
  EXPECT_NE(out.find("owned by the signer's user"), std::string::npos) << out;

  // Development mode may stay root, with a warning.
  for (const auto& e : std::filesystem::directory_iterator(dir_ + "/keys"))
    ASSERT_EQ(::chown(e.path().c_str(), 0, 0), 0);
  const std::string dev = dir_ + "/dev.ini";
  evidence::testing::writeFile(dev, "[service]\nmode = development\n[signer]\nsocket = s.sock\nkey_dir = keys\n");
  EXPECT_EQ(runToExit({"--config", dev, "--check-config"}, out), 0) << out;
}

TEST_F(SignerFixture, AuditsEverySignatureInTheDatabaseWhenConfigured) {
  auto db = erds::testing::TestDatabase::create();
  ASSERT_TRUE(db.has_value()) << db.error().message;
  auto owner = pg::Connection::connect((*db)->ownerConninfo());
  ASSERT_TRUE(owner.has_value()) << owner.error().message;
  auto m = pg::applyMigrations(**owner, allMigrations(), (*db)->appRole());
  ASSERT_TRUE(m.has_value()) << m.error().message;
  const std::string passwordFile = dir_ + "/db.password";
  evidence::testing::writeFile(passwordFile, (*db)->appPassword() + "\n", 0600);
  // The test cluster's socket directory is private to its server user: this signer keeps our uid.
  asNobody_ = false;
  if (::geteuid() == 0) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_))
      ASSERT_EQ(::lchown(e.path().c_str(), 0, 0), 0);
  }
  start("[database]\nconninfo = " + (*db)->appConninfo(false) + "\npassword_file = db.password\n");
  auto c = client();
  for (int i = 0; i < 5; ++i) {
    auto sig = c->signDigest("seal", digestOf(std::to_string(i)));
    ASSERT_TRUE(sig.has_value()) << sig.error().toString() << "\n" << slurp(dir_ + "/signer.log");
  }
  EXPECT_EQ(c->signDigest("nope", digestOf("x")).error().code, ErrorCode::NotFound);

  // One record per batch and (uid, key, outcome), listing each signature: here each call was its
  // own batch (one client, one request at a time), so one signature per record.
  auto rows = (*owner)->execParams(
      "SELECT r.outcome, s->>'digest', s->>'peer_pid', r.actor, r.object, s->>'error',"
      " r.details->>'count'"
      " FROM audit_log r, jsonb_array_elements(r.details->'signatures') WITH ORDINALITY AS x(s, n)"
      " WHERE r.action = 'signer.sign' ORDER BY r.id, x.n",
      {});
  ASSERT_TRUE(rows.has_value()) << rows.error().message;
  ASSERT_EQ(rows->rows(), 6);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(rows->get(i, 0), "success");
    EXPECT_EQ(rows->get(i, 1), crypto::toHex(digestOf(std::to_string(i))));
    EXPECT_EQ(rows->get(i, 2), std::to_string(::getpid()));
    EXPECT_EQ(rows->get(i, 3), "uid:" + std::to_string(::getuid()));
    EXPECT_EQ(rows->get(i, 4), "key:seal");
    EXPECT_TRUE(rows->isNull(i, 5));
    EXPECT_EQ(rows->get(i, 6), "1");
  }
  EXPECT_EQ(rows->get(5, 0), "failure");
  EXPECT_EQ(rows->get(5, 1), crypto::toHex(digestOf("x")));
  EXPECT_EQ(rows->get(5, 4), "key:nope");
  EXPECT_EQ(rows->get(5, 5), "not_found");
  auto verified = AuditLog::verify(**owner);
  ASSERT_TRUE(verified.has_value()) << verified.error().message;
  EXPECT_TRUE(verified->ok) << verified->firstProblem;
  // With a database, the audit goes there, not to the log.
  EXPECT_EQ(slurp(dir_ + "/signer.log").find("\"audit\":true"), std::string::npos);
}

TEST_F(SignerFixture, WithholdsSignaturesWhenTheAuditTrailIsUnreachable) {
  start("[database]\nconninfo = host=/nonexistent-erds-signer port=1 dbname=x user=x\n"
        "acquire_timeout = 200ms\n");
  auto sig = client()->signDigest("seal", digestOf("unaudited"));
  ASSERT_FALSE(sig.has_value());
  EXPECT_EQ(sig.error().code, ErrorCode::Unavailable) << sig.error().toString();
  EXPECT_NE(sig.error().message.find("audit"), std::string::npos) << sig.error().message;
  EXPECT_NE(slurp(dir_ + "/signer.log").find("signer.audit_unavailable"), std::string::npos);
}

TEST_F(SignerFixture, TsuWithForwardingKeyOverTheSignerIssuesTokensOpensslAccepts) {
  start();
  evidence::Rfc3161TsuOptions o;
  o.policyOid = "1.3.6.1.4.1.55555.1.1";
  o.clockSyncCheck = [] { return ok(); };  // this VM's clock is reported unsynchronised
  auto tsu = evidence::Rfc3161Tsu::create(client(), o, SystemClock::instance());
  ASSERT_TRUE(tsu.has_value()) << tsu.error().toString();
  auto request =
      evidence::buildTimestampRequest(digestOf("sealed evidence"), "\x01\x02\x03\x04", true, "");
  ASSERT_TRUE(request.has_value()) << request.error().toString();
  auto response = (*tsu)->respond(*request);
  ASSERT_TRUE(response.has_value()) << response.error().toString();
  const std::string tsq = dir_ + "/q.tsq";
  const std::string tsr = dir_ + "/r.tsr";
  const std::string ca = dir_ + "/ca.pem";
  evidence::testing::writeFile(tsq, *request);
  evidence::testing::writeFile(tsr, *response);
  evidence::testing::writeFile(ca, pki().root().certPem);
  const std::string cmd =
      "openssl ts -verify -queryfile " + tsq + " -in " + tsr + " -CAfile " + ca + " 2>&1";
  std::string output;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr)
    output += buf.data();
  EXPECT_EQ(::pclose(p), 0) << output;
  EXPECT_NE(output.find("Verification: OK"), std::string::npos) << output;
  // The tsu key really was used through the signer: its audit trail names it.
  EXPECT_NE(slurp(dir_ + "/signer.log").find("\"key_label\":\"tsu\""), std::string::npos);
}

}  // namespace
}  // namespace erds::signer
