// Test-only: a development PKI whose seal and TSU certificates name an OCSP responder (AIA) and a
// CRL distribution point on 127.0.0.1, an index file in `openssl ca` format, OCSP responses made
// by `openssl ocsp -respout` (a responder implementation we did not write), and helpers that run
// `openssl ocsp -port N` and `python3 -m http.server` as real servers for the online tests.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "erds/base/result.h"
#include "xades_test_util.h"

extern char** environ;

namespace erds::evidence::testing {

// A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read, close).
inline int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ERDS_CHECK(fd >= 0, "socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ERDS_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "bind");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}


inline std::string readBinary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process (killed and reaped by the destructor) that serves on `port`.
class ServerProcess {
 public:
  // Ready when the log (stdout+stderr) contains `readyText`. (Not by connecting: `openssl ocsp`
  // serves one connection at a time and would wait on a probe that sends nothing.)
  ServerProcess(const std::vector<std::string>& argv, const std::string& readyText, const std::string& logPath) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ERDS_CHECK(rc == 0, "posix_spawnp of a test server failed");
    for (int i = 0; i < 200 && !ready_; ++i) {
      ready_ = readBinary(logPath).find(readyText) != std::string::npos;
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  bool ready() const { return ready_; }

 private:
  pid_t pid_ = -1;
  bool ready_ = false;
};

inline int runQuiet(const std::string& command) {
  const int status = std::system((command + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}


// Upper-case hex serial as `openssl ocsp` looks it up in the index.
inline std::string serialHex(const TestCert& c) {
  const auto* p = reinterpret_cast<const unsigned char*>(c.certDer.data());
  std::unique_ptr<X509, decltype(&X509_free)> x(d2i_X509(nullptr, &p, static_cast<long>(c.certDer.size())), X509_free);
  ERDS_CHECK(x != nullptr, "test cert");
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(ASN1_INTEGER_to_BN(X509_get_serialNumber(x.get()), nullptr), BN_free);
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

// An OCSP-enabled development PKI in its own directory.
struct OcspPki {
  TestPki pki{"erds DEVELOPMENT ocsp test root"};
  std::string dir = makeTempDir("erds-ocsp");
  int ocspPort = freePort();
  int crlPort = freePort();
  std::string ocspUrl = "http://127.0.0.1:" + std::to_string(ocspPort) + "/";
  std::string crlUrl = "http://127.0.0.1:" + std::to_string(crlPort) + "/root.crl";
  TestCert seal;        // AIA OCSP
  TestCert sealRevoked; // AIA OCSP, revoked in the index
  TestCert tsu;         // AIA OCSP + CDP
  TestCert tsuRevoked;  // AIA OCSP, revoked in the index
  TestCert tsuCrlOnly;  // CDP only (the online CRL path)
  TestCert responder;   // delegated responder: issued by the root with id-kp-OCSPSigning
  TestCert rogue;       // issued by the root without id-kp-OCSPSigning: not authorised
  std::shared_ptr<FileKeySigner> signer;

  OcspPki() {
    TestCertOptions o;
    o.ocspUrl = ocspUrl;
    o.commonName = "erds DEVELOPMENT ocsp seal";
    seal = pki.issue(o);
    o.commonName = "erds DEVELOPMENT ocsp seal (revoked)";
    sealRevoked = pki.issue(o);
    o.timeStamping = true;
    o.crlUrl = crlUrl;
    o.commonName = "erds DEVELOPMENT ocsp TSU";
    tsu = pki.issue(o);
    o.crlUrl.clear();
    o.commonName = "erds DEVELOPMENT ocsp TSU (revoked)";
    tsuRevoked = pki.issue(o);
    o.ocspUrl.clear();
    o.crlUrl = crlUrl;
    o.commonName = "erds DEVELOPMENT crl-only TSU";
    tsuCrlOnly = pki.issue(o);
    TestCertOptions r;
    r.commonName = "erds DEVELOPMENT OCSP responder";
    r.ocspSigning = true;
    responder = pki.issue(r);
    r.commonName = "erds DEVELOPMENT not a responder";
    r.ocspSigning = false;
    rogue = pki.issue(r);
    writeKeyFiles(dir, "seal", seal);
    writeKeyFiles(dir, "seal-revoked", sealRevoked);
    writeKeyFiles(dir, "tsu", tsu);
    writeKeyFiles(dir, "tsu-revoked", tsuRevoked);
    writeKeyFiles(dir, "tsu-crl", tsuCrlOnly);
    writeKeyFiles(dir, "responder", responder);
    writeKeyFiles(dir, "rogue", rogue);
    writeFile(dir + "/root-ca.pem", pki.root().certPem);
    writeFile(dir + "/root-ca.key", pki.root().keyPem, 0600);
    // The index `openssl ocsp` answers from: the "revoked" certificates were revoked an hour ago.
    const std::time_t revokedAt = std::time(nullptr) - 3600;
    char when[32];
    std::tm tm{};
    gmtime_r(&revokedAt, &tm);
    std::strftime(when, sizeof when, "%y%m%d%H%M%SZ", &tm);
    // (Distinct subjects: `openssl ca` indexes refuse duplicates unless told otherwise.)
    std::string index;
    for (const TestCert* c : {&seal, &tsu, &tsuCrlOnly, &responder, &rogue})
      index += "V\t351231000000Z\t\t" + serialHex(*c) + "\tunknown\t/CN=" + serialHex(*c) + "\n";
    for (const TestCert* c : {&sealRevoked, &tsuRevoked})
      index += "R\t351231000000Z\t" + std::string(when) + "\t" + serialHex(*c) + "\tunknown\t/CN=" + serialHex(*c) + "\n";
    writeFile(dir + "/index.txt", index);
    // The root's CRL (DER) for the CDP, listing the revoked certificates, valid 30 days.
    const std::string crlPem = issueCrl(pki, sealRevoked.certPem);
    writeFile(dir + "/root.crl.pem", crlPem);
    ERDS_CHECK(runQuiet("openssl crl -in " + dir + "/root.crl.pem -outform DER -out " + dir + "/root.crl") == 0,
               "openssl crl");
    auto s = FileKeySigner::fromDirectory(dir, {"seal", "seal-revoked", "tsu", "tsu-revoked", "tsu-crl"});
    ERDS_CHECK(s.has_value(), "FileKeySigner::fromDirectory failed");
    signer = std::move(*s);
  }
  ~OcspPki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  OcspPki(const OcspPki&) = delete;
  OcspPki& operator=(const OcspPki&) = delete;

  // A DER OCSP response for certificate file <label>.pem made by `openssl ocsp -respout`, signed by
  // `signerLabel` ("root-ca" = the issuer itself, "responder" = the delegate, "rogue").
  // `validity` is "-ndays 1" or "-nmin 1" etc.
  std::string respond(const std::string& label, const std::string& signerLabel = "root-ca",
                      const std::string& validity = "-ndays 1") const {
    const std::string out = dir + "/" + label + "." + signerLabel + ".ocsp";
    const std::string key = signerLabel == "root-ca" ? dir + "/root-ca.key" : dir + "/" + signerLabel + ".key";
    // The issuer's own responses omit the certificate (verifiers have it); delegates include theirs.
    const std::string noCerts = signerLabel == "root-ca" ? " -resp_no_certs" : "";
    const int rc = runQuiet("openssl ocsp -index " + dir + "/index.txt -CA " + dir + "/root-ca.pem -rsigner " + dir +
                            "/" + signerLabel + ".pem -rkey " + key + " -issuer " + dir + "/root-ca.pem -cert " + dir +
                            "/" + label + ".pem -respout " + out + " -noverify " + validity + noCerts);
    ERDS_CHECK(rc == 0, "openssl ocsp -respout failed");
    return readBinary(out);
  }

  // `openssl ocsp` serving the index on ocspPort, signing with the delegated responder.
  std::unique_ptr<ServerProcess> startResponder() const {
    return std::make_unique<ServerProcess>(
        std::vector<std::string>{"openssl", "ocsp", "-index", dir + "/index.txt", "-CA", dir + "/root-ca.pem",
                                 "-rsigner", dir + "/responder.pem", "-rkey", dir + "/responder.key", "-port",
                                 std::to_string(ocspPort), "-ndays", "1"},
        "waiting for OCSP client connections", dir + "/ocsp-server.log");
  }
  // python3's http.server serving `dir` (root.crl) on crlPort.
  std::unique_ptr<ServerProcess> startCrlServer() const {
    return std::make_unique<ServerProcess>(
        std::vector<std::string>{"python3", "-u", "-m", "http.server", std::to_string(crlPort), "--bind",
                                 "127.0.0.1", "--directory", dir},
        "Serving HTTP", dir + "/crl-server.log");
  }

  std::shared_ptr<Rfc3161Tsu> tsa(const std::string& label = "tsu") const {
    Rfc3161TsuOptions o;
    o.keyLabel = label;
    o.policyOid = "1.3.6.1.4.1.55555.1.1";
    o.requireSyncedClock = false;
    o.clockSyncCheck = [] { return Result<void>{}; };
    auto u = Rfc3161Tsu::create(signer, o, SystemClock::instance());
    ERDS_CHECK(u.has_value(), "Rfc3161Tsu::create failed");
    return std::shared_ptr<Rfc3161Tsu>(std::move(*u));
  }
};

}  // namespace erds::evidence::testing
