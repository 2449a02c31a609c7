// erds-signer: the only erds process that holds the evidence-sealing and time-stamping keys. It
// signs SHA-256 digests for a key label ("seal", "tsu") and does nothing else.
//
// SECURITY
// - Talks to: its clients (erdsd, erds-smtpd, erdsctl) over one Unix socket only (signer.socket,
//   mode 0660, group signer.socket_group); optionally PostgreSQL as database.app_role, only to
//   append audit records. No network listener, no HTTP, no XML: it parses nothing but the small
//   signer_protocol frames, whose header, size, label, digest length and algorithm are checked
//   before a key is touched.
// - Runs as: a dedicated user (e.g. erds-signer) whose group-mates are the only allowed clients.
//   Started as root, it loads its keys and binds its socket, then switches to signer.user /
//   signer.group (setgroups, setgid, setuid; regaining root is checked to fail) before serving;
//   as root without signer.user it refuses to start in basic/qualified mode (development: a
//   warning). In basic/qualified mode the file key directory must be mode 0700 and owned by the
//   user the signer runs as. Needs no capabilities after the switch.
// - Reads: its configuration file, the key directory signer.key_dir (seal.key/tsu.key mode
//   0400/0600, read once at startup) or a PKCS#11 token (PIN from pkcs11.pin_file), and
//   database.password_file. After loading (and after the user switch, which resets the flag) it
//   locks down: PR_SET_DUMPABLE 0 (no ptrace by other users, /proc/<pid>/mem and environ owned by
//   root) and RLIMIT_CORE 0 (no core dumps), before it accepts a single connection.
// - Must never: log or send key material (only signatures, certificates and audit records leave
//   it), take keys from the environment, or return a signature whose audit record could not be
//   written. It rate-limits signatures (signer.max_signatures_per_second) so a compromised client
//   cannot mint evidence at unbounded speed. It cannot know what it signs: a client that can reach
//   the socket can obtain signatures over any digest, including time-stamp tokens with a time of
//   its choosing, so the socket group is the trust boundary and the audit trail is the record.
#include <grp.h>
#include <pwd.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "erds/base/config.h"
#include "erds/base/daemon.h"
#include "erds/base/log.h"
#include "erds/base/pg.h"
#include "erds/evidence/file_key_signer.h"
#include "erds/evidence/pkcs11_signer.h"

#include "signature_audit.h"
#include "signer_server.h"

namespace {

using erds::daemon::kExitFailure;
using erds::daemon::kExitOk;
using erds::daemon::kExitUsage;

constexpr const char* kUsage =
    "usage: erds-signer --config FILE [--check-config]\n"
    "       erds-signer --help | --version\n"
    "  --config FILE    INI configuration (signer.*, pkcs11.*, database.*; ERDS_* environment\n"
    "                   variables override non-secret keys)\n"
    "  --check-config   validate the configuration and load the keys, then exit\n"
    "Serves signatures on the Unix socket signer.socket until SIGTERM or SIGINT.\n";

int fail(int code, const std::string& line) {
  std::cerr << "erds-signer: " << line << "\n";
  return code;
}

bool fileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string keyContext(const erds::Config& config, const std::string& key) {
  return key + " (" + config.sourceOf(key) + ")";
}

// seal is always required; tsu only when its certificate is there (an external TSA needs none).
std::vector<std::string> keyLabels(const std::string& dir) {
  std::vector<std::string> labels = {"seal"};
  if (fileExists(dir + "/tsu.pem")) labels.push_back("tsu");
  return labels;
}

erds::Result<std::unique_ptr<erds::evidence::Signer>> loadSigner(const erds::Config& config) {
  const std::string dir = config.getPath("signer.key_dir");
  if (dir.empty())
    return erds::Error::invalidInput(keyContext(config, "signer.key_dir") + ": is required");
  const std::vector<std::string> labels = keyLabels(dir);
  if (config.getString("signer.backend") == "file") {
    auto s = erds::evidence::FileKeySigner::fromDirectory(dir, labels);
    if (!s)
      return erds::Error{s.error().code,
                         keyContext(config, "signer.key_dir") + ": " + s.error().message};
    return std::unique_ptr<erds::evidence::Signer>(std::move(*s));
  }
  for (const char* key : {"pkcs11.module", "pkcs11.token_uri", "pkcs11.pin_file"})
    if (!config.isSet(key))
      return erds::Error::invalidInput(keyContext(config, key) +
                                       ": is required with signer.backend=pkcs11");
  erds::evidence::Pkcs11SignerOptions options;
  options.modulePath = config.getPath("pkcs11.module");
  options.pinFile = config.getPath("pkcs11.pin_file");
  const std::string token = config.getString("pkcs11.token_uri");
  if (token.rfind("pkcs11:", 0) != 0 || token.find("pin-") != std::string::npos)
    return erds::Error::invalidInput(keyContext(config, "pkcs11.token_uri") +
                                     ": must be a pkcs11: URI without a PIN");
  for (const auto& label : labels)
    options.keys[label] = {token + ";object=" + label + ";type=private", dir + "/" + label + ".pem",
                           ""};
  auto s = erds::evidence::Pkcs11Signer::create(options);
  if (!s) return erds::Error{s.error().code, "signer.backend=pkcs11: " + s.error().message};
  return std::unique_ptr<erds::evidence::Signer>(std::move(*s));
}

// Qualified mode must not sign with the development PKI.
erds::Result<void> checkNotDevelopment(erds::evidence::Signer& signer, const std::string& label) {
  auto info = signer.keyInfo(label);
  if (!info) return info.error();
  const auto* p = reinterpret_cast<const unsigned char*>(info->certificateDer.data());
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(info->certificateDer.size()));
  if (cert == nullptr) return erds::Error::invalidInput(label + ": unreadable certificate");
  char subject[512];
  char issuer[512];
  X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
  X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof issuer);
  X509_free(cert);
  if (std::strstr(subject, "DEVELOPMENT") != nullptr ||
      std::strstr(issuer, "DEVELOPMENT") != nullptr)
    return erds::Error::invalidInput(
        "signer.key_dir: service.mode=qualified refuses the DEVELOPMENT "
        "certificate of key '" +
        label + "'");
  return erds::ok();
}

// The user and group erds-signer switches to when started as root (signer.user / signer.group).
struct RunAs {
  bool set = false;
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
};

erds::Result<RunAs> resolveRunAs(const erds::Config& config) {
  RunAs out;
  out.user = config.getString("signer.user");
  if (out.user.empty()) return out;
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (::getpwnam_r(out.user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr)
    return erds::Error::invalidInput(keyContext(config, "signer.user") + ": no such user '" +
                                     out.user + "'");
  if (found->pw_uid == 0)
    return erds::Error::invalidInput(keyContext(config, "signer.user") + ": must not be root");
  out.set = true;
  out.uid = found->pw_uid;
  out.gid = found->pw_gid;
  if (const std::string group = config.getString("signer.group"); !group.empty()) {
    struct group gr {};
    struct group* g = nullptr;
    if (::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &g) != 0 || g == nullptr)
      return erds::Error::invalidInput(keyContext(config, "signer.group") + ": no such group '" +
                                       group + "'");
    if (g->gr_gid == 0)
      return erds::Error::invalidInput(keyContext(config, "signer.group") + ": must not be root");
    out.gid = g->gr_gid;
  }
  return out;
}

// setgroups, setgid, setuid (all of real, effective and saved ids), then proves there is no way
// back. The caller sets PR_SET_DUMPABLE afterwards: a uid change resets it.
erds::Result<void> switchUser(const RunAs& runAs) {
  if (::setgroups(0, nullptr) != 0)
    return erds::Error::internal(std::string("setgroups: ") + std::strerror(errno));
  if (::setresgid(runAs.gid, runAs.gid, runAs.gid) != 0)
    return erds::Error::internal(std::string("setresgid: ") + std::strerror(errno));
  if (::setresuid(runAs.uid, runAs.uid, runAs.uid) != 0)
    return erds::Error::internal(std::string("setresuid: ") + std::strerror(errno));
  if (::setuid(0) == 0 || ::geteuid() != runAs.uid || ::getegid() != runAs.gid)
    return erds::Error::internal("the switch to signer.user did not hold");
  return erds::ok();
}

// Production key directories: mode 0700 (nothing for group or others), owned by the signer's user.
erds::Result<void> checkKeyDirectory(const erds::Config& config, uid_t owner) {
  const std::string dir = config.getPath("signer.key_dir");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return erds::Error::invalidInput(keyContext(config, "signer.key_dir") + ": " +
                                     std::strerror(errno));
  if ((st.st_mode & 077) != 0)
    return erds::Error::invalidInput(keyContext(config, "signer.key_dir") +
                                     ": must be mode 0700 (no access for group or others)");
  if (st.st_uid != owner)
    return erds::Error::invalidInput(keyContext(config, "signer.key_dir") +
                                     ": must be owned by the signer's user (uid " +
                                     std::to_string(owner) + ")");
  return erds::ok();
}

// Load secrets, then restrict, then serve.
erds::Result<void> lockDown() {
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return erds::Error::internal(std::string("prctl(PR_SET_DUMPABLE): ") + std::strerror(errno));
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0)
    return erds::Error::internal(std::string("setrlimit(RLIMIT_CORE): ") + std::strerror(errno));
  return erds::ok();
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = erds::daemon::parseArgs(argc, argv, "erds-signer", ERDS_VERSION, kUsage);
  if (const int* exitCode = std::get_if<int>(&parsed)) return *exitCode;
  const std::string configPath = std::get<erds::daemon::DaemonArgs>(parsed).configPath;
  const bool checkOnly = std::get<erds::daemon::DaemonArgs>(parsed).checkConfig;

  // SIGPIPE ignored; SIGINT/SIGTERM blocked before any thread starts (the signal thread below takes them).
  const erds::daemon::StopSignals stopSignals;

  auto config = erds::daemon::loadConfigAndInitLog(configPath, "erds-signer");
  if (!config) return fail(kExitUsage, config.error().message);

  auto runAs = resolveRunAs(*config);
  if (!runAs) return fail(kExitUsage, runAs.error().message);
  const bool production = config->mode() != erds::ServiceMode::Development;
  const bool startedAsRoot = ::geteuid() == 0;
  if (startedAsRoot && !runAs->set && production)
    return fail(kExitUsage, keyContext(*config, "signer.user") +
                                ": is required when erds-signer is started as root in " +
                                std::string(erds::serviceModeName(config->mode())) + " mode");
  if (!startedAsRoot && runAs->set && ::geteuid() != runAs->uid)
    return fail(kExitUsage, keyContext(*config, "signer.user") + ": cannot switch to '" +
                                runAs->user + "' without being started as root");
  if (production && config->getString("signer.backend") == "file") {
    if (auto r = checkKeyDirectory(*config, runAs->set ? runAs->uid : ::geteuid()); !r)
      return fail(kExitUsage, r.error().message);
  }

  const int64_t rate = config->getInt("signer.max_signatures_per_second");
  if (rate < 1 || rate > 10'000'000)
    return fail(kExitUsage,
                keyContext(*config, "signer.max_signatures_per_second") + ": must be 1..10000000");
  erds::signer::SignerServerOptions serverOptions;
  serverOptions.socketPath = config->getPath("signer.socket");
  serverOptions.maxSignaturesPerSecond = static_cast<double>(rate);
  if (serverOptions.socketPath.empty())
    return fail(kExitUsage, keyContext(*config, "signer.socket") + ": is required");
  if (const std::string group = config->getString("signer.socket_group"); !group.empty()) {
    std::vector<char> buf(16384);
    struct group gr {};
    struct group* found = nullptr;
    int rc = 0;
    while ((rc = ::getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found)) == ERANGE &&
           buf.size() < (1u << 20))
      buf.resize(buf.size() * 4);
    if (rc != 0 || found == nullptr)
      return fail(kExitUsage,
                  keyContext(*config, "signer.socket_group") + ": no such group '" + group + "'");
    serverOptions.socketGroup = found->gr_gid;
  }

  // Secrets first: keys and the database password are read before the lock-down...
  auto signer = loadSigner(*config);
  if (!signer) {
    const bool usage = signer.error().is(erds::ErrorCode::InvalidInput) ||
                       signer.error().is(erds::ErrorCode::NotFound);
    return fail(usage ? kExitUsage : kExitFailure, signer.error().message);
  }
  if (config->mode() == erds::ServiceMode::Qualified) {
    for (const auto& label : keyLabels(config->getPath("signer.key_dir")))
      if (auto r = checkNotDevelopment(**signer, label); !r)
        return fail(kExitUsage, r.error().message);
  }
  std::unique_ptr<erds::pg::Pool> pool;
  if (config->isSet("database.conninfo")) {
    // One writer (group commit) plus a spare.
    auto poolOptions = erds::daemon::poolOptionsFromConfig(*config, /*fixedSize=*/2);
    if (!poolOptions) return fail(kExitUsage, poolOptions.error().message);
    pool = std::make_unique<erds::pg::Pool>(std::move(*poolOptions));
  }
  if (checkOnly) {
    std::cout << "erds-signer: configuration OK (" << configPath << ")\n";
    return kExitOk;
  }

  std::unique_ptr<erds::signer::SignatureAudit> audit;
  if (pool)
    audit = std::make_unique<erds::signer::DatabaseSignatureAudit>(*pool,
                                                                   erds::SystemClock::instance());
  else
    audit = std::make_unique<erds::signer::LogSignatureAudit>();

  // ...bind the socket while still privileged (it may live in a root-owned run directory; it is
  // handed to the signer's user and the socket group)...
  if (runAs->set) serverOptions.socketOwner = runAs->uid;
  auto server = erds::signer::SignerServer::listen(serverOptions, **signer, *audit,
                                                   erds::SystemClock::instance());
  if (!server) {
    return fail(server.error().is(erds::ErrorCode::InvalidInput) ? kExitUsage : kExitFailure,
                server.error().message);
  }

  // ...then restrict: drop root, and only then (setuid resets it) the dumpable flag and cores.
  if (startedAsRoot && runAs->set) {
    if (auto r = switchUser(*runAs); !r) return fail(kExitFailure, r.error().message);
    erds::log::info("signer.user_switched", {{"user", runAs->user},
                                             {"uid", static_cast<int64_t>(runAs->uid)},
                                             {"gid", static_cast<int64_t>(runAs->gid)}});
  }
  if (auto r = lockDown(); !r) return fail(kExitFailure, r.error().message);
  if (::geteuid() == 0)
    erds::log::warn("signer.running_as_root",
                    {{"advice", "set signer.user: erds-signer should run as its own user"}});

  // ...then serve.
  erds::log::info("signer.started",
                  {{"backend", config->getString("signer.backend")},
                   {"keys", std::to_string(keyLabels(config->getPath("signer.key_dir")).size())},
                   {"audit", pool ? "database" : "log"},
                   {"max_signatures_per_second", rate},
                   {"mode", std::string(erds::serviceModeName(config->mode()))}});

  erds::signer::SignerServer* serving = server->get();
  std::thread signalThread([serving, &stopSignals] {
    const int sig = stopSignals.wait();
    erds::log::info("shutdown", {{"signal", std::string(erds::daemon::StopSignals::name(sig))}});
    serving->stop();
  });
  serving->serve();
  // serve() can also end on its own (poll failure): wake the signal thread so it can be joined.
  pthread_kill(signalThread.native_handle(), SIGTERM);
  signalThread.join();
  server->reset();
  audit.reset();
  return kExitOk;
}
