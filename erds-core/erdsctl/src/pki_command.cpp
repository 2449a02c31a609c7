// `erdsctl pki init`: writes the development PKI (see erds/ctl/pki.h) and prints what it made.
// `erdsctl pki ocsp`: signs "good" OCSP responses for its seal and TSU certificates.
#include "erds/ctl/pki.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "commands.h"

namespace erds::ctl::internal {
namespace {

int pkiInit(const Args& args, Io& io) {
  PkiOptions options;
  options.dir = args.get("--dir");
  options.force = args.has("--force");
  if (args.has("--crl-url")) options.crlUrl = args.get("--crl-url");
  if (args.has("--ocsp-url")) options.ocspUrl = args.get("--ocsp-url");
  if (args.has("--algorithm")) {
    auto algorithm = parseKeyAlgorithm(args.get("--algorithm"));
    if (!algorithm) {
      io.err << "erdsctl pki init: " << algorithm.error().message << "\n";
      return kExitUsage;
    }
    options.algorithm = *algorithm;
  }
  auto report = initDevelopmentPki(options);
  if (!report) {
    io.err << "erdsctl pki init: " << report.error().message << "\n";
    return report.error().is(ErrorCode::InvalidInput) ? kExitUsage : kExitFailure;
  }
  io.out << "development PKI written to " << options.dir << " ("
         << keyAlgorithmLabel(options.algorithm)
         << "); DEVELOPMENT ONLY: refused by service.mode = qualified\n";
  for (const auto& c : report->certificates) {
    io.out << "  " << c.certPath << "\n"
           << "    subject:  " << c.subject << "\n"
           << "    key:      " << c.keyPath << " (" << c.algorithm << ", mode 0600)\n"
           << "    validity: " << c.notBefore << " .. " << c.notAfter << "\n";
  }
  io.out << "  " << options.dir << "/root-ca.crl.pem (root CRL, revokes nothing)\n";
  if (!options.crlUrl.empty())
    io.out << "  " << options.dir << "/root-ca.crl (the same CRL, DER: serve it at " << options.crlUrl << ")\n";
  if (!options.ocspUrl.empty())
    io.out << "  " << options.dir << "/index.txt (OCSP index; serve " << options.ocspUrl << " with:\n"
           << "    openssl ocsp -index " << options.dir << "/index.txt -CA " << options.dir << "/root-ca.pem -rsigner "
           << options.dir << "/ocsp.pem -rkey " << options.dir << "/ocsp.key -port PORT -ndays 1)\n";
  return kExitOk;
}

// Writes `data` to a new file (mode 0644); refuses an existing one unless `force`.
bool writeNew(const std::string& path, const std::string& data, bool force, std::string& why) {
  if (force) ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    why = errno == EEXIST ? path + " exists (use --force to replace it)" : path + ": " + std::strerror(errno);
    return false;
  }
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      why = path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    why = path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

int pkiOcsp(const Args& args, Io& io) {
  int days = 7;
  if (args.has("--days")) {
    const std::string v = args.get("--days");
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 1 || n > 3650) {
      io.err << "erdsctl pki ocsp: --days must be a whole number of days (1..3650), not '" << v << "'\n";
      return kExitUsage;
    }
    days = static_cast<int>(n);
  }
  auto pem = developmentOcspResponses(args.get("--dir"), days);
  if (!pem) {
    io.err << "erdsctl pki ocsp: " << pem.error().message << "\n";
    return pem.error().is(ErrorCode::Internal) ? kExitFailure : kExitUsage;
  }
  const std::string out = args.get("--out");
  std::string why;
  if (!writeNew(out, *pem, args.has("--force"), why)) {
    io.err << "erdsctl pki ocsp: " << why << "\n";
    return kExitFailure;
  }
  io.out << "wrote " << out << ": OCSP responses \"good\" for seal.pem and tsu.pem, signed by root-ca, valid " << days
         << " day(s); DEVELOPMENT ONLY (use as signer.ocsp_files or evidence verify --ocsp)\n";
  return kExitOk;
}

}  // namespace

Command pkiInitCommand() {
  return Command{
      .path = "pki init",
      .help = "create a DEVELOPMENT PKI (root CA, seal, time-stamping unit, TLS server)",
      .usage = "--dir DIR [--algorithm p256|rsa3072] [--crl-url URL] [--ocsp-url URL] [--force]",
      .options = {{"--dir", "DIR", true},
                  {"--algorithm", "p256|rsa3072", false},
                  {"--crl-url", "URL", false},
                  {"--ocsp-url", "URL", false},
                  {"--force", "", false}},
      .positionalNames = {},
      .details =
          "Writes root-ca.pem/.key, seal.pem/.key, tsu.pem/.key and tls.pem/.key into DIR "
          "(created\n"
          "0700 if missing). Keys are PKCS#8 PEM, mode 0600; tls.pem holds the server certificate\n"
          "then the root. Existing files are never overwritten without --force (exit 1).\n"
          "--crl-url URL: seal, tsu and tls certificates carry cRLDistributionPoints URL; root-ca.crl\n"
          "  (DER) is written for serving there.\n"
          "--ocsp-url URL: they carry an AIA OCSP entry URL; ocsp.pem/.key (a delegated OCSP responder)\n"
          "  and index.txt are written for `openssl ocsp -index DIR/index.txt -CA DIR/root-ca.pem\n"
          "  -rsigner DIR/ocsp.pem -rkey DIR/ocsp.key -port PORT`. Without these options the files\n"
          "  and certificates are exactly as before.",
      .handler = pkiInit,
  };
}

// Registered by the dispatcher table (commands.h / builtin_commands.cpp) as `pki ocsp`.
Command pkiOcspCommand() {
  return Command{
      .path = "pki ocsp",
      .help = "sign \"good\" OCSP responses for the DEVELOPMENT seal and TSU certificates",
      .usage = "--dir DIR --out FILE [--days N] [--force]",
      .options = {{"--dir", "DIR", true}, {"--out", "FILE", true}, {"--days", "N", false}, {"--force", "", false}},
      .positionalNames = {},
      .details =
          "Reads DIR/root-ca.pem/.key, seal.pem and tsu.pem (from `erdsctl pki init`) and writes FILE\n"
          "with two PEM-armoured OCSP responses (status good, no nonce, nextUpdate in N days,\n"
          "default 7), signed by the root itself. Use FILE as signer.ocsp_files or with\n"
          "`erdsctl evidence verify --ocsp FILE`.",
      .handler = pkiOcsp,
  };
}

}  // namespace erds::ctl::internal
